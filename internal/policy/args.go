package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxArgumentDepth is how deeply ParseArguments lets objects and arrays nest,
// the arguments object itself being depth 1.
const MaxArgumentDepth = 64

// ErrInvalidArguments is wrapped by every ParseArguments error.
var ErrInvalidArguments = errors.New("invalid arguments")

// ParseArguments parses the arguments of a call, which must be one JSON
// object, strictly: duplicate keys at any depth (also keys that differ only
// in letter case, which encoding/json would read as one), invalid UTF-8, escapes of
// unpaired UTF-16 surrogates (which parsers decode differently), nesting
// deeper than MaxArgumentDepth and trailing data are errors wrapping
// ErrInvalidArguments. Empty input (arguments absent) is an empty object;
// null and every other non-object are errors. Numbers are json.Number, so
// their text is kept exactly; conditions see them as doubles. The size limit
// is the caller's.
//
// Otherwise it accepts exactly what encoding/json accepts and decodes
// strings as it does. It is hand-written because json.Decoder.Token, which
// it replaced, allocates per token: six times slower on typical arguments.
func ParseArguments(raw []byte) (map[string]any, error) {
	if len(raw) == 0 {
		return map[string]any{}, nil
	}
	// Checked once here, so that strings can be copied without decoding.
	if !utf8.Valid(raw) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrInvalidArguments)
	}
	p := argParser{raw: raw}
	p.skipSpace()
	if p.i == len(raw) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArguments, io.EOF)
	}
	if raw[p.i] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidArguments)
	}
	m, err := p.object(1)
	if err != nil {
		return nil, err
	}
	if p.skipSpace(); p.i != len(raw) {
		return nil, fmt.Errorf("%w: data after the object", ErrInvalidArguments)
	}
	return m, nil
}

// foldedDuplicate finds two keys of m that are equal ignoring letter case.
// encoding/json matches member names to struct fields that way, last one
// winning, so an upstream could read "Repo" where the rule read "repo".
func foldedDuplicate(m map[string]any) (string, string, bool) {
	if len(m) < 2 {
		return "", "", false
	}
	if len(m) <= 8 {
		// Few keys: compare them pairwise. Keys of different lengths can
		// only fold together through non-ASCII letters (K and KELVIN SIGN).
		var keys [8]string
		var ascii [8]bool
		n := 0
		for k := range m {
			keys[n], ascii[n] = k, isASCII(k)
			n++
		}
		for i := range n {
			for j := i + 1; j < n; j++ {
				a, b := keys[i], keys[j]
				if (len(a) == len(b) || !ascii[i] || !ascii[j]) && strings.EqualFold(a, b) {
					return min(a, b), max(a, b), true
				}
			}
		}
		return "", "", false
	}
	seen := make(map[string]string, len(m))
	for k := range m {
		f := foldKey(k)
		if other, dup := seen[f]; dup {
			return min(k, other), max(k, other), true
		}
		seen[f] = k
	}
	return "", "", false
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// foldKey maps every rune of k to the least rune it equals under Unicode
// simple case folding: foldKey(a) == foldKey(b) exactly when
// strings.EqualFold(a, b).
func foldKey(k string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, k)
}

// argParser is a recursive-descent JSON parser over valid UTF-8.
type argParser struct {
	raw   []byte
	i     int    // next byte to read
	elems []any  // elements of the arrays being read, innermost last
	buf   []byte // scratch for strings with escapes
}

