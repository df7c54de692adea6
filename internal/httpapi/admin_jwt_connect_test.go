package httpapi_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
)

// POST /api/v1/connections with an assertion connects at once (JWT-bearer
// grant) and calls go through with the token; bad combinations and refused
// assertions are the caller's mistakes (400), never a 5xx.
func TestConnectWithAssertionThroughAdminAPI(t *testing.T) {
	key, jwks := oauthtest.NewES256Key()
	other, _ := oauthtest.NewES256Key()
	as := oauthtest.NewAuthServer(t, oauthtest.AuthServerOptions{AssertionKeys: jwks, DisableRegistration: true})
	as.RegisterClient(oauthtest.Client{ID: "workload", GrantTypes: []string{oauthtest.GrantJWTBearer}})
	up := oauthtest.NewProtectedMCPServer(t, as, oauthtest.ProtectedMCPServerOptions{})

	g := newGateway(t, gatewayOptions{})
	if code := g.admin("POST", "/api/v1/servers", adminapi.CreateServerRequest{
		Name: "up", URL: up.URL(), OAuthClientID: "workload", OAuthAuthMethod: "none",
	}, nil); code != http.StatusCreated {
		t.Fatalf("add server: %d", code)
	}
	assertion, _ := oauthtest.SignClientAssertion(key, "ci-runner", as.Issuer())
	forged, _ := oauthtest.SignClientAssertion(other, "ci-runner", as.Issuer())

	for _, tc := range []struct {
		name string
		req  map[string]any
		want int
	}{
		{"assertion and client credentials", map[string]any{"server": "up", "shared": true, "assertion": assertion, "client_credentials": true}, http.StatusBadRequest},
		{"shared id token", map[string]any{"server": "up", "shared": true, "id_token": assertion}, http.StatusBadRequest},
		{"id token without an identity provider", map[string]any{"server": "up", "user": "alice", "id_token": assertion}, http.StatusBadRequest},
		{"not a JWT", map[string]any{"server": "up", "shared": true, "assertion": "hello"}, http.StatusBadRequest},
		{"forged", map[string]any{"server": "up", "shared": true, "assertion": forged}, http.StatusBadRequest},
		{"unknown server", map[string]any{"server": "nope", "shared": true, "assertion": assertion}, http.StatusNotFound},
		{"workload identity for a user", map[string]any{"server": "up", "user": "alice", "workload_identity": true}, http.StatusBadRequest},
		{"workload identity and an assertion", map[string]any{"server": "up", "shared": true, "workload_identity": true, "assertion": assertion}, http.StatusBadRequest},
		{"workload identity without a token file", map[string]any{"server": "up", "shared": true, "workload_identity": true}, http.StatusBadRequest},
	} {
		if code := g.admin("POST", "/api/v1/connections", tc.req, nil); code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, code, tc.want)
		}
	}

	var c adminapi.Connection
	if code := g.admin("POST", "/api/v1/connections", map[string]any{"server": "up", "shared": true, "assertion": assertion}, &c); code != http.StatusCreated {
		t.Fatalf("connect with an assertion: status %d", code)
	}
	if c.GrantType != "jwt_bearer" || !c.Shared || c.State != "connected" {
		t.Fatalf("connection = %+v", c)
	}
	pingThrough(t, g, "up", "the JWT-bearer connection")
	if st := as.Stats(); st.JWTBearerGrants != 1 {
		t.Fatalf("%d JWT-bearer grants; want 1", st.JWTBearerGrants)
	}
}

// With workload_identity the gateway presents its own token file's JWT: the
// connection is made at once and serves calls.
func TestConnectWithWorkloadIdentityThroughAdminAPI(t *testing.T) {
	key, jwks := oauthtest.NewES256Key()
	as := oauthtest.NewAuthServer(t, oauthtest.AuthServerOptions{AssertionKeys: jwks, DisableRegistration: true})
	as.RegisterClient(oauthtest.Client{ID: "workload", GrantTypes: []string{oauthtest.GrantJWTBearer}})
	up := oauthtest.NewProtectedMCPServer(t, as, oauthtest.ProtectedMCPServerOptions{})
	file := filepath.Join(t.TempDir(), "token")
	jwt, _ := oauthtest.SignClientAssertion(key, "system:serviceaccount:mcp:gateway", as.Issuer())
	if err := os.WriteFile(file, []byte(jwt), 0o600); err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, gatewayOptions{workloadToken: file})
	if code := g.admin("POST", "/api/v1/servers", adminapi.CreateServerRequest{
		Name: "up", URL: up.URL(), OAuthClientID: "workload", OAuthAuthMethod: "none",
	}, nil); code != http.StatusCreated {
		t.Fatalf("add server: %d", code)
	}
	var c adminapi.Connection
	if code := g.admin("POST", "/api/v1/connections", adminapi.ConnectRequest{Server: "up", Shared: true, WorkloadIdentity: true}, &c); code != http.StatusCreated {
		t.Fatalf("connect with the workload identity: status %d", code)
	}
	if c.GrantType != "workload_identity" || !c.Shared || c.State != "connected" {
		t.Fatalf("connection = %+v", c)
	}
	pingThrough(t, g, "up", "the workload identity connection")
}

// pingThrough pings server through g with a new grant of alice's and fails
// unless the upstream answers.
func pingThrough(t *testing.T, g *gateway, server, via string) {
	t.Helper()
	tok := g.grant("alice", "", server).Token
	resp := g.post(server, tok, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, map[string]string{"MCP-Protocol-Version": "2025-11-25"})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"result"`) {
		t.Fatalf("ping through %s: %d %s", via, resp.StatusCode, body)
	}
}
