package audit

import (
	"bytes"
	"errors"
	"sync"
)

// The scanner behind Redact reads the JSON once, checking it as strictly as
// encoding/json does (the same inputs are invalid) while it writes the
// redacted copy to out. Like the walk over json.Decoder.Token it replaced,
// it stops at the first problem in reading order: a value nested deeper
// than maxDepth is reported where it starts, before the comma or colon in
// front of it is checked; a redacted value is skipped whatever its depth.

var (
	errInvalid = errors.New("invalid JSON")
	errTooDeep = errors.New("too deep")
)

var (
	redactedBytes  = []byte(Redacted)
	quotedRedacted = []byte(`"` + Redacted + `"`)
)

// cursor is a path matched up to (not including) segment next.
type cursor struct{ path, next int }

type scanner struct {
	r    *Redactor
	in   []byte
	pos  int
	out  []byte
	str  []byte   // a decoded string
	norm []byte   // a normalized key
	curs []cursor // the cursors of the values being read, a stack
	open []byte   // the closers of the containers skip is in
}

var scanners = sync.Pool{New: func() any { return new(scanner) }}

func newScanner(r *Redactor, in []byte) *scanner {
	s := scanners.Get().(*scanner)
	s.r, s.in, s.pos = r, in, 0
	return s
}

// free returns s to the pool unless it grew too large to keep.
func (s *scanner) free() {
	if cap(s.out)+cap(s.str)+cap(s.norm)+cap(s.open) > 64<<10 {
		return
	}
	*s = scanner{out: s.out[:0], str: s.str[:0], norm: s.norm[:0], curs: s.curs[:0], open: s.open[:0]}
	scanners.Put(s)
}

// redact reads the whole input into s.out.
func (s *scanner) redact() error {
	for i := range s.r.paths {
		s.curs = append(s.curs, cursor{path: i})
	}
	if err := s.value(0, len(s.curs), s.full(0, len(s.curs)), 0); err != nil {
		return err
	}
	if _, err := s.peek(); err == nil {
		return errInvalid // data after the value
	}
	return nil
}

// full reports whether one of the cursors s.curs[lo:hi] matched its whole path.
func (s *scanner) full(lo, hi int) bool {
	for _, c := range s.curs[lo:hi] {
		if c.next == len(s.r.paths[c.path]) {
			return true
		}
	}
	return false
}

// value copies the next value to the output, or skips it and writes
// "[REDACTED]" if redact is set. Its cursors are s.curs[lo:hi]; the caller
// has checked its depth.
func (s *scanner) value(lo, hi int, redact bool, depth int) error {
	if redact {
		s.out = append(s.out, quotedRedacted...)
		return s.skip()
	}
	c, err := s.peek()
	if err != nil {
		return err
	}
	switch c {
	case '{':
		s.pos++
		return s.object(lo, hi, depth)
	case '[':
		s.pos++
		return s.array(lo, hi, depth)
	case '"':
		body, decode, plain, err := s.scanString()
		if err == nil {
			s.appendScrubbed(s.decoded(body, decode), plain)
		}
		return err
	}
	start := s.pos
	if err := s.scalar(); err != nil {
		return err
	}
	s.out = append(s.out, s.in[start:s.pos]...)
	return nil
}

// object reads the members of an object whose '{' has been read.
func (s *scanner) object(lo, hi, depth int) error {
	s.out = append(s.out, '{')
	c, err := s.peek()
	for i := 0; err == nil && c != '}' && c != ']'; i++ {
		if i > 0 {
			if c != ',' {
				return errInvalid
			}
			s.pos++
			s.out = append(s.out, ',')
			if c, err = s.peek(); err != nil {
				return err
			}
		}
		if c != '"' {
			return errInvalid
		}
		if err := s.member(lo, hi, depth+1); err != nil {
			return err
		}
		c, err = s.peek()
	}
	return s.close(c, err, '}')
}

// member reads a key (at s.pos), its colon and its value (at depth) in an
// object with the cursors s.curs[lo:hi].
func (s *scanner) member(lo, hi, depth int) error {
	body, decode, plain, err := s.scanString()
	if err != nil {
		return err
	}
	key := s.decoded(body, decode)
	s.appendScrubbed(key, plain)
	s.out = append(s.out, ':')
	s.norm = appendNormalized(s.norm[:0], key)
	redact := s.r.secretName(s.norm)
	top := len(s.curs)
	for _, c := range s.curs[lo:hi] {
		if path := s.r.paths[c.path]; c.next < len(path) {
			if seg := path[c.next]; string(seg) == "*" || bytes.EqualFold(seg, key) {
				s.curs = append(s.curs, cursor{c.path, c.next + 1})
			}
		}
	}
	redact = redact || s.full(top, len(s.curs))
	if !redact && depth > maxDepth {
		return errTooDeep
	}
	if c, err := s.peek(); err != nil || c != ':' {
		return errInvalid
	}
	s.pos++
	err = s.value(top, len(s.curs), redact, depth)
	s.curs = s.curs[:top]
	return err
}

