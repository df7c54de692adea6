package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// drainSetup starts a gateway in front of up with one server and one grant.
func drainSetup(t *testing.T, up *upstream, env []string) (p *proc, grantToken string) {
	t.Helper()
	const token = "drain-admin-token-0123456789"
	p = serve(t, filepath.Join(t.TempDir(), "data"), append([]string{"MCPGATE_ADMIN_TOKEN=" + token}, env...))
	c := p.admin(token)
	if _, err := c.CreateServer(bounded(t), adminapi.CreateServerRequest{Name: "up", URL: up.URL + "/mcp"}); err != nil {
		t.Fatal(err)
	}
	g, err := c.CreateGrant(bounded(t), adminapi.CreateGrantRequest{User: "ann", Servers: []string{"up"}})
	if err != nil {
		t.Fatal(err)
	}
	return p, g.Token
}

type callResult struct {
	resp *http.Response
	body string
	err  error
	at   time.Time
}

// slowCall starts a tools/call "slow" and waits until the upstream has it.
func slowCall(t *testing.T, p *proc, up *upstream, grant string) <-chan callResult {
	t.Helper()
	res := make(chan callResult, 1)
	go func() {
		resp, body, err := p.callTool(bounded(t), grant, "up", "slow")
		res <- callResult{resp, body, err, time.Now()}
	}()
	select {
	case <-up.slowStarted:
	case r := <-res:
		t.Fatalf("slow call ended before reaching the upstream: %v %v %s", r.err, r.resp, r.body)
	case <-time.After(10 * time.Second):
		t.Fatal("slow call did not reach the upstream")
	}
	return res
}

func TestServeDrainsOnSIGTERM(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, 1500*time.Millisecond)
	p, grant := drainSetup(t, up, []string{"MCPGATE_SHUTDOWN_TIMEOUT=5s"})

	// A standalone SSE stream, open and delivering.
	req, _ := http.NewRequestWithContext(bounded(t), http.MethodGet, p.URL+"/mcp/up", nil)
	req.Header.Set("Authorization", "Bearer "+grant)
	req.Header.Set("Accept", "text/event-stream")
	sse, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Body.Close()
	events := bufio.NewReader(sse.Body)
	if line, err := events.ReadString('\n'); sse.StatusCode != http.StatusOK || line != "id: 1\n" {
		t.Fatalf("SSE stream: %d, first line %q, %v", sse.StatusCode, line, err)
	}

	call := slowCall(t, p, up, grant)

	if code, body := get(t, p.URL+"/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz before SIGTERM = %d %q", code, body)
	}
	// The upstream here has no OAuth: no upstream token is held in memory.
	if code, body := get(t, p.URL+"/metrics"); code != http.StatusOK || !strings.Contains(body, "\nmcpgate_upstream_connections_in_memory 0\n") {
		t.Errorf("/metrics = %d, without mcpgate_upstream_connections_in_memory 0", code)
	}

	p.terminate()
	sigterm := time.Now()

	// The stream ends promptly and cleanly.
	sseEnded := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, events)
		sseEnded <- err
	}()
	select {
	case err := <-sseEnded:
		if err != nil {
			t.Errorf("SSE stream ended with %v, want a clean end", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("SSE stream still open 3s after SIGTERM")
	}
	if d := time.Since(sigterm); d > 2*time.Second {
		t.Errorf("SSE stream ended %v after SIGTERM, want at once", d)
	}

	// Draining: no new connections. (/readyz turns 503 on SIGTERM, but
	// http.Server.Shutdown closes the listener at once and drops requests
	// read after it started, so no client can observe that.)
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(p.URL, "http://"), time.Second); err == nil {
		conn.Close()
		t.Error("a new connection was accepted while draining")
	}

	// The call in flight completes.
	select {
	case r := <-call:
		if r.err != nil || r.resp.StatusCode != http.StatusOK || !strings.Contains(r.body, `"slow done"`) {
			t.Errorf("in-flight call: %v %v %q", r.err, r.resp, r.body)
		}
		if r.at.Before(sigterm) {
			t.Errorf("in-flight call finished before SIGTERM; the test proves nothing")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight call did not complete")
	}

	if code := p.wait(10 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM; stderr:\n%s", code, p.stderr)
	}
	if d := time.Since(sigterm); d > 4*time.Second {
		t.Errorf("drain took %v, want well within the 5s shutdown timeout", d)
	}
	if log := p.stderr.String(); !strings.Contains(log, "shutting down") || strings.Contains(log, "drain deadline passed") {
		t.Errorf("log:\n%s", log)
	}
}

func TestServeShutdownTimeoutCutsRequests(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, 10*time.Second)
	p, grant := drainSetup(t, up, []string{"MCPGATE_SHUTDOWN_TIMEOUT=1s"})
	call := slowCall(t, p, up, grant)

	p.terminate()
	sigterm := time.Now()
	select {
	case r := <-call:
		// The client must see the cut, not an empty 200.
		if r.err == nil {
			t.Errorf("the call outlived the shutdown timeout and got %d %q, want a broken connection", r.resp.StatusCode, r.body)
		}
		if d := r.at.Sub(sigterm); d < 900*time.Millisecond || d > 4*time.Second {
			t.Errorf("call cut %v after SIGTERM, want about 1s", d)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("the call was not cut")
	}
	if code := p.wait(8 * time.Second); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, p.stderr)
	}
	if d := time.Since(sigterm); d > 4*time.Second {
		t.Errorf("exit %v after SIGTERM with a 1s shutdown timeout", d)
	}
	if !strings.Contains(p.stderr.String(), "drain deadline passed") {
		t.Errorf("log does not say the drain deadline passed:\n%s", p.stderr)
	}
}

