package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/e2e/gatewaytest"
	"github.com/mcpgate/mcpgate/internal/store/postgres/pgtest"
)

// Session continuity across replicas, and where it ends.
//
// A legacy (stateful) MCP session lives in the upstream; the gateway only
// keeps the binding "session id → grant, server", and keeps it in the
// database. So when the replica a client initialized through dies, the
// client's next request, sent with the same Mcp-Session-Id to any other
// replica, continues the same upstream session: that replica finds the
// binding in the database, checks that the same grant presents it, and
// forwards; the upstream knows the id. No re-initialize.
//
// What the gateway cannot save is a session the upstream itself lost (it
// restarted, or it sits behind a balancer without sticky sessions): the
// upstream answers 404 for the id, the gateway relays the 404 and drops the
// binding, and the client starts a new session with initialize, as the
// specification requires of a client that gets 404 for its session id.
func TestSessionContinuityAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	up := gatewaytest.StartUpstreamProcess(t, false) // stateful: Mcp-Session-Id
	o := replicaOptions(pgtest.Schema(t))
	o2 := o
	gws := gatewaytest.StartGateways(t, &o, &o2)
	a, b := gws[0], gws[1]
	const server = "everything"
	a.AddServer(t, server, up.URL)
	_, token := a.CreateGrant(t, "alice", server)
	waitForServer(ctx, t, b, server, token)

	callTool := func(gw *gatewaytest.Gateway, sid string) mcpReply {
		t.Helper()
		r, err := mcpPost(ctx, newClient(), gw.URL(server), token, sid, "tools/call", map[string]any{"name": "test_simple_text", "arguments": map[string]any{}}, false)
		if err != nil {
			t.Fatalf("tools/call through %s: %v", gw.BaseURL, err)
		}
		return r
	}

	// A raw client and the Go SDK client, both initialized through A. The
	// SDK client's transport sends every request to whichever replica
	// "the balancer" currently points at.
	hc := newClient()
	sid, err := startRawSession(ctx, hc, a.URL(server), token)
	if err != nil {
		t.Fatalf("initialize through replica A: %v", err)
	}
	if r := callTool(a, sid); !r.ok() {
		t.Fatalf("tools/call through A: %v", r)
	}
	sw := newSwitchTransport(a.BaseURL, token)
	sdk, err := mcp.NewClient(&mcp.Implementation{Name: "chaos-sdk", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: a.URL(server), HTTPClient: &http.Client{Transport: sw}, MaxRetries: 5}, nil)
	if err != nil {
		t.Fatalf("Go SDK client through A: %v", err)
	}
	defer sdk.Close()
	if _, err := sdk.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"}); err != nil {
		t.Fatalf("Go SDK tools/call through A: %v", err)
	}

	// Case 1: A dies; B continues both sessions without re-initialize.
	a.Kill(t)
	sw.point(b.BaseURL)
	r := callTool(b, sid)
	if !r.ok() {
		t.Fatalf("tools/call with the session id of dead replica A, through B: %v; want the same upstream session to answer", r)
	}
	if text, err := toolText(r); err != nil || text == "" {
		t.Fatalf("tools/call through B: %q %v", text, err)
	}
	if r, err := mcpPost(ctx, hc, b.URL(server), token, sid, "tools/list", nil, false); err != nil || !r.ok() || !strings.Contains(string(r.Result), "test_simple_text") {
		t.Fatalf("tools/list through B on the same session: %v %v", r, err)
	}
	if _, err := sdk.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"}); err != nil {
		t.Fatalf("Go SDK tools/call through B after A was killed: %v; want the session to continue", err)
	}
	t.Logf("replica A killed: the raw client's and the Go SDK client's sessions continued through B (session %s…), no re-initialize", sid[:min(8, len(sid))])

	// Another grant cannot take the session over, through B either.
	_, other := b.CreateGrant(t, "mallory", server)
	if r, err := mcpPost(ctx, hc, b.URL(server), other, sid, "tools/call", map[string]any{"name": "test_simple_text", "arguments": map[string]any{}}, false); err != nil || r.Status != http.StatusNotFound {
		t.Errorf("another grant presenting the session id through B: %v %v; want 404", r, err)
	}

	// Case 2: the upstream loses its sessions. A clean 404, then a new
	// session works.
	up.Restart(t)
	r = callTool(b, sid)
	if r.Status != http.StatusNotFound {
		t.Fatalf("tools/call on a session the restarted upstream no longer has: %v; want 404", r)
	}
	if r := callTool(b, sid); r.Status != http.StatusNotFound {
		t.Errorf("the same session id again: %v; want 404 (the binding is gone too)", r)
	}
	sid2, err := startRawSession(ctx, hc, b.URL(server), token)
	if err != nil || sid2 == sid {
		t.Fatalf("re-initialize after the 404: %q %v; want a new session", sid2, err)
	}
	if r := callTool(b, sid2); !r.ok() {
		t.Fatalf("tools/call on the new session: %v", r)
	}
	_, err = sdk.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"})
	if !errors.Is(err, mcp.ErrSessionMissing) {
		t.Errorf("Go SDK tools/call on the lost session: %v; want mcp.ErrSessionMissing (the 404), so the client knows to start over", err)
	}
	sdk2, err := mcp.NewClient(&mcp.Implementation{Name: "chaos-sdk", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: b.URL(server), HTTPClient: &http.Client{Transport: sw}}, nil)
	if err != nil {
		t.Fatalf("Go SDK client, new session through B: %v", err)
	}
	defer sdk2.Close()
	if _, err := sdk2.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"}); err != nil {
		t.Fatalf("Go SDK tools/call on its new session: %v", err)
	}
	t.Logf("upstream restarted: the old session id got 404 (%q), the clients re-initialized and continued", strings.TrimSpace(r.Body))
}

// waitForServer waits until gw routes server (added through another
// replica: the change feed carries it).
func waitForServer(ctx context.Context, t *testing.T, gw *gatewaytest.Gateway, server, token string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := mcpPost(ctx, newClient(), gw.URL(server), token, "", "ping", nil, false)
		if err == nil && !(r.Status == http.StatusNotFound && r.Error != nil && strings.Contains(r.Error.Message, "unknown server")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not route server %q 5 s after another replica added it: %v %v", gw.BaseURL, server, r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// switchTransport sends every request to the replica it points at, as a
// load balancer does, with the client's grant.
type switchTransport struct {
	target atomic.Pointer[url.URL]
	token  string
	base   http.RoundTripper
}

func newSwitchTransport(base, token string) *switchTransport {
	s := &switchTransport{token: token, base: http.DefaultTransport.(*http.Transport).Clone()}
	s.point(base)
	return s
}

func (s *switchTransport) point(base string) {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	s.target.Store(u)
}

func (s *switchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	to := s.target.Load()
	r.URL.Scheme, r.URL.Host, r.Host = to.Scheme, to.Host, ""
	r.Header.Set("Authorization", "Bearer "+s.token)
	return s.base.RoundTrip(r)
}
