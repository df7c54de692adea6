package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
)

// sdkUpstream is a real Go SDK MCP server with an echo tool and a tool that
// streams progress before answering.
func sdkUpstream(t testing.TB, stateless bool) *httptest.Server {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "upstream", Version: "1"}, nil)
	type echoArgs struct {
		Text string `json:"text"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echo text"}, func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo: " + a.Text}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "count", Description: "reports progress 1..3"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		for i := 1; i <= 3; i++ {
			if tok := req.Params.GetProgressToken(); tok != nil {
				req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i), Total: 3})
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "counted"}}}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: stateless}))
	t.Cleanup(srv.Close)
	return srv
}

// bearerClient adds a grant token to every request.
type bearerClient struct {
	token string
	base  http.RoundTripper
}

func (b bearerClient) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

func connect(t testing.TB, url, token string) (*mcp.ClientSession, error) {
	return connectWith(t, url, token, nil)
}

func connectWith(t testing.TB, url, token string, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, opts)
	return c.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   url,
		HTTPClient: &http.Client{Transport: bearerClient{token, http.DefaultTransport}},
	}, nil)
}

func callEcho(t *testing.T, cs *mcp.ClientSession, text string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
	if err != nil {
		return "", err
	}
	return res.Content[0].(*mcp.TextContent).Text, nil
}

func TestSDKClientThroughGateway(t *testing.T) {
	forEachStore(t, func(t *testing.T, pg bool) { testSDKClientThroughGateway(t, pg) })
}

func testSDKClientThroughGateway(t *testing.T, pg bool) {
	for _, stateless := range []bool{false, true} {
		t.Run(fmt.Sprintf("stateless=%v", stateless), func(t *testing.T) {
			gw := newGateway(t, gatewayOptions{postgres: pg})
			gw.addServer("everything", sdkUpstream(t, stateless).URL, nil)
			gr := gw.grant("alice", "", "everything")
			for _, path := range []string{"", "/"} {
				var progress atomic.Int32
				cs, err := connectWith(t, gw.mcpURL("everything")+path, gr.Token, &mcp.ClientOptions{
					ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { progress.Add(1) },
				})
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				tools, err := cs.ListTools(context.Background(), nil)
				if err != nil || len(tools.Tools) != 2 {
					t.Fatalf("list tools: %v %v", tools, err)
				}
				got, err := callEcho(t, cs, "hi")
				if err != nil || got != "echo: hi" {
					t.Fatalf("call: %q %v", got, err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				params := &mcp.CallToolParams{Name: "count"}
				params.SetProgressToken("p1")
				res, err := cs.CallTool(ctx, params)
				cancel()
				if err != nil || res.Content[0].(*mcp.TextContent).Text != "counted" {
					t.Fatalf("streaming call: %v %v", res, err)
				}
				// Notifications are handled asynchronously by the client.
				for deadline := time.Now().Add(2 * time.Second); progress.Load() < 3 && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
				}
				if n := progress.Load(); n != 3 {
					t.Errorf("progress notifications relayed: %d, want 3", n)
				}
				cs.Close()
			}
			if log := gw.logText(); strings.Contains(log, gr.Token) || !strings.Contains(log, "tool=echo") {
				t.Errorf("log must name the tool and never the token:\n%s", log)
			}
		})
	}
}

func TestRevokedGrantRefusedOnNextCall(t *testing.T) {
	forEachStore(t, testRevokedGrantRefusedOnNextCall)
}

func testRevokedGrantRefusedOnNextCall(t *testing.T, pg bool) {
	gw := newGateway(t, gatewayOptions{postgres: pg})
	gw.addServer("everything", sdkUpstream(t, false).URL, nil)
	gr := gw.grant("alice", "", "everything")
	cs, err := connect(t, gw.mcpURL("everything"), gr.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := callEcho(t, cs, "before"); err != nil {
		t.Fatal(err)
	}
	gw.revoke(gr.ID)
	// The SDK client reports the status text; TestGrantRefusals checks the body.
	if _, err := callEcho(t, cs, "after"); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("call after revoke: want 401 Unauthorized, got %v", err)
	}
}

func TestGrantRefusals(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	gw := newGateway(t, gatewayOptions{now: func() time.Time { return clock() }})
	up := sdkUpstream(t, false)
	gw.addServer("a", up.URL, nil)
	gw.addServer("b", up.URL, nil)
	good := gw.grant("alice", "", "a")
	revoked := gw.grant("alice", "", "a")
	gw.revoke(revoked.ID)
	expiring := gw.grant("alice", "1h", "a")
	clock = func() time.Time { return now.Add(2 * time.Hour) }
	// Flip one character of the random part: the checksum no longer matches.
	b := []byte(good.Token)
	if b[10] == 'a' {
		b[10] = 'b'
	} else {
		b[10] = 'a'
	}
	forged := string(b)
	unknown, _ := mcpgate.NewGrantToken() // well-formed, never stored

	tests := []struct {
		name, server, token, want string
	}{
		{"missing", "a", "", "no grant token"},
		{"garbage", "a", "hello", "malformed"},
		{"forged checksum", "a", forged, "malformed"},
		{"unknown", "a", unknown, "not known"},
		{"revoked", "a", revoked.Token, "revoked"},
		{"expired", "a", expiring.Token, "expired"},
		{"wrong server", "b", good.Token, "does not cover"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := gw.post(tt.server, tt.token, initBody, nil)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			wa := resp.Header.Get("WWW-Authenticate")
			if !strings.Contains(wa, `error="invalid_token"`) || strings.Contains(wa, "resource_metadata") {
				t.Errorf("WWW-Authenticate %q: want invalid_token and no resource_metadata", wa)
			}
			if _, msg := rpcError(t, resp); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not say %q", msg, tt.want)
			}
		})
	}
	if resp := gw.post("a", good.Token, initBody, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("good grant: status %d", resp.StatusCode)
	}
}

func TestBadInput(t *testing.T) {
	gw := newGateway(t, gatewayOptions{maxBody: 1024})
	gw.addServer("a", sdkUpstream(t, false).URL, nil)
	tok := gw.grant("alice", "", "a").Token

	tests := []struct {
		name     string
		server   string
		body     string
		hdr      map[string]string
		status   int
		code     int
		contains string
	}{
		{"malformed JSON", "a", `{"jsonrpc":"2.0",`, nil, 400, -32700, "not valid JSON"},
		{"not an object", "a", `42`, nil, 400, -32600, "JSON object"},
		{"wrong jsonrpc version", "a", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, nil, 400, -32600, `"2.0"`},
		{"batch on 2025-06-18", "a", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, map[string]string{"MCP-Protocol-Version": "2025-06-18"}, 400, -32600, "batches"},
		{"body over limit", "a", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"` + strings.Repeat("x", 2000) + `"}}`, nil, 413, -32600, "limit"},
		{"unknown server", "nope", initBody, nil, 404, -32600, `unknown server "nope"`},
		{"other site's Origin", "a", initBody, map[string]string{"Origin": "https://evil.example"}, 403, -32600, "Origin"},
		{"Mcp-Method mismatch", "a", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, map[string]string{"Mcp-Method": "tools/call"}, 400, -32020, "does not match"},
		{"session of nobody", "a", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, map[string]string{"Mcp-Session-Id": "made-up"}, 404, -32051, "session not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := gw.post(tt.server, tok, tt.body, tt.hdr)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			code, msg := rpcError(t, resp)
			if code != tt.code || !strings.Contains(msg, tt.contains) {
				t.Errorf("error %d %q, want %d containing %q", code, msg, tt.code, tt.contains)
			}
		})
	}
}

