package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestAuthWatchSeesTheGatewaysUpstreamAuthErrors(t *testing.T) {
	resp := func(status int, ctype, body string) *http.Response {
		h := http.Header{}
		h.Set("Content-Type", ctype)
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body))}
	}
	var w authWatch
	for _, r := range []*http.Response{
		resp(200, "application/json", `{"jsonrpc":"2.0","id":1,"result":{}}`),
		resp(200, "application/json", `{"jsonrpc":"2.0","id":1,"error":{"code":-32053,"message":"m","data":{"reason":"refresh_failing"}}}`),
		resp(200, "text/event-stream", `data: {"error":{"code":-32053,"data":{"reason":"not_connected"}}}`),
		resp(401, "application/json", `{"error":{"code":-32053,"data":{"reason":"not_connected"}}}`),
	} {
		w.observe(r)
		if _, ok := w.take(); ok {
			t.Fatalf("no authorization is needed after %d %s", r.StatusCode, r.Header.Get("Content-Type"))
		}
	}
	body := `{"jsonrpc":"2.0","id":1,"error":{"code":-32053,"message":"not connected","data":{"reason":"step_up_required"}}}`
	r := resp(200, "application/json; charset=utf-8", body)
	w.observe(r)
	if b, _ := io.ReadAll(r.Body); string(b) != body {
		t.Fatalf("the body must be put back: %q", b)
	}
	need, ok := w.take()
	if !ok || need.Reason != "step_up_required" || need.Message != "not connected" {
		t.Fatalf("take: %+v %v", need, ok)
	}
	if _, ok := w.take(); ok {
		t.Fatal("take must clear")
	}
}

func TestPageText(t *testing.T) {
	got := pageText("<html><head><style>h1{x:y}</style></head><body><h1>Authorization failed</h1>\n<p>bad iss</p></body></html>")
	if got != "Authorization failed bad iss" {
		t.Fatalf("%q", got)
	}
}
