package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"sync"
)

// codeUpstreamAuth is the gateway's JSON-RPC error code for "no usable
// upstream authorization for you at this server" (internal/proxy
// CodeUpstreamAuth); its data.reason says why.
const codeUpstreamAuth = -32053

// authNeeded is the gateway's answer that the upstream connection must be
// (re)authorized before the call can go through.
type authNeeded struct {
	Reason  string // not_connected, reauth_required, step_up_required
	Message string
}

// authWatch remembers the last "authorize the upstream first" answer the
// gateway gave. It watches the HTTP responses rather than the SDK's errors
// because the SDK reports a failed initialize as a closed connection,
// without the JSON-RPC error, and some scenarios ignore call errors.
type authWatch struct {
	mu   sync.Mutex
	last *authNeeded
}

// take returns and clears the last answer seen.
func (w *authWatch) take() (authNeeded, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		return authNeeded{}, false
	}
	a := *w.last
	w.last = nil
	return a, true
}

// observe inspects a gateway response. Only small JSON bodies are read (and
// put back): the gateway answers these errors as application/json.
func (w *authWatch) observe(resp *http.Response) {
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusForbidden {
		return
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return
	}
	var msg struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    struct {
				Reason string `json:"reason"`
			} `json:"data"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &msg) != nil || msg.Error == nil || msg.Error.Code != codeUpstreamAuth {
		return
	}
	switch msg.Error.Data.Reason {
	case "not_connected", "reauth_required", "step_up_required":
		// refresh_failing is not among them: re-authorizing does not cure
		// an unreachable token endpoint.
		w.mu.Lock()
		w.last = &authNeeded{Reason: msg.Error.Data.Reason, Message: msg.Error.Message}
		w.mu.Unlock()
	}
}

// setup is what the adapter registers at the gateway for a scenario.
type setup struct {
	Server string // the gateway's name for the upstream
	User   string // the grant's user; authorization-code connections are his
	// ClientCredentials connects with the client_credentials grant as the
	// server's shared connection instead of the authorization code flow.
	ClientCredentials bool
	// Assertion connects the shared connection with the JWT-bearer grant,
	// presenting this workload identity token.
	Assertion string
	// IDToken connects User with enterprise-managed authorization: the
	// gateway exchanges this ID token at the identity provider it was
	// started with.
	IDToken string
}

// addServer registers the scenario's MCP server, with the pre-registered
// OAuth client of MCP_CONFORMANCE_CONTEXT when the scenario provides one.
// The request is plain JSON so that fields the gateway does not know yet
// are reported by the gateway rather than dropped at compile time.
func addServer(ctx context.Context, g *gateway, name, serverURL string, cc map[string]any) error {
	req := map[string]any{"name": name, "url": serverURL}
	if id, _ := cc["client_id"].(string); id != "" {
		req["oauth_client_id"] = id
		if s, _ := cc["client_secret"].(string); s != "" {
			req["oauth_client_secret"] = s
		}
		if k, _ := cc["private_key_pem"].(string); k != "" {
			req["oauth_private_key"] = k
			req["oauth_auth_method"] = "private_key_jwt"
		}
	}
	_, err := g.admin(ctx, http.MethodPost, "/servers", req, nil)
	if err != nil {
		return fmt.Errorf("add server %s (%s): %w", name, serverURL, err)
	}
	return nil
}

// createGrant returns a grant token for user on server.
func createGrant(ctx context.Context, g *gateway, user, server string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	_, err := g.admin(ctx, http.MethodPost, "/grants", map[string]any{
		"user": user, "servers": []string{server}, "label": "conformance",
	}, &out)
	if err != nil {
		return "", fmt.Errorf("create grant: %w", err)
	}
	if out.Token == "" {
		return "", errors.New("create grant: the answer carries no token")
	}
	return out.Token, nil
}

// connectUpstream has the gateway authorize at the upstream, as an
// administrator or user would with `mcpgate connect`:
//
//   - client credentials: POST /connections {client_credentials, shared} and
//     the gateway obtains the token itself (201);
//   - workload identity: POST /connections {assertion, shared}, the
//     JWT-bearer grant (201);
//   - enterprise-managed: POST /connections {id_token, user}: the gateway
//     exchanges the ID token at the identity provider for an ID-JAG and
//     presents that (201);
//   - authorization code: POST /connections {server, user} answers 202 with
//     the authorization URL. The suite's authorization server redirects at
//     once (there is no login page), so the browser's part is two GETs: the
//     authorization URL, without following its redirect, then the Location
//     it names, which must be the gateway's own /oauth/callback carrying
//     code, state and iss. The gateway checks and completes the
//     authorization there.
func connectUpstream(ctx context.Context, g *gateway, s setup) error {
	var direct map[string]any
	switch {
	case s.ClientCredentials:
		direct = map[string]any{"server": s.Server, "shared": true, "client_credentials": true}
	case s.Assertion != "":
		direct = map[string]any{"server": s.Server, "shared": true, "assertion": s.Assertion}
	case s.IDToken != "":
		direct = map[string]any{"server": s.Server, "user": s.User, "id_token": s.IDToken}
	}
	if direct != nil {
		var c struct {
			GrantType string `json:"grant_type"`
		}
		if _, err := g.admin(ctx, http.MethodPost, "/connections", direct, &c); err != nil {
			return fmt.Errorf("connect %s without a browser: %w", s.Server, err)
		}
		logf("connected %s with the %s grant", s.Server, c.GrantType)
		return nil
	}
	var started struct {
		AuthorizationURL string `json:"authorization_url"`
	}
	status, err := g.admin(ctx, http.MethodPost, "/connections", map[string]any{
		"server": s.Server, "user": s.User,
	}, &started)
	if err != nil {
		return fmt.Errorf("start the authorization of %s: %w", s.Server, err)
	}
	if status != http.StatusAccepted || started.AuthorizationURL == "" {
		return fmt.Errorf("start the authorization of %s: HTTP %d without an authorization URL", s.Server, status)
	}
	logf("authorization URL: %s", started.AuthorizationURL)

	browser := &http.Client{
		Timeout:       adminTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := get(ctx, browser, started.AuthorizationURL)
	if err != nil {
		return fmt.Errorf("open the authorization URL: %w", err)
	}
	loc := resp.Header.Get("Location")
	if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
		return fmt.Errorf("the authorization server answered HTTP %d without a redirect: %s", resp.StatusCode, resp.body)
	}
	callback, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return fmt.Errorf("authorization redirect %q: %w", loc, err)
	}
	if want := g.BaseURL + "/oauth/callback"; callback.Scheme+"://"+callback.Host+callback.Path != want {
		return fmt.Errorf("the authorization server redirected to %s, not to the gateway's callback %s", callback.String(), want)
	}
	logf("delivering the authorization response to the gateway: %s", callback.String())
	resp, err = get(ctx, browser, callback.String())
	if err != nil {
		return fmt.Errorf("deliver the authorization response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the gateway refused the authorization response (HTTP %d): %s", resp.StatusCode, pageText(resp.body))
	}
	logf("connected %s for user %s", s.Server, s.User)
	return nil
}

type response struct {
	*http.Response
	body string
}

func get(ctx context.Context, hc *http.Client, u string) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return &response{Response: resp, body: string(b)}, nil
}

var tags = regexp.MustCompile(`(?s)<style.*?</style>|<[^>]*>`)

// pageText is the readable text of the gateway's small result page.
func pageText(html string) string {
	t := tags.ReplaceAllString(html, " ")
	return strings.Join(strings.Fields(t), " ")
}
