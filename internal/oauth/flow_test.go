package oauth_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/oauth"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
)

func TestConnectWithDynamicRegistration(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{RequireResource: true}, oauthtest.ProtectedMCPServerOptions{})
	c := f.connect("alice")
	if c.State != mcpgate.StateConnected || c.User != "alice" || c.Server != "upstream" || c.Generation != 1 {
		t.Fatalf("connection: %+v", c)
	}
	if c.Resource != f.up.URL() || c.Issuer != f.as.Issuer() || len(c.RefreshToken) == 0 {
		t.Fatalf("resource %q issuer %q refresh %d", c.Resource, c.Issuer, len(c.RefreshToken))
	}
	if !slices.Contains(c.Scopes, "offline_access") {
		t.Errorf("offline_access is advertised and must be requested: %v", c.Scopes)
	}
	cred, err := f.token("alice")
	if err != nil || cred.Token == "" {
		t.Fatalf("token: %v", err)
	}
	info, ok := f.as.Validate(cred.Token)
	if !ok || info.Resource != f.up.URL() {
		t.Fatalf("token not valid for the upstream: %+v %v", info, ok)
	}
	if st := f.as.Stats(); st.Registrations != 1 {
		t.Errorf("registrations: %d", st.Registrations)
	}
	// A second user reuses the stored registration.
	f.connect("bob")
	if st := f.as.Stats(); st.Registrations != 1 {
		t.Errorf("the registration must be reused per issuer: %d registrations", st.Registrations)
	}
	// Nothing secret in the database in clear.
	db := f.dbBytes()
	if bytes.Contains(db, []byte(cred.Token)) {
		t.Fatal("an access token is stored in clear")
	}
}

func TestUserConnectionThenSharedFallback(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	if cred, err := f.token("carol"); err != nil || cred.Token != "" {
		t.Fatalf("no connection: want no token and no error, got %+v %v", cred, err)
	}
	f.connect("") // shared
	cred, err := f.token("carol")
	if err != nil || cred.Token == "" || cred.User != "" {
		t.Fatalf("shared fallback: %+v %v", cred, err)
	}
	f.connect("carol")
	cred, err = f.token("carol")
	if err != nil || cred.User != "carol" {
		t.Fatalf("own connection first: %+v %v", cred, err)
	}
}

func TestRefreshAheadOfExpiryOncePerGeneration(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{AccessTTL: 2 * time.Second, RequireResource: true}, oauthtest.ProtectedMCPServerOptions{})
	f.connect("alice")
	first, _ := f.token("alice")
	deadline := time.Now().Add(7 * time.Second)
	seen := map[string]bool{first.Token: true}
	for time.Now().Before(deadline) {
		cred, err := f.token("alice")
		if err != nil {
			t.Fatalf("token: %v", err)
		}
		if _, ok := f.as.Validate(cred.Token); !ok {
			t.Fatalf("handed out an invalid token (generation %d)", cred.Generation)
		}
		seen[cred.Token] = true
		time.Sleep(20 * time.Millisecond)
	}
	if len(seen) < 3 {
		t.Fatalf("only %d distinct tokens over 3+ lifetimes", len(seen))
	}
	for gen, n := range f.as.RefreshesPerGeneration() {
		if n != 1 {
			t.Errorf("generation %s refreshed %d times", gen, n)
		}
	}
	if st := f.as.Stats(); st.ReuseDetections != 0 {
		t.Errorf("reuse detections: %d", st.ReuseDetections)
	}
}

func TestInvalidGrantMeansReauthWithoutLoop(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{AccessTTL: 2 * time.Second}, oauthtest.ProtectedMCPServerOptions{})
	f.connect("alice")
	f.as.RevokeAll()
	time.Sleep(2100 * time.Millisecond) // let the access token expire
	_, err := f.token("alice")
	if !errors.Is(err, mcpgate.ErrReauthRequired) {
		t.Fatalf("after invalid_grant: %v, want ErrReauthRequired", err)
	}
	before := f.as.Stats().TokenRequests
	for range 20 {
		if _, err := f.token("alice"); !errors.Is(err, mcpgate.ErrReauthRequired) {
			t.Fatalf("got %v", err)
		}
	}
	if after := f.as.Stats().TokenRequests; after != before {
		t.Fatalf("%d more token requests after reauth_required: a refresh loop", after-before)
	}
	c, _ := f.store.FindConnection(context.Background(), "upstream", "alice")
	if c.State != mcpgate.StateReauthRequired || c.LastError == "" {
		t.Fatalf("stored state %q, last error %q", c.State, c.LastError)
	}
	// Reconnecting heals it.
	f.connect("alice")
	if _, err := f.token("alice"); err != nil {
		t.Fatalf("after reconnect: %v", err)
	}
}

