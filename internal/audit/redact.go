package audit

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Redacted replaces every redacted value.
const Redacted = "[REDACTED]"

// Limits on what the Redactor records.
const (
	// MaxArgumentsBytes bounds the recorded arguments: larger ones (after
	// redaction) are recorded as a JSON string holding a "[truncated: N
	// bytes] " marker and as much of the redacted JSON as fits.
	MaxArgumentsBytes = 16 << 10
	// maxParseBytes bounds the input the Redactor parses at all; larger
	// arguments are recorded as a note only.
	maxParseBytes = 1 << 20
	// maxDepth bounds nesting: deeper arguments are recorded as a note.
	maxDepth = 64
)

// DefaultSecretKeys are always redacted, whatever is configured.
var DefaultSecretKeys = []string{
	"token", "password", "secret", "authorization", "api_key", "apikey",
	"access_token", "refresh_token", "private_key", "client_secret",
}

// Redactor removes secrets from a call's arguments before they are stored or
// mirrored. It is safe for concurrent use.
//
// A value is replaced by "[REDACTED]", whatever its type, when:
//   - its key is a secret name: ignoring case and the separators '-', '_',
//     '.' and ' ', the key equals or ends with one of DefaultSecretKeys or
//     the configured keys (so "GitHub-Token" and "x_api_key" match "token"
//     and "api_key", while "max_tokens" matches nothing);
//   - its position matches a configured path: "$.payment.card_number"
//     names the key card_number in the object under payment; keys compare
//     ignoring case, "*" matches any key, and arrays on the way are looked
//     through ("$.cards.number" reaches the number of every card); "$" alone
//     redacts everything;
//   - within strings (object keys included) every match of a configured
//     pattern is replaced.
type Redactor struct {
	keys     []string   // normalized
	paths    [][][]byte // segments, compared with bytes.EqualFold
	patterns []*regexp.Regexp
}

// NewRedactor returns a Redactor for the default secret keys plus keys, and
// for paths and value patterns (Go regexp syntax).
func NewRedactor(keys, paths, patterns []string) (*Redactor, error) {
	r := &Redactor{}
	for _, k := range append(slices.Clone(DefaultSecretKeys), keys...) {
		n := normalizeKey(k)
		if n == "" {
			return nil, fmt.Errorf("redact key %q: empty", k)
		}
		if !slices.Contains(r.keys, n) {
			r.keys = append(r.keys, n)
		}
	}
	for _, p := range paths {
		segs, err := ParsePath(p)
		if err != nil {
			return nil, err
		}
		path := make([][]byte, len(segs))
		for i, s := range segs {
			path[i] = []byte(s)
		}
		r.paths = append(r.paths, path)
	}
	for _, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("redact pattern %q: %w", p, err)
		}
		r.patterns = append(r.patterns, re)
	}
	return r, nil
}

// ParsePath parses a redaction path: "$" or "$.key.key…" with non-empty
// keys ("*" for any key). A "[*]" or "[]" after a key is accepted and
// ignored, since arrays are looked through anyway.
func ParsePath(p string) ([]string, error) {
	if p == "$" {
		return []string{}, nil
	}
	rest, ok := strings.CutPrefix(p, "$.")
	if !ok {
		return nil, fmt.Errorf("redact path %q: want $ or $.key.key…", p)
	}
	var segs []string
	for _, s := range strings.Split(rest, ".") {
		s = strings.TrimSuffix(strings.TrimSuffix(s, "[*]"), "[]")
		if s == "" || strings.ContainsAny(s, "[]") {
			return nil, fmt.Errorf("redact path %q: want $ or $.key.key…", p)
		}
		segs = append(segs, s)
	}
	return segs, nil
}

// normalizeKey lower-cases k and drops separators.
func normalizeKey(k string) string {
	return string(appendNormalized(nil, []byte(k)))
}

