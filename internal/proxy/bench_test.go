package proxy

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var callBody = []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"create_issue","arguments":{"repo":"acme/web","title":"Flaky test in CI","body":"` + strings.Repeat("x", 400) + `","labels":["bug","ci"]},"_meta":{"progressToken":"p-1"}}}`)

func BenchmarkParseEnvelope(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(callBody)))
	for b.Loop() {
		if _, err := ParseEnvelope(callBody); err != nil {
			b.Fatal(err)
		}
	}
}

// sseBody is a tool call's answer as an event stream: progress events, then
// the result.
func sseBody(events int) []byte {
	var buf bytes.Buffer
	for i := range events {
		buf.WriteString("event: message\nid: ")
		buf.WriteString(strings.Repeat("1", i%3+1))
		buf.WriteString("\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"p\",\"progress\":1}}\n\n")
	}
	buf.WriteString("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":42,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}}\n\n")
	return buf.Bytes()
}

// BenchmarkSSERelay measures relaying an event stream to the client, with
// and without the tools/list filter in the path.
func BenchmarkSSERelay(b *testing.B) {
	body := sseBody(20)
	p := New(Options{Logger: slog.New(slog.DiscardHandler)})
	for _, filtered := range []bool{false, true} {
		name := "plain"
		if filtered {
			name = "filtered"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, "/mcp/x", nil)
				x := &exchange{w: rec, r: req, ctx: req.Context()}
				if filtered {
					x.filter = func(string) bool { return true }
				}
				resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}},
					Body: io.NopCloser(bytes.NewReader(body))}
				p.relay(x, resp)
				if rec.Body.Len() != len(body) {
					b.Fatalf("relayed %d of %d bytes", rec.Body.Len(), len(body))
				}
			}
		})
	}
}
