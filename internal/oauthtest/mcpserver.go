package oauthtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// AdminScope is the scope the admin_action tool requires.
const AdminScope = "admin"

// ProtectedMCPServerOptions configures a [ProtectedMCPServer].
type ProtectedMCPServerOptions struct {
	// Path of the MCP endpoint (default "/mcp").
	Path string
	// Stateless runs the SDK handler without sessions.
	Stateless bool
	// JSONResponse answers POSTs with application/json instead of SSE.
	JSONResponse bool
	// ScopesSupported is the PRM scopes_supported (default read, write, admin).
	ScopesSupported []string
	// RequiredScopes must all be granted for any MCP request (else 403
	// insufficient_scope); they are also sent as scope= in 401 challenges.
	RequiredScopes []string
	// AuthorizationServers overrides the PRM authorization_servers (default
	// the AuthServer's issuer).
	AuthorizationServers []string
	// OmitChallengeResourceMetadata leaves resource_metadata out of
	// WWW-Authenticate, so clients must find the PRM at its well-known URL.
	OmitChallengeResourceMetadata bool
	// DisableLocalhostProtection is passed to the SDK handler (it rejects
	// loopback requests whose Host is not a loopback name by default).
	DisableLocalhostProtection bool
}

// MCPStats are a ProtectedMCPServer's counters.
type MCPStats struct {
	Requests     int            // HTTP requests to the MCP endpoint
	Unauthorized int            // 401s served
	Forbidden    int            // 403 insufficient_scope served
	PRMRequests  int            // protected resource metadata documents served
	ToolCalls    map[string]int // successful tool invocations by name
}

// ProtectedMCPServer is an upstream MCP server (Go SDK) that requires bearer
// tokens issued by an [AuthServer]. Tools: whoami, echo, admin_action.
type ProtectedMCPServer struct {
	as     *AuthServer
	srv    *httptest.Server
	base   string // scheme://host:port
	opts   ProtectedMCPServerOptions
	server *mcp.Server

	mu        sync.Mutex
	stats     MCPStats
	lastToken string
}

// NewProtectedMCPServer starts a protected MCP server on a loopback httptest
// server that is closed on t.Cleanup.
func NewProtectedMCPServer(t testing.TB, as *AuthServer, opts ProtectedMCPServerOptions) *ProtectedMCPServer {
	t.Helper()
	if opts.Path == "" {
		opts.Path = "/mcp"
	}
	opts.Path = cleanPath(opts.Path)
	if len(opts.ScopesSupported) == 0 {
		opts.ScopesSupported = []string{"read", "write", AdminScope}
	}
	s := &ProtectedMCPServer{as: as, opts: opts, stats: MCPStats{ToolCalls: map[string]int{}}}
	s.server = mcp.NewServer(&mcp.Implementation{Name: "oauthtest-protected", Version: "1.0.0"}, nil)
	s.addTools()

	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.server }, &mcp.StreamableHTTPOptions{
		Stateless:                  opts.Stateless,
		JSONResponse:               opts.JSONResponse,
		DisableLocalhostProtection: opts.DisableLocalhostProtection,
	})
	// The SDK reads auth.TokenInfo from the request context, which only its
	// own middleware can set: pass the info our middleware validated through it.
	inner := auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		if ti, ok := ctx.Value(tokenInfoKey{}).(*auth.TokenInfo); ok {
			return ti, nil
		}
		return nil, auth.ErrInvalidToken
	}, &auth.RequireBearerTokenOptions{ClockSkew: time.Hour})(handler)

	servers := opts.AuthorizationServers
	if servers == nil {
		servers = []string{as.Issuer()}
	}
	s.srv, _ = startServer(t, func(base string) http.Handler {
		s.base = base
		prm := auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
			Resource:               s.URL(),
			AuthorizationServers:   servers,
			ScopesSupported:        opts.ScopesSupported,
			BearerMethodsSupported: []string{"header"},
			ResourceName:           "oauthtest protected MCP server",
		})
		mux := http.NewServeMux()
		mux.HandleFunc("/.well-known/oauth-protected-resource"+opts.Path, func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.stats.PRMRequests++
			s.mu.Unlock()
			prm.ServeHTTP(w, r)
		})
		mux.Handle(opts.Path, s.authenticate(inner))
		return mux
	})
	return s
}

type tokenInfoKey struct{}

// URL is the MCP endpoint, e.g. http://127.0.0.1:PORT/mcp (also the PRM resource).
func (s *ProtectedMCPServer) URL() string { return s.base + s.opts.Path }

// PRMURL is where the RFC 9728 protected resource metadata is served.
func (s *ProtectedMCPServer) PRMURL() string {
	return s.base + "/.well-known/oauth-protected-resource" + s.opts.Path
}

// MCPServer is the underlying SDK server (to add tools, resources …).
func (s *ProtectedMCPServer) MCPServer() *mcp.Server { return s.server }

// Stats returns a snapshot of the counters.
func (s *ProtectedMCPServer) Stats() MCPStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ToolCalls = maps.Clone(s.stats.ToolCalls)
	return st
}

// ToolCalls is how many times the named tool ran.
func (s *ProtectedMCPServer) ToolCalls(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.ToolCalls[name]
}

// LastToken is the bearer token of the most recent request that carried one.
func (s *ProtectedMCPServer) LastToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastToken
}