// appendNormalized appends k lower-cased (as strings.ToLower does, an
// invalid byte becoming U+FFFD) without the separators '-', '_', '.', ' '.
func appendNormalized(dst, k []byte) []byte {
	for i := 0; i < len(k); {
		r, size := rune(k[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(k[i:])
		}
		i += size
		switch r = unicode.ToLower(r); r {
		case '-', '_', '.', ' ':
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}

// secretKey reports whether the key names a secret.
func (r *Redactor) secretKey(k string) bool {
	return r.secretName(appendNormalized(nil, []byte(k)))
}

// secretName reports whether the normalized key n names a secret.
func (r *Redactor) secretName(n []byte) bool {
	for _, s := range r.keys {
		if len(n) >= len(s) && string(n[len(n)-len(s):]) == s {
			return true
		}
	}
	return false
}

// Redact returns raw (a JSON value, usually the arguments object) as
// compact JSON with secrets redacted, keys in their original order. Empty
// (or blank) raw gives "". What cannot be redacted is never returned:
// invalid JSON, too deep or too large input becomes a JSON string note
// such as "[invalid JSON: 12 bytes]", and a result over MaxArgumentsBytes
// is truncated (see MaxArgumentsBytes). The result is always valid JSON or "".
//
// Strings are recorded as encoding/json decodes and this package encodes
// them: escapes are resolved, invalid UTF-8 becomes U+FFFD, and only '"',
// '\\', control characters, U+2028 and U+2029 are escaped (see appendRune).
// Numbers are copied verbatim.
func (r *Redactor) Redact(raw []byte) string {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return ""
	}
	if len(raw) > maxParseBytes {
		return note(fmt.Sprintf("[truncated: %d bytes, too large to record]", len(raw)))
	}
	s := newScanner(r, trimmed)
	defer s.free()
	switch err := s.redact(); err {
	case nil:
	case errTooDeep:
		return note(fmt.Sprintf("[arguments nested deeper than %d: %d bytes]", maxDepth, len(raw)))
	default:
		return note(fmt.Sprintf("[invalid JSON: %d bytes]", len(raw)))
	}
	if len(s.out) > MaxArgumentsBytes {
		return truncate(s.out)
	}
	return string(s.out)
}

// note is msg as a JSON string.
func note(msg string) string { return string(appendString(nil, []byte(msg))) }

// truncate returns a JSON string of at most MaxArgumentsBytes: a marker,
// then as much of the redacted JSON as fits.
func truncate(redacted []byte) string {
	out := appendString(nil, fmt.Appendf(nil, "[truncated: %d bytes] ", len(redacted)))
	out = out[:len(out)-1] // reopen the string
	for len(redacted) > 0 {
		r, size := utf8.DecodeRune(redacted)
		next := appendRune(out, r)
		if len(next)+1 > MaxArgumentsBytes {
			break
		}
		out, redacted = next, redacted[size:]
	}
	return string(append(out, '"'))
}

// plainASCII marks the bytes that stand for themselves inside a JSON string:
// printable ASCII but '"' and '\\'.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string, each invalid byte becoming
// U+FFFD. Runs that need no escaping are copied as they are.
func appendString(out, s []byte) []byte {
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf && plainASCII[c] {
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if (r != utf8.RuneError || size > 1) && r >= utf8.RuneSelf && r != '\u2028' && r != '\u2029' {
			i += size
			continue
		}
		out = appendRune(append(out, s[start:i]...), r)
		i += size
		start = i
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}

const hexDigits = "0123456789abcdef"

// appendRune appends r escaped for the inside of a JSON string.
func appendRune(out []byte, r rune) []byte {
	switch {
	case r == '"' || r == '\\':
		return append(out, '\\', byte(r))
	case r == '\n':
		return append(out, '\\', 'n')
	case r == '\r':
		return append(out, '\\', 'r')
	case r == '\t':
		return append(out, '\\', 't')
	case r < 0x20 || r == '\u2028' || r == '\u2029':
		return append(out, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
	}
	return utf8.AppendRune(out, r)
}

// scanString reads the string at s.pos and returns its body (between the
// quotes). decode reports escapes or invalid UTF-8: then the body is not
// the string's value. plain reports that appendString would write the body
// as it is: no escapes, invalid UTF-8, U+2028 or U+2029.
func (s *scanner) scanString() (body []byte, decode, plain bool, err error) {
	in, sep := s.in, false
	for i := s.pos + 1; i < len(in); {
		switch c := in[i]; {
		case c < utf8.RuneSelf && plainASCII[c]:
			i++
		case c == '"':
			body, s.pos = in[s.pos+1:i], i+1
			return body, decode, !decode && !sep, nil
		case c == '\\':
			n := escapeLen(in[i:])
			if n == 0 {
				return nil, false, false, errInvalid
			}
			decode, i = true, i+n
		case c < ' ':
			return nil, false, false, errInvalid
		default:
			r, size := utf8.DecodeRune(in[i:])
			decode = decode || r == utf8.RuneError && size == 1
			sep = sep || r == '\u2028' || r == '\u2029'
			i += size
		}
	}
	return nil, false, false, errInvalid
}

// appendUnquoted appends the body of a valid JSON string decoded as
// encoding/json does: a surrogate escape that is not half of a pair and
// each byte of invalid UTF-8 become U+FFFD.
func appendUnquoted(dst, body []byte) []byte {
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '\\' && body[i+1] == 'u':
			r := hex4(body[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(body) && body[i] == '\\' && body[i+1] == 'u' {
					if pair := utf16.DecodeRune(r, hex4(body[i+2:])); pair != unicode.ReplacementChar {
						dst = utf8.AppendRune(dst, pair)
						i += 6
						continue
					}
				}
				r = unicode.ReplacementChar
			}
			dst = utf8.AppendRune(dst, r)
		case c == '\\':
			dst = append(dst, unescape[body[i+1]])
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(body[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
		}
	}
	return dst
}

// unescape maps the letter of a one-letter escape to what it stands for,
// other bytes to 0.
var unescape = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// escapeLen returns the length of the valid escape b starts with, or 0.
func escapeLen(b []byte) int {
	switch {
	case len(b) >= 2 && unescape[b[1]] != 0:
		return 2
	case len(b) >= 6 && b[1] == 'u' && hex4(b[2:]) >= 0:
		return 6
	}
	return 0
}

// hex4 returns the value of the 4 hex digits b starts with, or -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
