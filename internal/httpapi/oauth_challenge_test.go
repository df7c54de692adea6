package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/oauthtest"
)

// An upstream that lets initialize through and challenges tools/list with a
// scope (like the MCP conformance suite's auth/scope-step-up server): the
// authorization that the "not connected" answer leads to must ask for the
// scope of that challenge, which the gateway's own discovery probe (an
// initialize) never sees.
func TestAuthorizationStartsFromTheRefusedCallsChallenge(t *testing.T) {
	as := oauthtest.NewAuthServer(t, oauthtest.AuthServerOptions{})
	var up *httptest.Server
	prm := func() string { return up.URL + "/.well-known/oauth-protected-resource/mcp" }
	up = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/.well-known/oauth-protected-resource/mcp" {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{
				"resource": up.URL + "/mcp", "authorization_servers": []string{as.Issuer()},
				"scopes_supported": []string{"read"},
			})
			return
		}
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		json.NewDecoder(r.Body).Decode(&msg)
		if msg.Method == "initialize" && r.Header.Get("Authorization") == "" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"up","version":"1"}}}`, msg.ID)
			return
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer scope="write", resource_metadata=%q`, prm()))
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(up.Close)

	g := newGateway(t, gatewayOptions{})
	g.addServer("up", up.URL+"/mcp", nil)
	tok := g.grant("alice", "", "up").Token
	resp := g.post("up", tok, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`,
		map[string]string{"MCP-Protocol-Version": "2025-11-25"})
	if code, msg := rpcError(t, resp); code != -32053 {
		t.Fatalf("tools/list without a connection: %d %s", code, msg)
	}

	var started struct {
		AuthorizationURL string `json:"authorization_url"`
	}
	if code := g.admin("POST", "/api/v1/connections", map[string]any{"server": "up", "user": "alice"}, &started); code != http.StatusAccepted {
		t.Fatalf("start the authorization: status %d", code)
	}
	u, err := url.Parse(started.AuthorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	scopes := strings.Fields(u.Query().Get("scope"))
	if !slices.Contains(scopes, "write") || slices.Contains(scopes, "read") {
		t.Fatalf("the authorization asks for %v; want the refused call's challenge scope (write), not scopes_supported (read)", scopes)
	}
}