// array reads the elements of an array whose '[' has been read. Arrays are
// looked through: elements continue the array's paths (which a path
// cannot end on, or the array would have been redacted).
func (s *scanner) array(lo, hi, depth int) error {
	s.out = append(s.out, '[')
	c, err := s.peek()
	for i := 0; err == nil && c != ']' && c != '}'; i++ {
		if depth+1 > maxDepth {
			return errTooDeep
		}
		if i > 0 {
			if c != ',' {
				return errInvalid
			}
			s.pos++
			s.out = append(s.out, ',')
		}
		if err := s.value(lo, hi, false, depth+1); err != nil {
			return err
		}
		c, err = s.peek()
	}
	return s.close(c, err, ']')
}

// close reads closer, which the peek that gave c and err should have found.
func (s *scanner) close(c byte, err error, closer byte) error {
	if err != nil || c != closer {
		return errInvalid
	}
	s.pos++
	s.out = append(s.out, closer)
	return nil
}

// decoded returns the value of the string with the given body, which is
// body itself unless it has escapes or invalid UTF-8 (see scanString).
func (s *scanner) decoded(body []byte, decode bool) []byte {
	if !decode {
		return body
	}
	s.str = appendUnquoted(s.str[:0], body)
	return s.str
}

// appendScrubbed appends the string v with the patterns replaced; plain
// reports that v is written as it is (see scanString).
func (s *scanner) appendScrubbed(v []byte, plain bool) {
	for _, re := range s.r.patterns {
		if re.Match(v) {
			v, plain = re.ReplaceAllLiteral(v, redactedBytes), false
		}
	}
	if plain {
		s.out = append(append(append(s.out, '"'), v...), '"')
		return
	}
	s.out = appendString(s.out, v)
}

// skip consumes the next value, checking it, without recursion: a skipped
// value may nest as deep as the input allows.
func (s *scanner) skip() error {
	s.open = s.open[:0]
	for {
		// A value starts here (in an object: its key and colon are read).
		c, err := s.peek()
		switch {
		case err != nil:
			return err
		case c == '{' || c == '[':
			s.pos++
			s.open = append(s.open, c+2) // '{'+2 is '}', '['+2 is ']'
			if c, err = s.peek(); err != nil || c != s.open[len(s.open)-1] {
				if err := s.skipKey(); err != nil {
					return err
				}
				continue
			}
			// An empty container: closed below.
		default:
			if err := s.scalar(); err != nil {
				return err
			}
		}
		// A value ends here: read the closers after it, then the comma
		// (and key) before the next value.
		for n := len(s.open); ; n-- {
			if n == 0 {
				return nil
			}
			if c, err = s.peek(); err != nil {
				return err
			}
			if c != s.open[n-1] {
				break
			}
			s.pos++
			s.open = s.open[:n-1]
		}
		if c != ',' {
			return errInvalid
		}
		s.pos++
		if err := s.skipKey(); err != nil {
			return err
		}
	}
}

// skipKey reads a key and its colon if skip is in an object.
func (s *scanner) skipKey() error {
	if s.open[len(s.open)-1] != '}' {
		return nil
	}
	if c, err := s.peek(); err != nil || c != '"' {
		return errInvalid
	}
	if _, _, _, err := s.scanString(); err != nil {
		return err
	}
	if c, err := s.peek(); err != nil || c != ':' {
		return errInvalid
	}
	s.pos++
	return nil
}

// peek skips whitespace and returns the next byte; the end of the input is
// an error.
func (s *scanner) peek() (byte, error) {
	for ; s.pos < len(s.in); s.pos++ {
		switch c := s.in[s.pos]; c {
		case ' ', '\t', '\n', '\r':
		default:
			return c, nil
		}
	}
	return 0, errInvalid
}

// scalar reads the string, number, true, false or null at s.pos.
func (s *scanner) scalar() error {
	in := s.in[s.pos:]
	switch {
	case in[0] == '"':
		_, _, _, err := s.scanString()
		return err
	case in[0] == '-' || '0' <= in[0] && in[0] <= '9':
		return s.number()
	case bytes.HasPrefix(in, []byte("true")), bytes.HasPrefix(in, []byte("null")):
		s.pos += 4
	case bytes.HasPrefix(in, []byte("false")):
		s.pos += 5
	default:
		return errInvalid
	}
	return nil
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at s.pos.
// Digits after a leading 0 are invalid here, as after the number.
func (s *scanner) number() error {
	in, i := s.in, s.pos
	if in[i] == '-' {
		i++
	}
	start := i
	i = digits(in, i)
	ok := i > start && (in[start] != '0' || i == start+1)
	if ok && i < len(in) && in[i] == '.' {
		start = i + 1
		i = digits(in, start)
		ok = i > start
	}
	if ok && i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		if i++; i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		start = i
		i = digits(in, start)
		ok = i > start
	}
	if !ok {
		return errInvalid
	}
	s.pos = i
	return nil
}

// digits returns the index of the first byte from i on that is no digit.
func digits(in []byte, i int) int {
	for i < len(in) && '0' <= in[i] && in[i] <= '9' {
		i++
	}
	return i
}
