package proxy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseEnvelope(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		method string
		id     string
		tool   string
		batch  bool
		code   int // 0: accepted
	}{
		{"request", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, "tools/list", "7", "", false, 0},
		{"string id", `{"jsonrpc":"2.0","id":"a-1","method":"ping"}`, "ping", `"a-1"`, "", false, 0},
		{"tool call", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_issue","arguments":{"title":"x"}}}`, "tools/call", "1", "create_issue", false, 0},
		{"prompt", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"greet"}}`, "prompts/get", "1", "greet", false, 0},
		{"resource", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}}`, "resources/read", "1", "file:///a", false, 0},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "notifications/initialized", "", "", false, 0},
		{"response", `{"jsonrpc":"2.0","id":3,"result":{"content":[]}}`, "", "3", "", false, 0},
		{"unknown fields kept", `{"jsonrpc":"2.0","id":1,"method":"x","_meta":{"a":1},"extra":[1,2]}`, "x", "1", "", false, 0},
		{"leading whitespace", " \n\t{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", "ping", "1", "", false, 0},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"}]`, "ping", "", "", true, 0},
		{"params array", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]}`, "tools/call", "1", "", false, 0},
		{"empty", ``, "", "", "", false, CodeParseError},
		{"truncated", `{"jsonrpc":"2.0",`, "", "", "", false, CodeParseError},
		{"trailing garbage", `{"jsonrpc":"2.0","id":1,"method":"ping"} x`, "", "", "", false, CodeParseError},
		{"number", `42`, "", "", "", false, CodeInvalidRequest},
		{"bad version", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, "", "", "", false, CodeInvalidRequest},
		{"no version", `{"id":1,"method":"ping"}`, "", "", "", false, CodeInvalidRequest},
		{"method not string", `{"jsonrpc":"2.0","id":1,"method":5}`, "", "", "", false, CodeInvalidRequest},
		{"empty method", `{"jsonrpc":"2.0","id":1,"method":""}`, "", "", "", false, CodeInvalidRequest},
		{"tool name not string", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}}`, "", "", "", false, CodeInvalidRequest},
		{"empty batch", `[]`, "", "", "", false, CodeInvalidRequest},
		{"bad batch element", `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"1"}]`, "", "", "", false, CodeInvalidRequest},
		{"invalid utf-8 string", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xffing\"}", "p\ufffding", "1", "", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := ParseEnvelope([]byte(tt.body))
			if tt.code != 0 {
				var ee *errEnvelope
				if !errors.As(err, &ee) || ee.code != tt.code {
					t.Fatalf("got %v, want JSON-RPC code %d", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if env.Method != tt.method || string(env.ID) != tt.id || env.Name != tt.tool || env.Batch != tt.batch {
				t.Errorf("got %+v (id %s)", env, env.ID)
			}
		})
	}
}

func FuzzParseEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":[1,{"y":null}]}}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`,
		`{"jsonrpc":"2.0","id":1,"result":{}}`,
		strings.Repeat("[", 10000),
		`{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}`,
		"\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := ParseEnvelope(body)
		if err != nil {
			var ee *errEnvelope
			if !errors.As(err, &ee) || ee.msg == "" {
				t.Fatalf("error without a JSON-RPC code and message: %v", err)
			}
			return
		}
		if env.Batch && env.ID != nil {
			t.Fatalf("a batch has no single id")
		}
	})
}

// FuzzEnvelopeAgreesWithEncodingJSON checks the hand-written scanner against
// encoding/json: it never accepts what encoding/json rejects, never calls
// valid JSON malformed (short of the depth limit), and reads the same method
// and name.
func FuzzEnvelopeAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a\u00e9","arguments":{"x":[1,2.5e3,-0,true,null]}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"result":{}}]`,
		`{"jsonrpc":"2.0","id":1,"method":"x","METHOD":"y"}`,
		`{"jsonrpc":"2.0","id":"\ud800","method":"a\"b"}`,
		` 1 `, `"x"`, `{}`, `[]`, `{"a":01}`, `{"a":1.}`, `{"a":"\x"}`, "{\"a\":\"\x01\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := ParseEnvelope(body)
		valid := json.Valid(body)
		var ee *errEnvelope
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("error without a code: %v", err)
		}
		if !valid && err == nil {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if valid && err != nil && ee.code == CodeParseError && !strings.Contains(ee.msg, "nested") {
			t.Fatalf("called valid JSON %q malformed: %v", body, err)
		}
		if err != nil || env.Batch {
			return
		}
		var ref struct {
			Method *string `json:"method"`
		}
		if json.Unmarshal(body, &ref) == nil && ref.Method != nil && *ref.Method != env.Method {
			t.Fatalf("method %q, encoding/json reads %q", env.Method, *ref.Method)
		}
	})
}

func TestParseEnvelopeArguments(t *testing.T) {
	for _, tt := range []struct {
		name, body, args string
		refused          bool
	}{
		{"object", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"a":[1,{"b":2}]}}}`, `{"a":[1,{"b":2}]}`, false},
		{"before the name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments": {"a":1} ,"name":"t"}}`, `{"a":1}`, false},
		{"absent", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}`, ``, false},
		{"not an object", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":"x"}}`, `"x"`, false},
		{"prompt", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p","arguments":{"who":"x"}}}`, `{"who":"x"}`, false},
		{"escaped member name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","argument\u0073":{"a":1}}}`, `{"a":1}`, false},
		{"repeated", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{},"arguments":{}}}`, ``, true},
		{"repeated in another case", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{},"ARGUMENTS":{}}}`, ``, true},
		{"other methods are not read", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"arguments":{},"arguments":{}}}`, ``, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, err := ParseEnvelope([]byte(tt.body))
			if tt.refused {
				var ee *errEnvelope
				if !errors.As(err, &ee) || ee.code != CodeInvalidRequest {
					t.Fatalf("got %v, want an invalid-request error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if string(env.Arguments) != tt.args {
				t.Fatalf("arguments %q, want %q", env.Arguments, tt.args)
			}
		})
	}
}