func TestSessionBoundToGrant(t *testing.T) {
	forEachStore(t, testSessionBoundToGrant)
}

func testSessionBoundToGrant(t *testing.T, pg bool) {
	gw := newGateway(t, gatewayOptions{postgres: pg})
	gw.addServer("a", sdkUpstream(t, false).URL, nil)
	alice := gw.grant("alice", "", "a").Token
	mallory := gw.grant("mallory", "", "a").Token

	resp := gw.post("a", alice, initBody, nil)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, sid)
	}
	ping := `{"jsonrpc":"2.0","id":2,"method":"ping"}`
	hdr := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
	if resp := gw.post("a", mallory, ping, hdr); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another grant using the session: status %d, want 404", resp.StatusCode)
	}
	if resp := gw.post("a", alice, ping, hdr); resp.StatusCode != http.StatusOK {
		t.Fatalf("owner using the session: status %d, want 200", resp.StatusCode)
	}
	// DELETE ends the session upstream and forgets the binding.
	req, _ := http.NewRequest("DELETE", gw.mcpURL("a"), nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	dresp, err := http.DefaultClient.Do(req)
	if err != nil || dresp.StatusCode/100 != 2 {
		t.Fatalf("delete: %v %v", dresp, err)
	}
	dresp.Body.Close()
	if resp := gw.post("a", alice, ping, hdr); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("ended session: status %d, want 404", resp.StatusCode)
	}
}

