package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpgate/mcpgate/internal/e2e/gatewaytest"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
)

// upstreamName is the name the OAuth tests register their upstream under.
const upstreamName = "upstream"

// codeUpstreamAuth is proxy.CodeUpstreamAuth: "the gateway holds no usable
// authorization at this server for you".
const codeUpstreamAuth = -32053

// tappedAS is an oauthtest.AuthServer reached only through a recording
// reverse proxy: the proxy is the issuer the gateway sees (metadata, iss and
// every endpoint are rewritten to it), so the test learns every token the
// authorization server hands out — refresh tokens included, which the
// AuthServer does not expose — and can look for them where they must not be.
type tappedAS struct {
	*oauthtest.AuthServer
	front *httptest.Server

	mu     sync.Mutex
	access []string
	fresh  []string // refresh tokens
}

// newTappedAS starts an AuthServer behind a recording front.
func newTappedAS(t *testing.T, opts oauthtest.AuthServerOptions) *tappedAS {
	t.Helper()
	a := &tappedAS{}
	var proxy atomic.Pointer[httputil.ReverseProxy]
	a.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		a.front.CloseClientConnections()
		a.front.Close()
	})
	edit := opts.EditMetadata
	opts.EditMetadata = func(m *oauthex.AuthServerMeta) {
		if edit != nil {
			edit(m)
		}
		m.Issuer = a.front.URL
		for _, ep := range []*string{&m.AuthorizationEndpoint, &m.TokenEndpoint, &m.RegistrationEndpoint, &m.RevocationEndpoint, &m.JWKSURI} {
			if *ep != "" {
				*ep = a.rebase(*ep)
			}
		}
	}
	a.AuthServer = oauthtest.NewAuthServer(t, opts)
	target, err := url.Parse(a.AuthServer.URL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = a.record
	proxy.Store(rp)
	return a
}

// rebase moves a URL of the real server onto the front.
func (a *tappedAS) rebase(u string) string {
	return a.front.URL + strings.TrimPrefix(u, a.AuthServer.URL())
}

// Issuer is the issuer the gateway sees: the front.
func (a *tappedAS) Issuer() string { return a.front.URL }

// AuthorizationURL is the authorization endpoint on the front.
func (a *tappedAS) AuthorizationURL() string { return a.rebase(a.AuthServer.AuthorizationURL()) }

func (a *tappedAS) record(resp *http.Response) error {
	switch resp.Request.URL.Path {
	case "/authorize":
		// RFC 9207: the authorization response names the issuer the client
		// knows, the front.
		if loc, err := url.Parse(resp.Header.Get("Location")); err == nil && loc.Query().Get("iss") != "" {
			q := loc.Query()
			q.Set("iss", a.front.URL)
			loc.RawQuery = q.Encode()
			resp.Header.Set("Location", loc.String())
		}
	case "/token":
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var tr struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if resp.StatusCode == http.StatusOK && json.Unmarshal(body, &tr) == nil {
			a.mu.Lock()
			if tr.AccessToken != "" {
				a.access = append(a.access, tr.AccessToken)
			}
			if tr.RefreshToken != "" {
				a.fresh = append(a.fresh, tr.RefreshToken)
			}
			a.mu.Unlock()
		}
	}
	return nil
}

// Issued returns every access and refresh token the server handed out.
func (a *tappedAS) Issued() (access, refresh []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.access...), append([]string(nil), a.fresh...)
}

// oauthUpstream is an authorization server and the MCP server it protects.
type oauthUpstream struct {
	as *tappedAS
	up *oauthtest.ProtectedMCPServer
}

func newOAuthUpstream(t *testing.T, asOpts oauthtest.AuthServerOptions) *oauthUpstream {
	t.Helper()
	as := newTappedAS(t, asOpts)
	up := oauthtest.NewProtectedMCPServer(t, as.AuthServer, oauthtest.ProtectedMCPServerOptions{
		AuthorizationServers: []string{as.Issuer()},
	})
	return &oauthUpstream{as: as, up: up}
}

