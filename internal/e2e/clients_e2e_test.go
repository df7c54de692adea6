package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/e2e/gatewaytest"
)

// clientKind is one real MCP client implementation.
type clientKind struct {
	name string
	// connect starts the client, connects it to url with the grant token and
	// asks for log messages at level info.
	connect func(ctx context.Context, t testing.TB, url, token string) (mcpClient, error)
	// statelessOnly marks a client that cannot work with the stateful
	// everything-server at all, even directly.
	statelessOnly bool
	// version is the protocol version the client must end up speaking with
	// a stateful and a stateless upstream ("" = not checked). The
	// everything-server speaks 2026-07-28 only in stateless mode.
	version [2]string
}

var clientKinds = []clientKind{
	{
		name: "go-sdk",
		connect: func(ctx context.Context, _ testing.TB, url, token string) (mcpClient, error) {
			return connectGo(ctx, url, token, "")
		},
		version: [2]string{legacyVersion, "2026-07-28"},
	},
	{
		name: "go-sdk-legacy",
		connect: func(ctx context.Context, _ testing.TB, url, token string) (mcpClient, error) {
			return connectGo(ctx, url, token, legacyVersion)
		},
		version: [2]string{legacyVersion, legacyVersion},
	},
	{
		name: "ts-sdk",
		connect: func(ctx context.Context, t testing.TB, url, token string) (mcpClient, error) {
			return startTS(ctx, t, url, token)
		},
	},
	{
		name: "mcp-remote",
		connect: func(ctx context.Context, t testing.TB, url, token string) (mcpClient, error) {
			return startRemote(ctx, t, url, token)
		},
	},
	{
		// mcp-remote as a dual-era client: it probes with server/discover
		// and speaks 2026-07-28 to an upstream that answers it, while its
		// stdio side stays legacy. Against the legacy-only stateful
		// everything-server, mcp-remote 0.15.1 gives up ("cannot bridge to
		// this server: the server offers 2025-11-25, … and this proxy speaks
		// 2026-07-28") even directly, so it runs against stateless only.
		name: "mcp-remote-auto",
		connect: func(ctx context.Context, t testing.TB, url, token string) (mcpClient, error) {
			return startRemote(ctx, t, url, token, "--protocol", "auto")
		},
		statelessOnly: true,
	},
}

// upstreamKinds are the two modes of the everything-server.
var upstreamKinds = []struct {
	name      string
	stateless bool
}{
	{"stateful", false},
	{"stateless", true},
}

// What the everything-server answers.
const (
	simpleText  = "This is a simple text response for testing."
	loggingText = "Tool with logging executed successfully"
)

var (
	wantProgress = []string{"Completed step 0 of 100", "Completed step 50 of 100", "Completed step 100 of 100"}
	wantLogs     = []string{"Tool execution started", "Tool processing data", "Tool execution completed"}
)

// streamSpan is the least time between the first and the last byte of the
// SSE response to a tool that sends a notification, sleeps 3×50 ms and
// answers: relayed as produced it spans ≈100–150 ms, buffered it spans ≈0.
// Only the in-process Go clients time bytes; a node client's event loop,
// busy starting up on a loaded 2-core machine, can bunch events by itself.
const streamSpan = 40 * time.Millisecond

// checkSession lists tools and calls three of them, checking what a user of
// the client would see.
func checkSession(ctx context.Context, t *testing.T, c mcpClient) {
	t.Helper()
	tools, err := c.ListTools(ctx)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	for _, want := range []string{"test_simple_text", "test_tool_with_progress", "test_tool_with_logging"} {
		if !slices.Contains(tools, want) {
			t.Errorf("tools/list lacks %q; got %v", want, tools)
		}
	}

	res, err := c.CallTool(ctx, "test_simple_text", false)
	if err != nil {
		t.Fatalf("tools/call test_simple_text: %v", err)
	}
	if res.IsError || res.Text != simpleText {
		t.Errorf("tools/call test_simple_text = %s, want text %q", res.Raw, simpleText)
	}

	res, err = c.CallTool(ctx, "test_tool_with_progress", true)
	if err != nil {
		t.Fatalf("tools/call test_tool_with_progress: %v", err)
	}
	// The tool answers with the progress token it received in _meta.
	if res.IsError || res.Text == "" || (res.ProgressToken != "" && res.Text != res.ProgressToken) {
		t.Errorf("tools/call test_tool_with_progress = %s, want the progress token %q as text", res.Raw, res.ProgressToken)
	}
	checkStreamed(t, "progress", res, res.Progress, wantProgress)

	res, err = c.CallTool(ctx, "test_tool_with_logging", false)
	if err != nil {
		t.Fatalf("tools/call test_tool_with_logging: %v", err)
	}
	if res.IsError || res.Text != loggingText {
		t.Errorf("tools/call test_tool_with_logging = %s, want text %q", res.Raw, loggingText)
	}
	checkStreamed(t, "log", res, res.Logs, wantLogs)
}

