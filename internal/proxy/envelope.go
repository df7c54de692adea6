package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Envelope is the little the proxy reads of a JSON-RPC message: enough to
// route, log and (later) apply policy. The body itself is forwarded as is.
type Envelope struct {
	Batch  bool
	Method string          // of the single message, or the first of a batch
	ID     json.RawMessage // nil for notifications and batches
	// Name is params.name for tools/call and prompts/get, params.uri for
	// resources/read.
	Name string
	// Arguments is the raw params.arguments of tools/call and prompts/get
	// (nil when absent), a slice of the body.
	Arguments []byte
}

// JSON-RPC error codes used by the gateway.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeInternal       = -32603
	// CodeHeaderMismatch is the 2026-07-28 code for a header that disagrees with the body.
	CodeHeaderMismatch = -32020
	// CodeUpstream is the gateway's code for an upstream that failed.
	CodeUpstream = -32050
	// CodeSession is the gateway's code for an unknown or foreign session.
	CodeSession = -32051
)

// errEnvelope carries a JSON-RPC code along with a user-facing message.
type errEnvelope struct {
	code int
	msg  string
}

func (e *errEnvelope) Error() string { return e.msg }

// ParseEnvelope reads the envelope of a POST body in one validating pass
// (scan.go): the whole body must be valid JSON, but only jsonrpc, method,
// id and, for tools/call, prompts/get and resources/read, params.name or
// params.uri are decoded. Member names are matched case-insensitively, as
// encoding/json does, and a repeated one is refused, so the gateway and the
// upstream cannot read different methods or names from one message.
func ParseEnvelope(body []byte) (Envelope, error) {
	s := &jscan{b: body}
	s.ws()
	if s.i >= len(body) {
		return Envelope{}, &errEnvelope{CodeParseError, "empty request body: expected a JSON-RPC message"}
	}
	var env Envelope
	var err error
	switch body[s.i] {
	case '{':
		env, err = s.message()
	case '[':
		first, empty := true, true
		var sem error
		err = s.array(0, func() error {
			empty = false
			if s.i >= len(body) || body[s.i] != '{' {
				if sem == nil {
					sem = &errEnvelope{CodeInvalidRequest, "a JSON-RPC batch must contain objects"}
				}
				return s.value(1)
			}
			m, msem, merr := s.messageParts()
			if msem != nil && sem == nil {
				sem = msem
			}
			if merr == nil && msem == nil && first {
				env, first = m, false
			}
			return merr
		})
		if err == nil && sem != nil {
			err = sem
		}
		if err == nil && empty {
			err = &errEnvelope{CodeInvalidRequest, "empty JSON-RPC batch"}
		}
		env.Batch, env.ID, env.Name = true, nil, ""
	default:
		if verr := s.value(0); verr != nil {
			return Envelope{}, parseError(verr)
		}
		err = &errEnvelope{CodeInvalidRequest, "a JSON-RPC message must be a JSON object"}
	}
	if err == nil {
		s.ws()
		if s.i != len(body) {
			err = errSyntax
		}
	}
	if err != nil {
		return Envelope{}, parseError(err)
	}
	return env, nil
}

func parseError(err error) error {
	var ee *errEnvelope
	switch {
	case errors.As(err, &ee):
		return ee
	case errors.Is(err, errTooDeep):
		return &errEnvelope{CodeParseError, "request body is nested too deeply"}
	}
	return &errEnvelope{CodeParseError, "request body is not valid JSON"}
}

func invalid(format string, args ...any) error {
	return &errEnvelope{CodeInvalidRequest, "invalid JSON-RPC message: " + fmt.Sprintf(format, args...)}
}

// message reads one JSON-RPC message object at s. A syntax error anywhere
// wins over a semantic one, so malformed input is always a parse error.
func (s *jscan) message() (Envelope, error) {
	env, sem, err := s.messageParts()
	if err != nil {
		return Envelope{}, err
	}
	if sem != nil {
		return Envelope{}, sem
	}
	return env, nil
}