// gatewayFor starts a gateway (SQLite) with the upstream registered.
func (u *oauthUpstream) gatewayFor(t *testing.T, opts *gatewaytest.Options) *gatewaytest.Gateway {
	t.Helper()
	gw := gatewaytest.StartGateway(t, opts)
	gw.AddServer(t, upstreamName, u.up.URL())
	return gw
}

// session connects the Go SDK client to server through gw with a new grant
// for user.
func session(ctx context.Context, t *testing.T, gw *gatewaytest.Gateway, user string) *mcp.ClientSession {
	t.Helper()
	_, token := gw.CreateGrant(t, user, upstreamName)
	s, err := connectGo(ctx, gw.URL(upstreamName), token, "")
	if err != nil {
		t.Fatalf("connect the Go SDK client for %s through the gateway: %v", user, err)
	}
	t.Cleanup(s.Close)
	return s.cs
}

// whoami calls the upstream's whoami tool: who the upstream thinks the
// caller is, from the token the gateway injected.
func whoami(ctx context.Context, cs *mcp.ClientSession) (oauthtest.WhoAmI, error) {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
	if err != nil {
		return oauthtest.WhoAmI{}, err
	}
	var text string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			text += tc.Text
		}
	}
	if res.IsError {
		return oauthtest.WhoAmI{}, fmt.Errorf("whoami answered an error result: %s", text)
	}
	var who oauthtest.WhoAmI
	if err := json.Unmarshal([]byte(text), &who); err != nil {
		return oauthtest.WhoAmI{}, fmt.Errorf("whoami answered %q: %w", text, err)
	}
	return who, nil
}

// rpcError is a JSON-RPC error as a client receives it.
type rpcError struct {
	Code    int64  `json:"code"`
	Message string `json:"message"`
	Data    struct {
		Server         string `json:"server"`
		User           string `json:"user"`
		Reason         string `json:"reason"`
		ConnectCommand string `json:"connect_command"`
		ConnectURL     string `json:"connect_url"`
	} `json:"data"`
}

// asRPCError extracts the JSON-RPC error a Go SDK call returned.
func asRPCError(err error) (rpcError, bool) {
	var we *jsonrpc.Error
	if !errors.As(err, &we) {
		return rpcError{}, false
	}
	e := rpcError{Code: we.Code, Message: we.Message}
	if len(we.Data) > 0 {
		if json.Unmarshal(we.Data, &e.Data) != nil {
			return e, false
		}
	}
	return e, true
}

// oauthInitialize POSTs an initialize request, as any client's first request,
// and returns the HTTP status and the JSON-RPC error of the answer.
func oauthInitialize(ctx context.Context, t *testing.T, url, token string) (int, *rpcError) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST initialize %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	// The answer may be JSON or one SSE event.
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for _, line := range strings.Split(string(raw), "\n") {
			if d, ok := strings.CutPrefix(line, "data:"); ok {
				raw = []byte(strings.TrimSpace(d))
				break
			}
		}
	}
	var msg struct {
		Error *rpcError `json:"error"`
	}
	if err := json.Unmarshal(raw, &msg); err != nil {
		t.Fatalf("POST initialize %s answered %d %q: %v", url, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, msg.Error
}

// secretForms are the ways a secret could sit in a dump in clear: as is, hex
// (bytea's text form), base64.
func secretForms(secret string) []string {
	b := []byte(secret)
	return []string{
		secret,
		hex.EncodeToString(b),
		strings.ToUpper(hex.EncodeToString(b)),
		base64.StdEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
	}
}

// assertNotInDump fails the test if any secret appears in dump in any form.
func assertNotInDump(t *testing.T, what string, dump []byte, secrets map[string][]string) {
	t.Helper()
	for kind, list := range secrets {
		for _, s := range list {
			for _, form := range secretForms(s) {
				if bytes.Contains(dump, []byte(form)) {
					t.Errorf("%s: a %s is stored in clear (%.12s…)", what, kind, s)
				}
			}
		}
	}
}