func TestServeJSONLogs(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, 0)
	dataDir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dataDir, nil, "--log-format", "json")
	adminToken := strings.TrimSpace(readFile(t, filepath.Join(dataDir, "admin-token")))
	c := p.admin(adminToken)
	if _, err := c.CreateServer(bounded(t), adminapi.CreateServerRequest{Name: "up", URL: up.URL + "/mcp"}); err != nil {
		t.Fatal(err)
	}
	g, err := c.CreateGrant(bounded(t), adminapi.CreateGrantRequest{User: "ann@example.com", Servers: []string{"up"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp, body, err := p.callTool(bounded(t), g.Token, "up", "echo"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("tools/call: %v %v %s", err, resp, body)
	}
	// A refused grant: answered before the proxy, so not a proxied call.
	if resp, _, err := p.callTool(bounded(t), g.Token+"x", "up", "echo"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad grant: %v %v", err, resp)
	}
	p.stop()

	stderr, stdout := p.stderr.String(), p.stdout.String()
	var requests []map[string]any
	for line := range strings.Lines(stderr) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		if rec["msg"] == "mcp request" {
			requests = append(requests, rec)
		}
	}
	if len(requests) != 1 {
		t.Fatalf("%d mcp request log lines, want 1:\n%s", len(requests), stderr)
	}
	rec := requests[0]
	want := map[string]any{
		"level": "INFO", "grant": g.ID, "user": "ann@example.com", "server": "up",
		"http_method": "POST", "rpc_method": "tools/call", "tool": "echo", "status": float64(200),
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("log field %s = %#v, want %#v", k, rec[k], v)
		}
	}
	if d, ok := rec["duration"].(float64); !ok || d <= 0 {
		t.Errorf("log field duration = %#v, want a positive number", rec["duration"])
	}

	if strings.Contains(stdout+stderr, g.Token) {
		t.Error("the grant token appears in the gateway's output")
	}
	if strings.Contains(stderr, adminToken) {
		t.Error("the admin token appears in the log")
	}
	if n := strings.Count(stdout, adminToken); n != 1 {
		t.Errorf("the admin token appears %d times on stdout, want once", n)
	}
}