// headerUpstream records what it receives and answers with a fixed result.
func TestHeadersForwardedAndStripped(t *testing.T) {
	var got http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "upstream=1")
		w.Header().Set("X-Upstream", "yes")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	defer up.Close()
	gw := newGateway(t, gatewayOptions{})
	gw.addServer("a", up.URL, map[string]string{"X-Api-Key": "sekret-upstream-key"})
	tok := gw.grant("alice", "", "a").Token
	resp := gw.post("a", tok, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`, map[string]string{
		"Cookie": "session=client", "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
		"Mcp-Name": "x", "Mcp-Param-Region": "eu", "Last-Event-ID": "7", "Mcp-Session-Id": "",
	})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, h := range []string{"Authorization", "Cookie"} {
		if v := got.Get(h); v != "" {
			t.Errorf("%s reached the upstream: %q", h, v)
		}
	}
	for h, want := range map[string]string{
		"X-Api-Key": "sekret-upstream-key", "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
		"Mcp-Name": "x", "Mcp-Param-Region": "eu", "Last-Event-Id": "7", "Accept": "application/json, text/event-stream",
	} {
		if v := got.Get(h); v != want {
			t.Errorf("upstream got %s=%q, want %q", h, v, want)
		}
	}
	if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Upstream") != "yes" {
		t.Errorf("response headers: %v", resp.Header)
	}
	var servers struct{ Servers []struct{ Headers []string } }
	gw.admin("GET", "/api/v1/servers", nil, &servers)
	if len(servers.Servers) != 1 || servers.Servers[0].Headers[0] != "X-Api-Key" {
		t.Errorf("server list: %+v", servers)
	}
	if strings.Contains(gw.logText(), "sekret") {
		t.Errorf("a header value reached the log")
	}
}

func TestUpstreamFailures(t *testing.T) {
	// A port with nothing listening.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + l.Addr().String()
	l.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	resetMidStream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n")
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}))
	defer resetMidStream.Close()

	gw := newGateway(t, gatewayOptions{upstreamTimeout: 300 * time.Millisecond})
	gw.addServer("dead", deadURL, nil)
	gw.addServer("slow", slow.URL, nil)
	gw.addServer("reset", resetMidStream.URL, nil)
	tok := gw.grant("alice", "", "dead", "slow", "reset").Token

	for _, tt := range []struct {
		server string
		status int
		says   string
	}{
		{"dead", 502, `upstream server "dead" is unreachable`},
		{"slow", 504, `upstream server "slow" did not answer in time`},
	} {
		resp := gw.post(tt.server, tok, initBody, nil)
		if resp.StatusCode != tt.status {
			t.Fatalf("%s: status %d, want %d", tt.server, resp.StatusCode, tt.status)
		}
		if _, msg := rpcError(t, resp); !strings.Contains(msg, tt.says) {
			t.Errorf("%s: message %q", tt.server, msg)
		}
	}

	resp := gw.post("reset", tok, initBody, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("reset: status %d", resp.StatusCode)
	}
	rd := bufio.NewReader(resp.Body)
	first, _ := rd.ReadString('\n')
	if !strings.HasPrefix(first, "event: message") {
		t.Fatalf("first event line %q", first)
	}
	if _, err := io.ReadAll(rd); err == nil {
		t.Fatalf("a stream cut upstream must end with an error downstream, not a clean EOF")
	}
	// The gateway stays healthy.
	hr, err := http.Get(gw.srv.URL + "/healthz")
	if err != nil || hr.StatusCode != 200 {
		t.Fatalf("healthz after reset: %v %v", hr, err)
	}
}
