package adminclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
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

func TestConnect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := adminclienttest.New(t, token)
	c := adminclient.New(fake.URL, token, fake.Client())
	if _, err := c.CreateServer(ctx, adminapi.CreateServerRequest{Name: "gh", URL: "https://example.com/mcp", OAuthClientID: "cid", OAuthClientSecret: "shh"}); err != nil {
		t.Fatalf("CreateServer: %v", err)
	}

	t.Run("authorization code answers 202 ConnectStarted", func(t *testing.T) {
		started, conn, err := c.Connect(ctx, adminapi.ConnectRequest{Server: "gh", User: "ann"})
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		if conn != nil {
			t.Errorf("conn = %+v, want nil", conn)
		}
		want := &adminapi.ConnectStarted{AuthorizationURL: adminclienttest.AuthorizationURL(1), ExpiresAt: adminclienttest.Now.Add(adminclienttest.AuthorizationTTL)}
		if diff := cmp.Diff(want, started); diff != "" {
			t.Errorf("started (-want +got):\n%s", diff)
		}
	})

	t.Run("client credentials answers 201 Connection", func(t *testing.T) {
		started, conn, err := c.Connect(ctx, adminapi.ConnectRequest{Server: "gh", Shared: true, ClientCredentials: true})
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		if started != nil {
			t.Errorf("started = %+v, want nil", started)
		}
		exp := adminclienttest.Now.Add(time.Hour)
		want := &adminapi.Connection{
			ID: "conn_000001", Server: "gh", Shared: true, State: "connected", GrantType: "client_credentials",
			Issuer: adminclienttest.Issuer, ClientID: "cid", Scopes: []string{}, ExpiresAt: &exp, Generation: 1,
			CreatedAt: adminclienttest.Now, UpdatedAt: adminclienttest.Now,
		}
		if diff := cmp.Diff(want, conn); diff != "" {
			t.Errorf("conn (-want +got):\n%s", diff)
		}
	})

	wantReqs := []adminapi.ConnectRequest{{Server: "gh", User: "ann"}, {Server: "gh", Shared: true, ClientCredentials: true}}
	if diff := cmp.Diff(wantReqs, fake.ConnectRequests()); diff != "" {
		t.Errorf("requests the fake saw (-want +got):\n%s", diff)
	}

	t.Run("API errors pass through", func(t *testing.T) {
		_, _, err := c.Connect(ctx, adminapi.ConnectRequest{Server: "nope", User: "ann"})
		var apiErr *adminclient.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound || err.Error() != `not found: server "nope"` {
			t.Errorf("err = %v, want the fake's 404", err)
		}
	})
}

func TestConnectAnswers(t *testing.T) {
	t.Parallel()
	answer := func(status int, body string) *adminclient.Client {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req adminapi.ConnectRequest
			b, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(b, &req); err != nil || req.Server != "gh" {
				t.Errorf("request body %s: %v", b, err)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return adminclient.New(srv.URL, token, srv.Client())
	}
	ctx := context.Background()
	req := adminapi.ConnectRequest{Server: "gh", Shared: true}

	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string
	}{
		{"202 decodes as started", 202, `{"authorization_url":"https://as/authorize?a=1&b=2","expires_at":"2025-06-01T12:10:00Z"}`, ""},
		{"201 decodes as a connection", 201, `{"id":"c1","server":"gh","shared":true}`, ""},
		{"200 is not in the contract", 200, `{"id":"c1"}`, "admin API answered 200 OK to POST /connections; want 201 or 202"},
		{"202 without a URL", 202, `{"expires_at":"2025-06-01T12:10:00Z"}`, "without an authorization URL"},
		{"undecodable 202", 202, `nope`, "decode admin API answer to POST /connections"},
		{"error", 400, `{"error":{"code":"invalid","message":"invalid: no"}}`, "invalid: no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started, conn, err := answer(tt.status, tt.body).Connect(ctx, req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if started != nil || conn != nil {
					t.Errorf("started = %v, conn = %v with an error, want both nil", started, conn)
				}
				return
			}
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			switch tt.status {
			case 202:
				if conn != nil || started == nil || started.AuthorizationURL != "https://as/authorize?a=1&b=2" {
					t.Errorf("started = %+v, conn = %+v", started, conn)
				}
			case 201:
				if started != nil || conn == nil || conn.ID != "c1" || !conn.Shared {
					t.Errorf("started = %+v, conn = %+v", started, conn)
				}
			}
		})
	}
}

func TestConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := adminclienttest.New(t, token)
	c := adminclient.New(fake.URL, token, fake.Client())

	exp := adminclienttest.Now.Add(time.Hour)
	ann := fake.AddConnection(adminapi.Connection{
		Server: "gh", User: "ann", State: "connected", GrantType: "authorization_code",
		Issuer: adminclienttest.Issuer, ClientID: "cid", Scopes: []string{"repo", "read:org"},
		HasRefreshToken: true, ExpiresAt: &exp, Generation: 3,
	})
	failedAt := adminclienttest.Now.Add(-time.Minute)
	shared := fake.AddConnection(adminapi.Connection{
		Server: "notion", State: "reauth_required", GrantType: "authorization_code", Scopes: []string{},
		RefreshFailures: 2, LastError: "refresh: invalid_grant", LastErrorAt: &failedAt,
	})
	if ann.ID != "conn_000001" || shared.ID != "conn_000002" || ann.Shared || !shared.Shared || ann.CreatedAt != adminclienttest.Now {
		t.Fatalf("AddConnection: %+v, %+v", ann, shared)
	}

	list, err := c.ListConnections(ctx)
	if err != nil {
		t.Fatalf("ListConnections: %v", err)
	}
	if diff := cmp.Diff([]adminapi.Connection{ann, shared}, list); diff != "" {
		t.Errorf("ListConnections (-want +got):\n%s", diff)
	}

	got, err := c.GetConnection(ctx, shared.ID)
	if err != nil {
		t.Fatalf("GetConnection: %v", err)
	}
	if diff := cmp.Diff(shared, got); diff != "" {
		t.Errorf("GetConnection (-want +got):\n%s", diff)
	}

	res, err := c.RevokeConnection(ctx, ann.ID)
	if err != nil {
		t.Fatalf("RevokeConnection: %v", err)
	}
	if diff := cmp.Diff(adminapi.RevokeResult{Connection: ann}, res); diff != "" {
		t.Errorf("RevokeConnection (-want +got):\n%s", diff)
	}

	fake.SetProviderError("revocation endpoint answered 503")
	res, err = c.RevokeConnection(ctx, shared.ID)
	if err != nil {
		t.Fatalf("RevokeConnection with a provider error: %v", err)
	}
	if res.ProviderError != "revocation endpoint answered 503" || res.Connection.ID != shared.ID {
		t.Errorf("RevokeConnection = %+v, want the provider error reported", res)
	}

	var apiErr *adminclient.APIError
	if _, err := c.GetConnection(ctx, ann.ID); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound ||
		err.Error() != `not found: connection "conn_000001"` {
		t.Errorf("GetConnection after revoke: err = %v, want a 404 APIError", err)
	}
	if _, err := c.RevokeConnection(ctx, ann.ID); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Errorf("RevokeConnection twice: err = %v, want a 404 APIError", err)
	}
	if list, err := c.ListConnections(ctx); err != nil || len(list) != 0 {
		t.Errorf("ListConnections after revoking all = %v, %v; want none", list, err)
	}
}

func TestRemoveUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := adminclienttest.New(t, token)
	c := adminclient.New(fake.URL, token, fake.Client())
	if _, err := c.CreateServer(ctx, adminapi.CreateServerRequest{Name: "gh", URL: "https://example.com/mcp"}); err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	for _, user := range []string{"ann@example.com", "bob", "ann@example.com"} {
		if _, err := c.CreateGrant(ctx, adminapi.CreateGrantRequest{User: user, Servers: []string{"gh"}}); err != nil {
			t.Fatalf("CreateGrant: %v", err)
		}
	}
	if _, err := c.RevokeGrant(ctx, "g_000003"); err != nil { // already revoked: not reported again
		t.Fatalf("RevokeGrant: %v", err)
	}
	fake.AddConnection(adminapi.Connection{Server: "gh", User: "ann@example.com"})
	fake.AddConnection(adminapi.Connection{Server: "gh"}) // shared: stays
	fake.AddConnection(adminapi.Connection{Server: "gh", User: "bob"})

	got, err := c.RemoveUser(ctx, "ann@example.com")
	if err != nil {
		t.Fatalf("RemoveUser: %v", err)
	}
	want := adminapi.UserRemoval{User: "ann@example.com", RemovedConnections: []string{"conn_000001"}, RevokedGrants: []string{"g_000001"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RemoveUser (-want +got):\n%s", diff)
	}
	list, err := c.ListConnections(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "conn_000002" || list[1].ID != "conn_000003" {
		t.Errorf("connections left = %+v, %v; want the shared one and bob's", list, err)
	}
	if g, err := c.GetGrant(ctx, "g_000002"); err != nil || g.Status != adminapi.GrantActive {
		t.Errorf("bob's grant = %+v, %v; want it active", g, err)
	}

	again, err := c.RemoveUser(ctx, "ann@example.com")
	if err != nil {
		t.Fatalf("RemoveUser again: %v", err)
	}
	if len(again.RemovedConnections) != 0 || len(again.RevokedGrants) != 0 {
		t.Errorf("RemoveUser again = %+v, want nothing left to remove", again)
	}

	fake.SetProviderError("provider unreachable")
	if got, err := c.RemoveUser(ctx, "bob"); err != nil || got.ProviderError != "provider unreachable" {
		t.Errorf("RemoveUser with a provider error = %+v, %v", got, err)
	}
}

func TestRotateKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := adminclienttest.New(t, token)
	c := adminclient.New(fake.URL, token, fake.Client())
	if _, err := c.CreateServer(ctx, adminapi.CreateServerRequest{
		Name: "gh", URL: "https://example.com/mcp", Headers: map[string]string{"A": "1", "B": "2"},
		OAuthClientID: "cid", OAuthClientSecret: "shh",
	}); err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	fake.AddConnection(adminapi.Connection{Server: "gh", User: "ann", HasRefreshToken: true})

	got, err := c.RotateKeys(ctx)
	if err != nil {
		t.Fatalf("RotateKeys: %v", err)
	}
	// Two header values, a client secret, an access and a refresh token.
	if want := (adminapi.KeyRotation{PrimaryKeyID: adminclienttest.PrimaryKeyID, Rewrapped: 5}); got != want {
		t.Errorf("RotateKeys = %+v, want %+v", got, want)
	}

	_, err = adminclient.New(fake.URL, "wrong", fake.Client()).RotateKeys(ctx)
	var apiErr *adminclient.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Errorf("RotateKeys with a wrong token: err = %v, want a 401 APIError", err)
	}
}
