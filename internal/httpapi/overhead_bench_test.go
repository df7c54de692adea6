package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
)

// cannedAnswer is what cannedUpstream answers every POST with: one SSE event
// holding a tools/call result.
const cannedAnswer = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}}\n\n"

// cannedUpstream answers without doing any work, so that a benchmark
// measures the path to it.
func cannedUpstream(b *testing.B) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		io.WriteString(w, cannedAnswer)
	}))
	b.Cleanup(up.Close)
	return up
}

// postCalls posts body to target from b's parallel goroutines and checks
// that each call got cannedAnswer's result.
func postCalls(b *testing.B, client *http.Client, target, token string, body []byte) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", target, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("MCP-Protocol-Version", "2025-11-25")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Contains(got, []byte(`"text":"ok"`)) {
				b.Errorf("status %d: %s", resp.StatusCode, got)
				return
			}
		}
	})
}

// BenchmarkProxyOverhead isolates the proxy: a canned upstream answers a
// tools/call with one SSE event, and the same client posts the same body
// straight to it, through a bare httputil.ReverseProxy and through the
// gateway (grant check, envelope scan, session lookup, metrics and log line).
func BenchmarkProxyOverhead(b *testing.B) {
	up := cannedUpstream(b)
	gw := newGateway(b, gatewayOptions{})
	gw.addServer("canned", up.URL, nil)
	tok := gw.grant("bench", "", "canned").Token
	target, _ := url.Parse(up.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	rp.FlushInterval = -1
	bare := httptest.NewServer(rp)
	b.Cleanup(bare.Close)

	body := []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"test_simple_text","arguments":{}}}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	for _, tc := range []struct{ name, url string }{
		{"direct", up.URL}, {"reverseproxy", bare.URL}, {"gateway", gw.mcpURL("canned")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			postCalls(b, client, tc.url, tok, body)
		})
	}
}