// challenge writes a 401 or 403 with a Bearer WWW-Authenticate challenge.
func (s *ProtectedMCPServer) challenge(w http.ResponseWriter, status int, errCode string, scopes []string) {
	var params []string
	if errCode != "" {
		params = append(params, fmt.Sprintf("error=%q", errCode))
	}
	if len(scopes) > 0 {
		params = append(params, fmt.Sprintf("scope=%q", strings.Join(scopes, " ")))
	}
	if !s.opts.OmitChallengeResourceMetadata {
		params = append(params, fmt.Sprintf("resource_metadata=%q", s.PRMURL()))
	}
	h := "Bearer"
	if len(params) > 0 {
		h += " " + strings.Join(params, ", ")
	}
	s.mu.Lock()
	if status == http.StatusUnauthorized {
		s.stats.Unauthorized++
	} else {
		s.stats.Forbidden++
	}
	s.mu.Unlock()
	w.Header().Set("WWW-Authenticate", h)
	http.Error(w, http.StatusText(status), status)
}

// authenticate validates the bearer token against the AuthServer, checks its
// audience and scopes, and answers 401/403 challenges.
func (s *ProtectedMCPServer) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.stats.Requests++
		s.mu.Unlock()

		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		tok = strings.TrimSpace(tok)
		if !strings.EqualFold(scheme, "Bearer") || tok == "" {
			s.challenge(w, http.StatusUnauthorized, "", s.opts.RequiredScopes)
			return
		}
		s.mu.Lock()
		s.lastToken = tok
		s.mu.Unlock()
		info, ok := s.as.Validate(tok)
		if !ok || info.Resource != "" && info.Resource != s.URL() {
			s.challenge(w, http.StatusUnauthorized, "invalid_token", s.opts.RequiredScopes)
			return
		}
		if missing(info.Scopes, s.opts.RequiredScopes) {
			s.challenge(w, http.StatusForbidden, "insufficient_scope", union(s.opts.RequiredScopes, info.Scopes))
			return
		}
		if !slices.Contains(info.Scopes, AdminScope) && s.callsAdminTool(r) {
			s.challenge(w, http.StatusForbidden, "insufficient_scope", union(s.opts.RequiredScopes, info.Scopes, []string{AdminScope}))
			return
		}
		ti := &auth.TokenInfo{
			Scopes:     info.Scopes,
			Expiration: info.Expiry,
			UserID:     info.Subject,
			Extra: map[string]any{
				"client_id": info.ClientID, "subject": info.Subject, "resource": info.Resource,
				"family": info.Family, "generation": info.Generation,
			},
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenInfoKey{}, ti)))
	})
}

// callsAdminTool reports whether a POST calls admin_action (from the
// Mcp-Method/Mcp-Name headers or the JSON-RPC body, which is restored).
func (s *ProtectedMCPServer) callsAdminTool(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	if r.Header.Get("Mcp-Method") == "tools/call" && r.Header.Get("Mcp-Name") == "admin_action" {
		return true
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	if err != nil {
		return false
	}
	type call struct {
		Method string `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	var msgs []call
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
		_ = json.Unmarshal(t, &msgs)
	} else {
		var one call
		if json.Unmarshal(t, &one) == nil {
			msgs = append(msgs, one)
		}
	}
	for _, m := range msgs {
		if m.Method == "tools/call" && m.Params.Name == "admin_action" {
			return true
		}
	}
	return false
}

func missing(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return true
		}
	}
	return false
}

func union(sets ...[]string) []string {
	var out []string
	for _, set := range sets {
		for _, s := range set {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// WhoAmI is the JSON text the whoami tool answers.
type WhoAmI struct {
	ClientID   string   `json:"client_id"`
	Subject    string   `json:"subject"`
	Scopes     []string `json:"scopes"`
	Resource   string   `json:"resource,omitempty"`
	Family     string   `json:"family"`
	Generation int      `json:"generation"`
}

type echoArgs struct {
	Text string `json:"text" jsonschema:"the text to echo"`
}

func (s *ProtectedMCPServer) count(tool string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.ToolCalls[tool]++
}

func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

func (s *ProtectedMCPServer) addTools() {
	mcp.AddTool(s.server, &mcp.Tool{Name: "whoami", Description: "Returns the caller's client id and scopes as JSON text."},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			var ti *auth.TokenInfo
			if req.Extra != nil {
				ti = req.Extra.TokenInfo
			}
			if ti == nil {
				return nil, nil, fmt.Errorf("no token info")
			}
			who := WhoAmI{Scopes: ti.Scopes, Subject: ti.UserID}
			who.ClientID, _ = ti.Extra["client_id"].(string)
			who.Resource, _ = ti.Extra["resource"].(string)
			who.Family, _ = ti.Extra["family"].(string)
			who.Generation, _ = ti.Extra["generation"].(int)
			b, err := json.Marshal(who)
			if err != nil {
				return nil, nil, err
			}
			s.count("whoami")
			return textResult(string(b)), nil, nil
		})
	mcp.AddTool(s.server, &mcp.Tool{Name: "echo", Description: "Echoes its text argument."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			s.count("echo")
			return textResult(in.Text), nil, nil
		})
	mcp.AddTool(s.server, &mcp.Tool{Name: "admin_action", Description: "Requires the admin scope."},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			if req.Extra == nil || req.Extra.TokenInfo == nil || !slices.Contains(req.Extra.TokenInfo.Scopes, AdminScope) {
				r := textResult("admin scope required")
				r.IsError = true
				return r, nil, nil
			}
			s.count("admin_action")
			return textResult("admin action done"), nil, nil
		})
}