func TestTransientFailuresKeepTheOldToken(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{AccessTTL: 4 * time.Second}, oauthtest.ProtectedMCPServerOptions{})
	f.connect("alice")
	first, _ := f.token("alice")
	f.as.FailNextToken(100, 503)
	time.Sleep(3200 * time.Millisecond) // past the refresh point, before expiry
	cred, err := f.token("alice")
	if err != nil || cred.Token != first.Token {
		t.Fatalf("while the provider fails, the still-valid token is used: %+v %v", cred, err)
	}
	time.Sleep(200 * time.Millisecond)
	c, _ := f.store.FindConnection(context.Background(), "upstream", "alice")
	if c.State != mcpgate.StateConnected || c.RefreshFailures == 0 {
		t.Fatalf("a 5xx must not need re-authorization; state %q failures %d", c.State, c.RefreshFailures)
	}
	f.as.FailNextToken(0, 0)
	time.Sleep(1200 * time.Millisecond) // expired; backoff over
	var last error
	for range 50 {
		if cred, last = f.token("alice"); last == nil && cred.Token != first.Token {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the refresh never recovered: %v", last)
}

func TestRejectedTokenIsRefreshedOnce(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	f.connect("alice")
	cred, _ := f.token("alice")
	f.as.ExpireAccessTokens()
	// Two concurrent callers see the 401 for the same token: one refresh.
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- f.mgr.Rejected(context.Background(), cred) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	next, err := f.token("alice")
	if err != nil || next.Token == cred.Token || next.Generation != cred.Generation+1 {
		t.Fatalf("after 401: %+v %v", next, err)
	}
	if n := f.as.Stats().Refreshes; n != 1 {
		t.Errorf("refreshes: %d, want 1", n)
	}
}

func TestNoRefreshTokenMeansReauthAtExpiry(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{AccessTTL: 2 * time.Second, NoRefreshTokens: true}, oauthtest.ProtectedMCPServerOptions{})
	c := f.connect("alice")
	if len(c.RefreshToken) != 0 {
		t.Fatal("no refresh token was issued")
	}
	if _, err := f.token("alice"); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	time.Sleep(2100 * time.Millisecond)
	if _, err := f.token("alice"); !errors.Is(err, mcpgate.ErrReauthRequired) {
		t.Fatalf("after expiry: %v", err)
	}
}

func TestCallbackRefusals(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	start := func() url.Values {
		s, err := f.mgr.Start(context.Background(), "upstream", "alice")
		if err != nil {
			t.Fatal(err)
		}
		return f.authorize(s.AuthorizationURL)
	}
	with := func(q url.Values, k, v string) url.Values {
		q = url.Values(cloneQ(q))
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	used := start()
	if _, err := f.mgr.Complete(context.Background(), used); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    url.Values
		want error
	}{
		{"no state", with(start(), "state", ""), oauth.ErrUnknownState},
		{"unknown state", with(start(), "state", "forged"), oauth.ErrUnknownState},
		{"reused state", used, oauth.ErrUnknownState},
		{"wrong iss", with(start(), "iss", f.as.Issuer()+"/"), oauth.ErrIssuer},
		{"missing iss", with(start(), "iss", ""), oauth.ErrIssuer},
		{"authorization error", with(with(start(), "code", ""), "error", "access_denied"), oauth.ErrDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.mgr.Complete(context.Background(), tt.q); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func cloneQ(q url.Values) map[string][]string {
	out := map[string][]string{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

func TestStepUpOnInsufficientScope(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{ScopesSupported: []string{"read"}})
	f.connect("alice")
	cred, _ := f.token("alice")
	if err := f.mgr.InsufficientScope(context.Background(), cred, []string{"read", "admin"}); err != nil {
		t.Fatal(err)
	}
	c, _ := f.store.FindConnection(context.Background(), "upstream", "alice")
	if c.State != mcpgate.StateStepUpRequired || !slices.Contains(c.StepUpScopes, "admin") || !slices.Contains(c.StepUpScopes, "read") {
		t.Fatalf("step-up: %q %v", c.State, c.StepUpScopes)
	}
	// Re-authorizing asks for the union.
	s, err := f.mgr.Start(context.Background(), "upstream", "alice")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.AuthorizationURL)
	if sc := u.Query().Get("scope"); !strings.Contains(sc, "admin") || !strings.Contains(sc, "read") {
		t.Fatalf("step-up authorization asks for %q", sc)
	}
}

func TestRevokeCallsTheProvider(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	c := f.connect("alice")
	cred, _ := f.token("alice")
	if _, err := f.mgr.Revoke(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.as.Validate(cred.Token); ok {
		t.Error("the provider still accepts the revoked token")
	}
	if st := f.as.Stats(); st.Revocations == 0 {
		t.Error("no revocation request reached the provider")
	}
	if cred, err := f.token("alice"); err != nil || cred.Token != "" {
		t.Fatalf("after revoke: %+v %v", cred, err)
	}
}

func TestConnectLinks(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	link := f.mgr.ConnectLink("upstream", "alice")
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, "https://gw.example/oauth/connect?ticket=") {
		t.Fatalf("link %q", link)
	}
	ticket := u.Query().Get("ticket")
	server, user, err := f.mgr.ParseTicket(ticket)
	if err != nil || server != "upstream" || user != "alice" {
		t.Fatalf("ticket: %q %q %v", server, user, err)
	}
	for _, bad := range []string{"", "x", ticket + "x", "e30." + strings.SplitN(ticket, ".", 2)[1]} {
		if _, _, err := f.mgr.ParseTicket(bad); !errors.Is(err, oauth.ErrBadTicket) {
			t.Errorf("ticket %q accepted", bad)
		}
	}
}
