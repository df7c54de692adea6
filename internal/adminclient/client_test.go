package adminclient_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/adminclient"
	"github.com/mcpgate/mcpgate/internal/adminclient/adminclienttest"
)

const token = "admin-secret"

func TestServers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := adminclienttest.New(t, token)
	c := adminclient.New(fake.URL, token, fake.Client())

	created, err := c.CreateServer(ctx, adminapi.CreateServerRequest{
		Name:              "github",
		URL:               "https://api.example.com/mcp",
		Headers:           map[string]string{"X-Api-Key": "k"},
		OAuthClientID:     "cid",
		OAuthClientSecret: "shh",
	})
	if err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	want := adminapi.Server{
		Name: "github", URL: "https://api.example.com/mcp", Headers: []string{"X-Api-Key"},
		OAuthClientID: "cid", HasOAuthClientSecret: true, Source: "api",
		CreatedAt: adminclienttest.Now, UpdatedAt: adminclienttest.Now,
	}
	if diff := cmp.Diff(want, created); diff != "" {
		t.Errorf("CreateServer (-want +got):\n%s", diff)
	}

	got, err := c.GetServer(ctx, "github")
	if err != nil {
		t.Fatalf("GetServer: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetServer (-want +got):\n%s", diff)
	}

	list, err := c.ListServers(ctx)
	if err != nil {
		t.Fatalf("ListServers: %v", err)
	}
	if diff := cmp.Diff([]adminapi.Server{want}, list); diff != "" {
		t.Errorf("ListServers (-want +got):\n%s", diff)
	}

	if err := c.DeleteServer(ctx, "github"); err != nil {
		t.Fatalf("DeleteServer: %v", err)
	}
	var apiErr *adminclient.APIError
	if _, err := c.GetServer(ctx, "github"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Errorf("GetServer after delete: err = %v, want a 404 APIError", err)
	}
}

func TestGrants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := adminclienttest.New(t, token)
	c := adminclient.New(fake.URL, token, fake.Client())
	if _, err := c.CreateServer(ctx, adminapi.CreateServerRequest{Name: "github", URL: "https://example.com/mcp"}); err != nil {
		t.Fatalf("CreateServer: %v", err)
	}

	created, err := c.CreateGrant(ctx, adminapi.CreateGrantRequest{User: "ann", Servers: []string{"github"}, TTL: "24h", Label: "laptop"})
	if err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	exp := adminclienttest.Now.Add(24 * time.Hour)
	want := adminapi.Grant{
		ID: "g_000001", User: "ann", Servers: []string{"github"}, Label: "laptop",
		Status: adminapi.GrantActive, CreatedAt: adminclienttest.Now, ExpiresAt: &exp,
	}
	if diff := cmp.Diff(adminapi.CreatedGrant{Grant: want, Token: "mgt_test_g_000001"}, created); diff != "" {
		t.Errorf("CreateGrant (-want +got):\n%s", diff)
	}

	got, err := c.GetGrant(ctx, created.ID)
	if err != nil {
		t.Fatalf("GetGrant: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetGrant (-want +got):\n%s", diff)
	}

	list, err := c.ListGrants(ctx)
	if err != nil {
		t.Fatalf("ListGrants: %v", err)
	}
	if diff := cmp.Diff([]adminapi.Grant{want}, list); diff != "" {
		t.Errorf("ListGrants (-want +got):\n%s", diff)
	}

	for range 2 { // revoking is idempotent
		revoked, err := c.RevokeGrant(ctx, created.ID)
		if err != nil {
			t.Fatalf("RevokeGrant: %v", err)
		}
		if revoked.Status != adminapi.GrantRevoked || revoked.RevokedAt == nil {
			t.Errorf("RevokeGrant = status %q revoked_at %v, want revoked with a time", revoked.Status, revoked.RevokedAt)
		}
	}
}