func (s *jscan) messageParts() (env Envelope, sem, syntax error) {
	var version string
	var seen [4]bool // jsonrpc, method, id, params
	hasMethod := false
	paramsStart, paramsEnd := -1, -1
	note := func(err error) {
		if sem == nil {
			sem = err
		}
	}
	once := func(i int, name string) {
		if seen[i] {
			note(invalid("member %q appears twice", name))
		}
		seen[i] = true
	}
	err := s.object(0, func(key []byte, escaped bool) error {
		k := key
		if escaped {
			k = []byte(text(key, true))
		}
		s.ws()
		switch {
		case bytes.EqualFold(k, []byte("jsonrpc")):
			once(0, "jsonrpc")
			if s.i >= len(s.b) || s.b[s.i] != '"' {
				note(invalid(`"jsonrpc" must be "2.0"`))
				return s.value(1)
			}
			raw, esc, err := s.str()
			version = text(raw, esc)
			return err
		case bytes.EqualFold(k, []byte("method")):
			once(1, "method")
			switch {
			case s.i < len(s.b) && s.b[s.i] == '"':
				raw, esc, err := s.str()
				env.Method, hasMethod = text(raw, esc), true
				return err
			case s.i < len(s.b) && s.b[s.i] == 'n':
				return s.lit("null")
			}
			note(invalid("field method has the wrong type"))
			return s.value(1)
		case bytes.EqualFold(k, []byte("id")):
			once(2, "id")
			start := s.i
			if err := s.value(1); err != nil {
				return err
			}
			env.ID = json.RawMessage(s.b[start:s.i])
			return nil
		case bytes.EqualFold(k, []byte("params")):
			once(3, "params")
			paramsStart = s.i
			if err := s.value(1); err != nil {
				return err
			}
			paramsEnd = s.i
			return nil
		}
		return errSkip
	})
	if err != nil {
		return Envelope{}, nil, err
	}
	if sem != nil {
		return Envelope{}, sem, nil
	}
	if version != "2.0" {
		return Envelope{}, invalid(`"jsonrpc" must be "2.0"`), nil
	}
	if !hasMethod {
		return env, nil, nil // a response to a server-to-client request
	}
	if env.Method == "" {
		return Envelope{}, invalid("empty method"), nil
	}
	switch env.Method {
	case "tools/call", "prompts/get", "resources/read":
		if paramsStart >= 0 && s.b[paramsStart] == '{' {
			member := "name"
			if env.Method == "resources/read" {
				member = "uri"
			}
			name, args, err := paramMembers(s.b[paramsStart:paramsEnd], member)
			if err != nil {
				return Envelope{}, err, nil
			}
			env.Name, env.Arguments = name, args
		}
	}
	return env, nil, nil
}

// paramMembers reads params.<member> (a string, or absent) and the raw
// params.arguments. Both are matched case-insensitively and refused when
// repeated, as the top-level members are: an upstream decoding with
// encoding/json would read the last of "arguments" and "Arguments", so the
// policy must never see a different one.
func paramMembers(params []byte, member string) (string, []byte, error) {
	ps := &jscan{b: params}
	var out string
	var args []byte
	found, foundArgs := false, false
	err := ps.object(1, func(key []byte, escaped bool) error {
		k := key
		if escaped {
			k = []byte(text(key, true))
		}
		if bytes.EqualFold(k, []byte("arguments")) {
			if foundArgs {
				return invalid("member params.arguments appears twice")
			}
			foundArgs = true
			ps.ws()
			start := ps.i
			if err := ps.value(2); err != nil {
				return err
			}
			args = ps.b[start:ps.i]
			return nil
		}
		if !bytes.EqualFold(k, []byte(member)) {
			return errSkip
		}
		if found {
			return invalid("member params.%s appears twice", member)
		}
		found = true
		ps.ws()
		if ps.i < len(ps.b) && ps.b[ps.i] == '"' {
			raw, esc, err := ps.str()
			out = text(raw, esc)
			return err
		}
		if ps.i < len(ps.b) && ps.b[ps.i] == 'n' {
			return ps.lit("null")
		}
		if err := ps.value(2); err != nil {
			return err
		}
		return invalid("field params.%s has the wrong type", member)
	})
	return out, args, err
}
