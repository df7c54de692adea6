package oauthtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func connect(t *testing.T, endpoint, token string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "oauthtest-client", Version: "1.0.0"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   endpoint,
		HTTPClient: &http.Client{Transport: bearerTransport{token}},
		MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func callText(t *testing.T, cs *mcp.ClientSession, tool string, args any) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return "", err
	}
	if len(res.Content) != 1 {
		t.Fatalf("%s: content %v", tool, res.Content)
	}
	return res.Content[0].(*mcp.TextContent).Text, nil
}

// rawPost posts one JSON-RPC message and returns the response.
func rawPost(t *testing.T, endpoint, token, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func challengeParams(t *testing.T, resp *http.Response) map[string]string {
	t.Helper()
	cs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil || len(cs) != 1 || cs[0].Scheme != "bearer" {
		t.Fatalf("WWW-Authenticate %q: %v %v", resp.Header.Values("WWW-Authenticate"), cs, err)
	}
	return cs[0].Params
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`

func TestProtectedMCPServerChallenges(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})
	cfg := publicConfig(as, "read")
	srv := NewProtectedMCPServer(t, as, ProtectedMCPServerOptions{})

	resp := rawPost(t, srv.URL(), "", initBody)
	p := challengeParams(t, resp)
	if resp.StatusCode != 401 || p["resource_metadata"] != srv.PRMURL() || p["error"] != "" {
		t.Fatalf("no token: %d %v", resp.StatusCode, p)
	}
	resp = rawPost(t, srv.URL(), "not-a-token", initBody)
	if p := challengeParams(t, resp); resp.StatusCode != 401 || p["error"] != "invalid_token" || p["resource_metadata"] != srv.PRMURL() {
		t.Fatalf("bad token: %d %v", resp.StatusCode, p)
	}

	// Audience: a token for another resource is refused; one without resource is accepted.
	other := exchange(t, as, cfg, "http://127.0.0.1:1/mcp")
	if resp := rawPost(t, srv.URL(), other.AccessToken, initBody); resp.StatusCode != 401 || challengeParams(t, resp)["error"] != "invalid_token" {
		t.Fatalf("wrong audience: %d", resp.StatusCode)
	}
	unbound := exchange(t, as, cfg, "")
	if resp := rawPost(t, srv.URL(), unbound.AccessToken, initBody); resp.StatusCode != 200 {
		t.Fatalf("token without resource: %d", resp.StatusCode)
	}
	good := exchange(t, as, cfg, srv.URL())
	if resp := rawPost(t, srv.URL(), good.AccessToken, initBody); resp.StatusCode != 200 {
		t.Fatalf("good token: %d", resp.StatusCode)
	}
	// Expired and revoked tokens.
	as.ExpireAccessTokens()
	if resp := rawPost(t, srv.URL(), good.AccessToken, initBody); resp.StatusCode != 401 || challengeParams(t, resp)["error"] != "invalid_token" {
		t.Fatalf("expired token: %d", resp.StatusCode)
	}
	if st := srv.Stats(); st.Unauthorized != 4 || st.Requests != 6 || srv.LastToken() != good.AccessToken {
		t.Fatalf("stats %+v", st)
	}

	t.Run("RequiredScopes", func(t *testing.T) {
		srv := NewProtectedMCPServer(t, as, ProtectedMCPServerOptions{RequiredScopes: []string{"write"}, OmitChallengeResourceMetadata: true})
		resp := rawPost(t, srv.URL(), "", initBody)
		if p := challengeParams(t, resp); p["scope"] != "write" || p["resource_metadata"] != "" {
			t.Fatalf("%v", p)
		}
		tok := exchange(t, as, cfg, srv.URL()) // read only
		resp = rawPost(t, srv.URL(), tok.AccessToken, initBody)
		if p := challengeParams(t, resp); resp.StatusCode != 403 || p["error"] != "insufficient_scope" || p["scope"] != "write read" {
			t.Fatalf("%d %v", resp.StatusCode, p)
		}
	})
}

func TestProtectedResourceMetadata(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{IssuerPath: "/tenant"})
	srv := NewProtectedMCPServer(t, as, ProtectedMCPServerOptions{Path: "/v1/mcp"})
	if !strings.HasSuffix(srv.URL(), "/v1/mcp") || srv.PRMURL() != strings.TrimSuffix(srv.URL(), "/v1/mcp")+"/.well-known/oauth-protected-resource/v1/mcp" {
		t.Fatalf("URL %s PRM %s", srv.URL(), srv.PRMURL())
	}
	// The SDK checks that resource equals the server URL.
	prm, err := oauthex.GetProtectedResourceMetadata(testCtx(t), srv.PRMURL(), srv.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if prm.Resource != srv.URL() || !slices.Equal(prm.AuthorizationServers, []string{as.Issuer()}) ||
		!slices.Equal(prm.ScopesSupported, []string{"read", "write", "admin"}) {
		t.Fatalf("%+v", prm)
	}
	if m, err := auth.GetAuthServerMetadata(testCtx(t), prm.AuthorizationServers[0], nil); err != nil || m.Issuer != as.Issuer() {
		t.Fatalf("AS from PRM: %v %v", m, err)
	}
	if srv.Stats().PRMRequests != 1 {
		t.Fatal("PRMRequests")
	}
}

func TestProtectedMCPServerTools(t *testing.T) {
	for _, stateless := range []bool{false, true} {
		name := "stateful"
		if stateless {
			name = "stateless"
		}
		t.Run(name, func(t *testing.T) {
			as := NewAuthServer(t, AuthServerOptions{})
			srv := NewProtectedMCPServer(t, as, ProtectedMCPServerOptions{Stateless: stateless})
			reader := exchange(t, as, publicConfig(as, "read"), srv.URL())
			cs := connect(t, srv.URL(), reader.AccessToken)

			text, err := callText(t, cs, "whoami", map[string]any{})
			if err != nil {
				t.Fatal(err)
			}
			var who WhoAmI
			if err := json.Unmarshal([]byte(text), &who); err != nil {
				t.Fatalf("%q: %v", text, err)
			}
			if who.ClientID != "public-client" || !slices.Equal(who.Scopes, []string{"read"}) ||
				who.Subject != "test-user" || who.Resource != srv.URL() || who.Family == "" {
				t.Fatalf("whoami %+v", who)
			}
			if text, err := callText(t, cs, "echo", map[string]any{"text": "hello"}); err != nil || text != "hello" {
				t.Fatalf("echo %q %v", text, err)
			}
			if _, err := callText(t, cs, "admin_action", map[string]any{}); err == nil {
				t.Fatal("admin_action without admin scope succeeded")
			}

			// The 403 challenge, seen raw.
			call := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"admin_action","arguments":{}}}`
			resp := rawPost(t, srv.URL(), reader.AccessToken, call)
			p := challengeParams(t, resp)
			if resp.StatusCode != 403 || p["error"] != "insufficient_scope" || p["scope"] != "read admin" || p["resource_metadata"] != srv.PRMURL() {
				t.Fatalf("403: %d %v", resp.StatusCode, p)
			}

			admin := exchange(t, as, publicConfig(as, "read", "admin"), srv.URL())
			acs := connect(t, srv.URL(), admin.AccessToken)
			if text, err := callText(t, acs, "admin_action", map[string]any{}); err != nil || text != "admin action done" {
				t.Fatalf("admin_action %q %v", text, err)
			}
			st := srv.Stats()
			if st.ToolCalls["whoami"] != 1 || st.ToolCalls["echo"] != 1 || st.ToolCalls["admin_action"] != 1 || st.Forbidden != 2 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// The Go SDK's own OAuth client (discovery from the 401, DCR, PKCE, iss check,
// resource) completes against the fakes: they speak the protocol real clients expect.
func TestSDKClientAuthorizesEndToEnd(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{RequireResource: true, IssuerPath: "/as"})
	srv := NewProtectedMCPServer(t, as, ProtectedMCPServerOptions{})
	handler, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{
				RedirectURIs:            []string{redirectURI},
				TokenEndpointAuthMethod: "none",
				GrantTypes:              []string{"authorization_code", "refresh_token"},
			},
		},
		RequestRefreshToken: true,
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, args.URL, nil)
			if err != nil {
				return nil, err
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				return nil, err
			}
			resp.Body.Close()
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				return nil, err
			}
			q := loc.Query()
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "sdk-oauth-client", Version: "1.0.0"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL(), OAuthHandler: handler, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	var who WhoAmI
	if err := json.Unmarshal([]byte(res.Content[0].(*mcp.TextContent).Text), &who); err != nil {
		t.Fatal(err)
	}
	if who.Resource != srv.URL() || !slices.Contains(who.Scopes, "offline_access") {
		t.Fatalf("whoami %+v", who)
	}
	st := as.Stats()
	if st.Registrations != 1 || st.AuthCodeGrants != 1 || srv.Stats().Unauthorized < 1 {
		t.Fatalf("AS %+v MCP %+v", st, srv.Stats())
	}
	ts, _ := handler.TokenSource(ctx)
	tok, err := ts.Token()
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("token %+v %v", tok, err)
	}
}