// TestRequest checks what goes on the wire: the admin token, the path under
// a base URL with a prefix and a trailing slash, escaping, and the body type.
func TestRequest(t *testing.T) {
	t.Parallel()
	type seen struct{ method, uri, auth, contentType string }
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = seen{r.Method, r.RequestURI, r.Header.Get("Authorization"), r.Header.Get("Content-Type")}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	c := adminclient.New(srv.URL+"/gw/", "tok-123", srv.Client())
	ctx := context.Background()

	tests := []struct {
		name string
		call func() error
		want seen
	}{
		{"get server escapes the name", func() error { _, err := c.GetServer(ctx, "a/b"); return err },
			seen{"GET", "/gw/api/v1/servers/a%2Fb", "Bearer tok-123", ""}},
		{"create server sends JSON", func() error {
			_, err := c.CreateServer(ctx, adminapi.CreateServerRequest{Name: "x", URL: "http://u"})
			return err
		}, seen{"POST", "/gw/api/v1/servers", "Bearer tok-123", "application/json"}},
		{"delete server", func() error { return c.DeleteServer(ctx, "x") },
			seen{"DELETE", "/gw/api/v1/servers/x", "Bearer tok-123", ""}},
		{"list grants", func() error { _, err := c.ListGrants(ctx); return err },
			seen{"GET", "/gw/api/v1/grants", "Bearer tok-123", ""}},
		{"revoke grant", func() error { _, err := c.RevokeGrant(ctx, "g_1"); return err },
			seen{"POST", "/gw/api/v1/grants/g_1/revoke", "Bearer tok-123", ""}},
		{"list connections", func() error { _, err := c.ListConnections(ctx); return err },
			seen{"GET", "/gw/api/v1/connections", "Bearer tok-123", ""}},
		{"get connection escapes the id", func() error { _, err := c.GetConnection(ctx, "c/1"); return err },
			seen{"GET", "/gw/api/v1/connections/c%2F1", "Bearer tok-123", ""}},
		{"revoke connection", func() error { _, err := c.RevokeConnection(ctx, "c_1"); return err },
			seen{"DELETE", "/gw/api/v1/connections/c_1", "Bearer tok-123", ""}},
		{"remove user escapes the name", func() error { _, err := c.RemoveUser(ctx, "ann@example.com/x y"); return err },
			seen{"DELETE", "/gw/api/v1/users/ann@example.com%2Fx%20y", "Bearer tok-123", ""}},
		{"rotate keys", func() error { _, err := c.RotateKeys(ctx); return err },
			seen{"POST", "/gw/api/v1/keys/rotate", "Bearer tok-123", ""}},
	}
	for _, tt := range tests {
		// Not parallel: the handler writes got.
		got = seen{}
		if err := tt.call(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: request = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := adminclienttest.New(t, token)
	c := adminclient.New(fake.URL, token, fake.Client())
	if _, err := c.CreateServer(ctx, adminapi.CreateServerRequest{Name: "x", URL: "http://u"}); err != nil {
		t.Fatalf("CreateServer: %v", err)
	}

	raw := func(status int, contentType, body string) *adminclient.Client {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return adminclient.New(srv.URL, token, srv.Client())
	}

	tests := []struct {
		name   string
		call   func() error
		status int
		code   string
		msg    string
	}{
		{"conflict", func() error {
			_, err := c.CreateServer(ctx, adminapi.CreateServerRequest{Name: "x", URL: "http://u"})
			return err
		}, 409, "conflict", `conflict: server "x" already exists`},
		{"not found", func() error { _, err := c.GetGrant(ctx, "g_404"); return err },
			404, "not_found", `not found: grant "g_404"`},
		{"invalid", func() error {
			_, err := c.CreateGrant(ctx, adminapi.CreateGrantRequest{User: "ann", Servers: []string{"nope"}})
			return err
		}, 400, "invalid", `invalid: unknown server "nope"`},
		{"wrong admin token", func() error {
			_, err := adminclient.New(fake.URL, "wrong", fake.Client()).ListServers(ctx)
			return err
		}, 401, "unauthorized", "unauthorized: missing or wrong admin token"},
		{"internal", func() error {
			_, err := raw(500, "application/json", `{"error":{"code":"internal","message":"internal error"}}`).ListServers(ctx)
			return err
		}, 500, "internal", "internal error"},
		{"plain text from a proxy", func() error {
			_, err := raw(502, "text/plain; charset=utf-8", "upstream connect error\n").ListServers(ctx)
			return err
		}, 502, "", "admin API answered 502: upstream connect error"},
		{"html without a message", func() error {
			_, err := raw(503, "text/html", "<html>down</html>").ListServers(ctx)
			return err
		}, 503, "", "admin API answered 503 Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var apiErr *adminclient.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			if apiErr.Status != tt.status || apiErr.Code != tt.code || err.Error() != tt.msg {
				t.Errorf("err = {%d %q %q}, want {%d %q %q}", apiErr.Status, apiErr.Code, err.Error(), tt.status, tt.code, tt.msg)
			}
		})
	}

	t.Run("undecodable success", func(t *testing.T) {
		_, err := raw(200, "application/json", "not json").ListServers(ctx)
		var apiErr *adminclient.APIError
		if err == nil || errors.As(err, &apiErr) {
			t.Errorf("err = %v, want a decode error that is not an APIError", err)
		}
	})
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused

	_, err = adminclient.New(base, token, nil).ListServers(context.Background())
	if !errors.Is(err, adminclient.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	for _, want := range []string{"not reachable", base, "MCPGATE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to mention %q", err, want)
		}
	}
}