func (p *argParser) skipSpace() {
	for p.i < len(p.raw) {
		switch p.raw[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// object reads an object at depth whose '{' is at p.i.
func (p *argParser) object(depth int) (map[string]any, error) {
	m := map[string]any{}
	p.i++
	p.skipSpace()
	if p.i < len(p.raw) && p.raw[p.i] == '}' {
		p.i++
		return m, nil
	}
	for {
		if p.i >= len(p.raw) || p.raw[p.i] != '"' {
			return nil, p.syntaxError("looking for beginning of object key string")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("%w: duplicate key %q", ErrInvalidArguments, key)
		}
		p.skipSpace()
		if p.i >= len(p.raw) || p.raw[p.i] != ':' {
			return nil, p.syntaxError("after object key")
		}
		p.i++
		p.skipSpace()
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		m[key] = v
		p.skipSpace()
		if p.i < len(p.raw) {
			switch p.raw[p.i] {
			case ',':
				p.i++
				p.skipSpace()
				continue
			case '}':
				p.i++
				if a, b, ok := foldedDuplicate(m); ok {
					return nil, fmt.Errorf("%w: keys %q and %q differ only in letter case", ErrInvalidArguments, a, b)
				}
				return m, nil
			}
		}
		return nil, p.syntaxError("after object key:value pair")
	}
}

// array reads an array at depth whose '[' is at p.i. The elements gather on
// p.elems, shared by all arrays, and are copied once into a slice of the
// right size.
func (p *argParser) array(depth int) ([]any, error) {
	p.i++
	p.skipSpace()
	if p.i < len(p.raw) && p.raw[p.i] == ']' {
		p.i++
		return []any{}, nil
	}
	base := len(p.elems)
	for {
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		if p.elems == nil {
			p.elems = make([]any, 0, 16) // one allocation for most calls
		}
		p.elems = append(p.elems, v)
		p.skipSpace()
		if p.i < len(p.raw) {
			switch p.raw[p.i] {
			case ',':
				p.i++
				p.skipSpace()
				continue
			case ']':
				p.i++
				l := make([]any, len(p.elems)-base)
				copy(l, p.elems[base:])
				p.elems = p.elems[:base]
				return l, nil
			}
		}
		return nil, p.syntaxError("after array element")
	}
}

// value reads a value, at p.i, inside a container at depth.
func (p *argParser) value(depth int) (any, error) {
	if p.i >= len(p.raw) {
		return nil, p.syntaxError("")
	}
	switch c := p.raw[p.i]; c {
	case '{', '[':
		if depth >= MaxArgumentDepth {
			return nil, fmt.Errorf("%w: nested deeper than %d", ErrInvalidArguments, MaxArgumentDepth)
		}
		if c == '{' {
			m, err := p.object(depth + 1)
			if err != nil {
				return nil, err
			}
			return m, nil
		}
		l, err := p.array(depth + 1)
		if err != nil {
			return nil, err
		}
		return l, nil
	case '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return s, nil
	case 't':
		return true, p.literal("true")
	case 'f':
		return false, p.literal("false")
	case 'n':
		return nil, p.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return p.number()
	}
	return nil, p.syntaxError("looking for beginning of value")
}

func (p *argParser) literal(word string) error {
	for k := range len(word) {
		if p.i >= len(p.raw) || p.raw[p.i] != word[k] {
			return p.syntaxError(fmt.Sprintf("in literal %s (expecting %q)", word, word[k]))
		}
		p.i++
	}
	return nil
}

// number reads a number, checking it against the JSON grammar; its text is
// kept as it is.
func (p *argParser) number() (any, error) {
	start := p.i
	if p.raw[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.raw) && p.raw[p.i] == '0':
		p.i++ // no leading zeros: "01" is 0 followed by a stray 1
	case p.digits() == 0:
		return nil, p.syntaxError("in numeric literal")
	}
	if p.i < len(p.raw) && p.raw[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return nil, p.syntaxError("after decimal point in numeric literal")
		}
	}
	if p.i < len(p.raw) && (p.raw[p.i] == 'e' || p.raw[p.i] == 'E') {
		p.i++
		if p.i < len(p.raw) && (p.raw[p.i] == '+' || p.raw[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return nil, p.syntaxError("in exponent of numeric literal")
		}
	}
	return json.Number(p.raw[start:p.i]), nil
}

// digits skips decimal digits and returns how many.
func (p *argParser) digits() int {
	start := p.i
	for p.i < len(p.raw) && p.raw[p.i] >= '0' && p.raw[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}

// str reads a string whose '"' is at p.i.
func (p *argParser) str() (string, error) {
	start := p.i + 1
	for j := start; j < len(p.raw); j++ {
		switch c := p.raw[j]; {
		case c == '"':
			p.i = j + 1
			return string(p.raw[start:j]), nil
		case c == '\\':
			return p.escapedStr(start, j)
		case c < 0x20:
			p.i = j
			return "", p.syntaxError("in string literal")
		}
	}
	p.i = len(p.raw)
	return "", p.syntaxError("")
}

// escapedStr finishes reading the string begun at start whose first escape
// is at j, decoding as encoding/json does but refusing unpaired surrogates:
// encoding/json turns them into U+FFFD silently, while the upstream server
// may not, and a policy must see the string the server will.
func (p *argParser) escapedStr(start, j int) (string, error) {
	raw := p.raw
	b := append(p.buf[:0], raw[start:j]...)
	for j < len(raw) {
		switch c := raw[j]; {
		case c == '"':
			p.i, p.buf = j+1, b
			return string(b), nil
		case c < 0x20:
			p.i = j
			return "", p.syntaxError("in string literal")
		case c != '\\':
			b = append(b, c)
			j++
			continue
		}
		if j++; j >= len(raw) {
			break
		}
		switch c := raw[j]; c {
		case '"', '\\', '/':
			b = append(b, c)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, n := hex4(raw[j+1:])
			if n < 4 {
				p.i = j + 1 + n
				return "", p.syntaxError(`in \u hexadecimal character escape`)
			}
			j += 4
			if utf16.IsSurrogate(r) {
				lo, n := rune(0), 0
				if r < 0xDC00 && j+2 < len(raw) && raw[j+1] == '\\' && raw[j+2] == 'u' {
					lo, n = hex4(raw[j+3:])
				}
				if n < 4 || lo < 0xDC00 || lo > 0xDFFF {
					return "", fmt.Errorf("%w: unpaired surrogate escape \\u%04x", ErrInvalidArguments, r)
				}
				r = utf16.DecodeRune(r, lo)
				j += 6
			}
			b = utf8.AppendRune(b, r)
		default:
			p.i = j
			return "", p.syntaxError("in string escape code")
		}
		j++
	}
	p.i = len(raw)
	return "", p.syntaxError("")
}

// hex4 decodes the four hex digits b should start with, returning how many
// of them it found.
func hex4(b []byte) (rune, int) {
	var r rune
	for n := range 4 {
		if n >= len(b) {
			return 0, n
		}
		c := b[n]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, n
		}
		r = r<<4 | rune(c)
	}
	return r, 4
}

// syntaxError says what is wrong at p.i, in encoding/json's words.
func (p *argParser) syntaxError(context string) error {
	if p.i >= len(p.raw) {
		return fmt.Errorf("%w: %w", ErrInvalidArguments, io.ErrUnexpectedEOF)
	}
	r, _ := utf8.DecodeRune(p.raw[p.i:])
	return fmt.Errorf("%w: invalid character %q %s", ErrInvalidArguments, r, context)
}
