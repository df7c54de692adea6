package audit

// This file keeps the Redact built on encoding/json's Decoder.Token that
// the scanner in redact_scan.go replaced, unchanged but for renamed
// identifiers, as the oracle of FuzzRedactMatchesOracle and the benchmarks.
// It shares Redacted, the limits and DefaultSecretKeys with the package.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// oracleRedactor is the old Redactor. It removes secrets from a call's
// arguments before they are stored or mirrored. It is safe for concurrent
// use.
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
type oracleRedactor struct {
	keys     []string // normalized
	paths    [][]string
	patterns []*regexp.Regexp
}

// newOracleRedactor returns an oracleRedactor for the default secret keys plus keys, and
// for paths and value patterns (Go regexp syntax).
func newOracleRedactor(keys, paths, patterns []string) (*oracleRedactor, error) {
	r := &oracleRedactor{}
	for _, k := range append(slices.Clone(DefaultSecretKeys), keys...) {
		n := oracleNormalizeKey(k)
		if n == "" {
			return nil, fmt.Errorf("redact key %q: empty", k)
		}
		if !slices.Contains(r.keys, n) {
			r.keys = append(r.keys, n)
		}
	}
	for _, p := range paths {
		segs, err := oracleParsePath(p)
		if err != nil {
			return nil, err
		}
		r.paths = append(r.paths, segs)
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

// oracleParsePath parses a redaction path: "$" or "$.key.key…" with non-empty
// keys ("*" for any key). A "[*]" or "[]" after a key is accepted and
// ignored, since arrays are looked through anyway.
func oracleParsePath(p string) ([]string, error) {
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

// oracleNormalizeKey lower-cases k and drops separators.
func oracleNormalizeKey(k string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', '.', ' ':
			return -1
		}
		return r
	}, strings.ToLower(k))
}

// secretKey reports whether the key names a secret.
func (r *oracleRedactor) secretKey(k string) bool {
	n := oracleNormalizeKey(k)
	for _, s := range r.keys {
		if strings.HasSuffix(n, s) {
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
func (r *oracleRedactor) Redact(raw []byte) string {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return ""
	}
	if len(raw) > maxParseBytes {
		return oracleNote(fmt.Sprintf("[truncated: %d bytes, too large to record]", len(raw)))
	}
	w := oracleWalker{r: r, dec: json.NewDecoder(bytes.NewReader(trimmed))}
	w.dec.UseNumber()
	var cursors []oracleCursor
	for i := range r.paths {
		cursors = append(cursors, oracleCursor{path: i})
	}
	err := w.value(cursors, false, 0)
	if err == nil {
		if _, extra := w.dec.Token(); extra != io.EOF {
			err = errors.New("data after the value")
		}
	}
	switch {
	case errors.Is(err, oracleErrTooDeep):
		return oracleNote(fmt.Sprintf("[arguments nested deeper than %d: %d bytes]", maxDepth, len(raw)))
	case err != nil:
		return oracleNote(fmt.Sprintf("[invalid JSON: %d bytes]", len(raw)))
	}
	if len(w.out) > MaxArgumentsBytes {
		return oracleTruncate(w.out)
	}
	return string(w.out)
}

var oracleErrTooDeep = errors.New("too deep")

// oracleCursor is a path matched up to (not including) segment next.
type oracleCursor struct{ path, next int }

type oracleWalker struct {
	r   *oracleRedactor
	dec *json.Decoder
	out []byte
}

// full reports whether an oracleCursor has matched its whole path.
func (w *oracleWalker) full(cs []oracleCursor) bool {
	for _, c := range cs {
		if c.next == len(w.r.paths[c.path]) {
			return true
		}
	}
	return false
}

// value copies the next value to the output, or skips it and writes
// "[REDACTED]" when redact is set or a path ends here.
func (w *oracleWalker) value(cs []oracleCursor, redact bool, depth int) error {
	if redact || w.full(cs) {
		w.out = oracleAppendString(w.out, Redacted)
		return w.skip()
	}
	if depth > maxDepth {
		return oracleErrTooDeep
	}
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return w.object(cs, depth)
		case '[':
			return w.array(cs, depth)
		}
		return fmt.Errorf("unexpected %v", t)
	case string:
		w.out = oracleAppendString(w.out, w.r.scrub(t))
	case json.Number:
		w.out = append(w.out, t...)
	case bool:
		w.out = fmt.Appendf(w.out, "%t", t)
	case nil:
		w.out = append(w.out, "null"...)
	}
	return nil
}

func (w *oracleWalker) object(cs []oracleCursor, depth int) error {
	w.out = append(w.out, '{')
	for i := 0; w.dec.More(); i++ {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("object key %v", tok)
		}
		if i > 0 {
			w.out = append(w.out, ',')
		}
		w.out = oracleAppendString(w.out, w.r.scrub(key))
		w.out = append(w.out, ':')
		var next []oracleCursor
		for _, c := range cs {
			if c.next < len(w.r.paths[c.path]) {
				if seg := w.r.paths[c.path][c.next]; seg == "*" || strings.EqualFold(seg, key) {
					next = append(next, oracleCursor{c.path, c.next + 1})
				}
			}
		}
		if err := w.value(next, w.r.secretKey(key), depth+1); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil { // '}'
		return err
	}
	w.out = append(w.out, '}')
	return nil
}

func (w *oracleWalker) array(cs []oracleCursor, depth int) error {
	w.out = append(w.out, '[')
	for i := 0; w.dec.More(); i++ {
		if i > 0 {
			w.out = append(w.out, ',')
		}
		// Arrays are looked through: elements continue the same paths.
		if err := w.value(cs, false, depth+1); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil { // ']'
		return err
	}
	w.out = append(w.out, ']')
	return nil
}

// skip consumes the next value without recursion, so that a redacted value
// may nest as deep as the decoder allows.
func (w *oracleWalker) skip() error {
	depth := 0
	for {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// scrub replaces every pattern match in s.
func (r *oracleRedactor) scrub(s string) string {
	for _, re := range r.patterns {
		s = re.ReplaceAllLiteralString(s, Redacted)
	}
	return s
}

// oracleNote is msg as a JSON string.
func oracleNote(msg string) string { return string(oracleAppendString(nil, msg)) }

// oracleTruncate returns a JSON string of at most MaxArgumentsBytes: a marker,
// then as much of the redacted JSON as fits.
func oracleTruncate(redacted []byte) string {
	out := oracleAppendString(nil, fmt.Sprintf("[truncated: %d bytes] ", len(redacted)))
	out = out[:len(out)-1] // reopen the string
	for len(redacted) > 0 {
		r, size := utf8.DecodeRune(redacted)
		next := oracleAppendRune(out, r)
		if len(next)+1 > MaxArgumentsBytes {
			break
		}
		out, redacted = next, redacted[size:]
	}
	return string(append(out, '"'))
}

// oracleAppendString appends s as a JSON string. s is valid UTF-8 here (the
// decoder replaces invalid bytes); any invalid byte becomes U+FFFD.
func oracleAppendString(out []byte, s string) []byte {
	out = append(out, '"')
	for _, r := range s {
		out = oracleAppendRune(out, r)
	}
	return append(out, '"')
}

const oracleHexDigits = "0123456789abcdef"

// oracleAppendRune appends r escaped for the inside of a JSON string.
func oracleAppendRune(out []byte, r rune) []byte {
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
		return append(out, '\\', 'u', oracleHexDigits[r>>12&0xf], oracleHexDigits[r>>8&0xf], oracleHexDigits[r>>4&0xf], oracleHexDigits[r&0xf])
	}
	return utf8.AppendRune(out, r)
}
