package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/e2e/gatewaytest"
)

// TestOAuthTypeScriptSDKServer puts a real OAuth-protected upstream behind
// mcpgate: the TypeScript SDK's example server with --oauth --oauth-strict
// (its own authorization server, dynamic registration, PKCE, audience
// check). The gateway connects to it through the connect flow, and the
// TypeScript SDK client lists its tools and calls one through the gateway.
func TestOAuthTypeScriptSDKServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := gatewaytest.StartTSOAuthServer(t)
	// The example names itself http://localhost:PORT; localhost may resolve
	// to ::1 as well as 127.0.0.1.
	gw := gatewaytest.StartGateway(t, &gatewaytest.Options{Env: []string{"MCPGATE_EGRESS_ALLOW=127.0.0.0/8,::1/128"}})
	gw.AddServer(t, "ts", ts.URL)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- output of the TypeScript example server ----\n%s---- end ----", ts.Output())
		}
	})

	gw.Connect(t, adminapi.ConnectRequest{Server: "ts", User: "alice"})
	conn := gw.Connection(t, "ts", "alice")
	if conn.State != "connected" || conn.Issuer != ts.Issuer || conn.ClientID == "" || conn.HasRefreshToken || conn.ExpiresAt == nil {
		t.Fatalf("connection: %+v; want connected at issuer %s, a registered client, no refresh token (the example issues none), an expiry", conn, ts.Issuer)
	}
	if life := time.Until(*conn.ExpiresAt); life < 50*time.Minute || life > 61*time.Minute {
		t.Errorf("access token expires in %v, want about an hour", life)
	}

	_, token := gw.CreateGrant(t, "alice", "ts")
	c, err := startTS(ctx, t, gw.URL("ts"), token)
	if err != nil {
		t.Fatalf("TypeScript SDK client through the gateway: %v", err)
	}
	defer c.Close()
	tools, err := c.ListTools(ctx)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	if !slices.Contains(tools, "greet") {
		t.Fatalf("tools/list = %v, want greet among them", tools)
	}
	a, err := c.do(ctx, map[string]any{"op": "callTool", "name": "greet", "arguments": map[string]any{"name": "mcpgate"}})
	if err != nil {
		t.Fatal(err)
	}
	if !a.OK {
		t.Fatalf("tools/call greet: %v", a.err())
	}
	var res struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal(a.Result, &res); err != nil || res.IsError || len(res.Content) != 1 || res.Content[0].Text != "Hello, mcpgate!" {
		t.Fatalf("tools/call greet = %s, want the text \"Hello, mcpgate!\"", a.Result)
	}
	// The upstream saw the gateway's token: its log names the DCR client.
	if out := ts.Output(); !strings.Contains(out, conn.ClientID) {
		t.Errorf("the example server's log does not show a request authenticated as client %s", conn.ClientID)
	}
	t.Logf("TypeScript SDK example server (--oauth --oauth-strict) behind mcpgate: DCR client %s, %d tools, greet answered %q", conn.ClientID, len(tools), res.Content[0].Text)
}