// checkStreamed checks that the notifications arrived, complete and in
// order, on an SSE response, and — where the client shows its HTTP bodies —
// that the response was relayed while the tool was still running.
func checkStreamed(t *testing.T, what string, res *callOutcome, got []timedEvent, want []string) {
	t.Helper()
	var texts []string
	for _, e := range got {
		texts = append(texts, fmt.Sprintf("%s@%v", e.Text, e.At.Round(time.Millisecond)))
	}
	t.Logf("%s notifications (arrival since the call): %v; result after %v", what, texts, res.Elapsed.Round(time.Millisecond))
	texts = texts[:0]
	for _, e := range got {
		texts = append(texts, e.Text)
	}
	if !slices.Equal(texts, want) {
		t.Errorf("%s notifications = %q, want %q", what, texts, want)
	}
	for _, r := range res.HTTP {
		if r.Method != http.MethodPost {
			continue
		}
		if !strings.HasPrefix(r.ContentType, "text/event-stream") {
			t.Errorf("tools/call answered %d with Content-Type %q, want text/event-stream", r.Status, r.ContentType)
		}
		if r.body != nil && r.body.span() < streamSpan {
			t.Errorf("the SSE response to tools/call arrived within %v (want ≥ %v between first and last byte): it was buffered, not streamed",
				r.body.span(), streamSpan)
		}
	}
}

// TestClientsDirect runs the client scenarios against the upstreams without
// a gateway. It is the control for TestClientsThroughGateway: a scenario
// that fails there but passes here is the gateway's fault.
func TestClientsDirect(t *testing.T) {
	for _, up := range upstreamKinds {
		url := gatewaytest.StartUpstream(t, up.stateless)
		for _, ck := range clientKinds {
			if ck.statelessOnly && !up.stateless {
				continue
			}
			t.Run(up.name+"/"+ck.name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				defer cancel()
				c, err := ck.connect(ctx, t, url, "")
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				defer c.Close()
				checkVersion(t, ck, up.stateless, c)
				checkSession(ctx, t, c)
			})
		}
	}
}

// checkVersion checks the protocol version a Go client negotiated: the
// gateway must neither downgrade a modern client nor upgrade a legacy one.
func checkVersion(t *testing.T, ck clientKind, stateless bool, c mcpClient) {
	t.Helper()
	gs, ok := c.(*goSession)
	want := ck.version[0]
	if stateless {
		want = ck.version[1]
	}
	if !ok || want == "" {
		return
	}
	if got := gs.cs.InitializeResult().ProtocolVersion; got != want {
		t.Errorf("negotiated protocol version %q, want %q", got, want)
	}
}

// TestClientsThroughGateway connects every client through mcpgate with a
// grant, lists and calls tools (including streamed progress and logging),
// then revokes the grant with `mcpgate grant revoke ID` and checks that the
// very next call from the same live session is refused with 401.
func TestClientsThroughGateway(t *testing.T) {
	gw := gatewaytest.StartGateway(t, nil)
	for _, up := range upstreamKinds {
		gw.AddServer(t, up.name, gatewaytest.StartUpstream(t, up.stateless))
	}
	var (
		mu     sync.Mutex
		tokens []string
	)
	// Runs once every subtest has finished, while the gateway still runs.
	t.Cleanup(func() {
		out := gw.Output()
		mu.Lock()
		defer mu.Unlock()
		for _, tok := range append(tokens, gw.AdminToken) {
			if strings.Contains(out, tok) {
				t.Errorf("the gateway's log contains a secret token (%.12s…)", tok)
			}
		}
	})
	for _, up := range upstreamKinds {
		for _, ck := range clientKinds {
			if ck.statelessOnly && !up.stateless {
				continue
			}
			t.Run(up.name+"/"+ck.name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 2*callTimeout)
				defer cancel()
				id, token := gw.CreateGrant(t, fmt.Sprintf("user-%s-%s", ck.name, up.name), up.name)
				mu.Lock()
				tokens = append(tokens, token)
				mu.Unlock()
				c, err := ck.connect(ctx, t, gw.URL(up.name), token)
				if err != nil {
					t.Fatalf("connect through the gateway: %v", err)
				}
				defer c.Close()
				checkVersion(t, ck, up.stateless, c)
				checkSession(ctx, t, c)
				if t.Failed() {
					return
				}

				// What an administrator runs; the admin API behind it is
				// exercised by gw.RevokeGrant in the other tests.
				gw.CLI(t, "grant", "revoke", id)
				res, err := c.CallTool(ctx, "test_simple_text", false)
				if err == nil {
					t.Fatalf("tools/call after revocation succeeded: %s", res.Raw)
				}
				checkRefused(t, ck.name, err, gw.URL(up.name), token)
			})
		}
	}
}

