package oauth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/egress"
	"github.com/mcpgate/mcpgate/internal/oauth"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
)

// hostile serves an MCP endpoint whose 401 points at metadata that is
// malformed, huge, slow or elsewhere.
func hostile(t *testing.T, prm http.HandlerFunc) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+srv.URL+`/prm"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	mux.HandleFunc("/prm", prm)
	mux.HandleFunc("/.well-known/", prm)
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestDiscoveryRefusesBadDocuments(t *testing.T) {
	tests := []struct {
		name string
		prm  http.HandlerFunc
	}{
		{"malformed", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"resource": [1,2`) }},
		{"huge", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"resource":"`+strings.Repeat("a", 3<<20)+`"}`)
		}},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(20 * time.Second):
			}
		}},
		{"wrong resource", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"resource":"https://elsewhere.example/mcp","authorization_servers":["https://as.example"]}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
			h := hostile(t, tt.prm)
			f.addServer("hostile", h.URL+"/mcp")
			mgr := oauth.New(oauth.Config{Store: f.store, Sealer: f.keys, Credentials: f.pre,
				HTTPClient: &http.Client{Timeout: 2 * time.Second}, PublicURL: "https://gw.example",
				Logger: slog.New(slog.DiscardHandler)})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			_, err := mgr.Start(ctx, "hostile", "alice")
			if !errors.Is(err, oauth.ErrDiscovery) {
				t.Fatalf("got %v, want a discovery error", err)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Fatalf("discovery took %s", d)
			}
		})
	}
}

// Discovery goes through the egress policy: an authorization server on a
// private address is refused at dial time unless it is allowed.
func TestDiscoveryHonoursEgressPolicy(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	refused := oauth.New(oauth.Config{Store: f.store, Sealer: f.keys, Credentials: f.pre,
		HTTPClient: egress.Policy{}.Client(), PublicURL: "https://gw.example", Logger: slog.New(slog.DiscardHandler)})
	_, err := refused.Start(context.Background(), "upstream", "alice")
	if err == nil || !strings.Contains(err.Error(), "MCPGATE_EGRESS_ALLOW") {
		t.Fatalf("loopback authorization server without an allow list: %v", err)
	}
	allowed := oauth.New(oauth.Config{Store: f.store, Sealer: f.keys, Credentials: f.pre,
		HTTPClient: egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}.Client(),
		PublicURL:  "https://gw.example", Logger: slog.New(slog.DiscardHandler)})
	if _, err := allowed.Start(context.Background(), "upstream", "alice"); err != nil {
		t.Fatalf("with 127.0.0.0/8 allowed: %v", err)
	}
}

func TestCallbackAfterTenMinutesIsRefused(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	s, err := f.mgr.Start(context.Background(), "upstream", "alice")
	if err != nil {
		t.Fatal(err)
	}
	q := f.authorize(s.AuthorizationURL)
	late := oauth.New(oauth.Config{Store: f.store, Sealer: f.keys, Credentials: f.pre,
		HTTPClient: http.DefaultClient, PublicURL: "https://gw.example", Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Now().Add(oauth.AuthRequestTTL + time.Second) }})
	if _, err := late.Complete(context.Background(), q); !errors.Is(err, oauth.ErrStateExpired) {
		t.Fatalf("got %v, want ErrStateExpired", err)
	}
	// And the state is gone: it cannot be replayed in time either.
	if _, err := f.mgr.Complete(context.Background(), q); !errors.Is(err, oauth.ErrUnknownState) {
		t.Fatalf("replay after expiry: %v", err)
	}
}

func TestTokenResponsesWithoutExpiryOrWithGarbage(t *testing.T) {
	t.Run("no expires_in", func(t *testing.T) {
		f := newFixture(t, oauthtest.AuthServerOptions{OmitExpiresIn: true}, oauthtest.ProtectedMCPServerOptions{})
		c := f.connect("alice")
		if !c.ExpiresAt.IsZero() {
			t.Fatalf("unknown lifetime must be stored as zero, got %v", c.ExpiresAt)
		}
		if cred, err := f.token("alice"); err != nil || cred.Token == "" {
			t.Fatalf("token: %v", err)
		}
	})
	for name, body := range map[string]string{
		"not json":         `<html>oops</html>`,
		"no access token":  `{"token_type":"Bearer"}`,
		"wrong token type": `{"access_token":"x","token_type":"MAC"}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
			// A token endpoint that answers garbage, behind real metadata.
			bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, body)
			}))
			defer bad.Close()
			s, err := f.mgr.Start(context.Background(), "upstream", "alice")
			if err != nil {
				t.Fatal(err)
			}
			q := f.authorize(s.AuthorizationURL)
			garbage := oauth.New(oauth.Config{Store: f.store, Sealer: f.keys, Credentials: f.pre,
				HTTPClient: &http.Client{Transport: redirectToken{f.as.TokenURL(), bad.URL}}, PublicURL: "https://gw.example",
				Logger: slog.New(slog.DiscardHandler)})
			if _, err := garbage.Complete(context.Background(), q); !errors.Is(err, oauth.ErrBadTokenResponse) {
				t.Fatalf("got %v, want ErrBadTokenResponse", err)
			}
		})
	}
}

// redirectToken sends requests for the token endpoint to another server.
type redirectToken struct{ token, to string }

func (r redirectToken) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.String() == r.token {
		req = req.Clone(req.Context())
		u := *req.URL
		nu, _ := http.NewRequest(req.Method, r.to, nil)
		u.Scheme, u.Host, u.Path = nu.URL.Scheme, nu.URL.Host, "/"
		req.URL, req.Host = &u, nu.URL.Host
	}
	return http.DefaultTransport.RoundTrip(req)
}