// checkRefused checks that err is how the client surfaces the gateway's
// refusal of token on url, and that the refusal was a 401.
func checkRefused(t *testing.T, kind string, err error, url, token string) {
	t.Helper()
	t.Logf("%s surfaced the refusal as: %v", kind, err)
	if strings.HasPrefix(kind, "mcp-remote") {
		// mcp-remote hides the HTTP exchange from its stdio client: it takes
		// a 401 for an OAuth challenge, tries discovery and dynamic client
		// registration at the gateway, and reports that failure instead. Ask
		// the gateway directly what it answers for this token.
		if r := rawInitialize(t, url, "Bearer "+token); r.status != http.StatusUnauthorized {
			t.Errorf("the gateway answers the token with %d, want 401 (body %s)", r.status, r.body)
		}
		return
	}
	if !sawStatus(err, http.StatusUnauthorized) {
		t.Errorf("call failed with %v; want an HTTP 401", err)
	}
}

// TestGrantForAnotherServerRefused connects every client with a grant for
// one server to another server (same upstream behind both names): the
// gateway must refuse the connection with 401.
func TestGrantForAnotherServerRefused(t *testing.T) {
	gw := gatewaytest.StartGateway(t, nil)
	upstream := gatewaytest.StartUpstream(t, true)
	gw.AddServer(t, "granted", upstream)
	gw.AddServer(t, "other", upstream)
	_, token := gw.CreateGrant(t, "alice", "granted")
	for _, ck := range clientKinds {
		t.Run(ck.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			c, err := ck.connect(ctx, t, gw.URL("other"), token)
			if err == nil {
				c.Close()
				t.Fatalf("connected to a server the grant does not cover")
			}
			checkRefused(t, ck.name, err, gw.URL("other"), token)
		})
	}
}

// rawResponse is the answer to a hand-made initialize request.
type rawResponse struct {
	status          int
	wwwAuthenticate string
	body            string
}

// rawInitialize POSTs a legacy initialize to url with the given
// Authorization header ("" = none), as the first request of any client.
func rawInitialize(t *testing.T, url, authorization string) rawResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + legacyVersion +
		`","capabilities":{},"clientInfo":{"name":"mcpgate-e2e-raw","version":"1.0.0"}}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return rawResponse{status: resp.StatusCode, wwwAuthenticate: resp.Header.Get("WWW-Authenticate"), body: string(b)}
}

// TestGatewayRefusesBadCredentials shows, at the HTTP level, what a client
// gets for each kind of bad credential: 401 with a Bearer challenge
// (RFC 6750 invalid_token) and no OAuth resource metadata, since the gateway
// does not offer OAuth to its clients.
func TestGatewayRefusesBadCredentials(t *testing.T) {
	gw := gatewaytest.StartGateway(t, nil)
	upstream := gatewaytest.StartUpstream(t, true)
	gw.AddServer(t, "granted", upstream)
	gw.AddServer(t, "other", upstream)
	_, token := gw.CreateGrant(t, "alice", "granted")
	revokedID, revoked := gw.CreateGrant(t, "bob", "granted")
	gw.RevokeGrant(t, revokedID)

	for _, tc := range []struct {
		name          string
		server        string
		authorization string
		want          int
	}{
		{"valid grant", "granted", "Bearer " + token, http.StatusOK},
		{"bearer scheme is case-insensitive", "granted", "bearer " + token, http.StatusOK},
		{"no Authorization header", "granted", "", http.StatusUnauthorized},
		{"not a bearer token", "granted", "Basic YWxpY2U6c2VjcmV0", http.StatusUnauthorized},
		{"garbage token", "granted", "Bearer not-a-grant-token", http.StatusUnauthorized},
		{"token with one character changed", "granted", "Bearer " + flipLast(token), http.StatusUnauthorized},
		{"revoked grant", "granted", "Bearer " + revoked, http.StatusUnauthorized},
		{"grant for another server", "other", "Bearer " + token, http.StatusUnauthorized},
		{"valid grant, unknown server", "nosuchserver", "Bearer " + token, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rawInitialize(t, gw.URL(tc.server), tc.authorization)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.want, r.body)
			}
			if tc.want != http.StatusUnauthorized {
				return
			}
			if !strings.HasPrefix(r.wwwAuthenticate, "Bearer ") || !strings.Contains(r.wwwAuthenticate, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge with error=\"invalid_token\"", r.wwwAuthenticate)
			}
			if strings.Contains(r.wwwAuthenticate, "resource_metadata") {
				t.Errorf("WWW-Authenticate = %q advertises OAuth, which the gateway does not offer its clients", r.wwwAuthenticate)
			}
			if strings.Contains(r.body, upstream) || strings.Contains(r.body, token) {
				t.Errorf("the refusal leaks the upstream URL or the token: %s", r.body)
			}
		})
	}
}

// flipLast changes the last character of s.
func flipLast(s string) string {
	if s == "" {
		return "x"
	}
	last := s[len(s)-1]
	if last == 'a' {
		last = 'b'
	} else {
		last = 'a'
	}
	return s[:len(s)-1] + string(last)
}
