package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/oauth"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
)

// clock is a settable time source for managers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// A workload identity token is exchanged for the shared connection with the
// JWT-bearer grant, kept sealed, and presented again for the next access
// token; the upstream takes the tokens.
func TestJWTBearerConnection(t *testing.T) {
	key, jwks := oauthtest.NewES256Key()
	f := newFixture(t, oauthtest.AuthServerOptions{AssertionKeys: jwks, DisableRegistration: true}, oauthtest.ProtectedMCPServerOptions{})
	f.as.RegisterClient(oauthtest.Client{ID: "workload", GrantTypes: []string{oauthtest.GrantJWTBearer}})
	f.pre["upstream"] = oauth.PreRegistered{ClientID: "workload", AuthMethod: "none"}
	clk := &clock{t: time.Now()}
	mgr := f.managerOn(f.store, "proc-1", clk.now)
	ctx := t.Context()

	assertion, err := oauthtest.SignClientAssertion(key, "system:serviceaccount:agents:runner", f.as.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	c, err := mgr.ConnectAssertion(ctx, "upstream", "", assertion)
	if err != nil {
		t.Fatalf("ConnectAssertion: %v", err)
	}
	if c.GrantType != "jwt_bearer" || !c.Shared() || c.State != mcpgate.StateConnected || len(c.RefreshToken) != 0 {
		t.Fatalf("connection = %+v", c)
	}
	first, err := mgr.Token(ctx, "upstream", "alice")
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if got := callUpstream(t, f, first.Token); got != http.StatusOK {
		t.Fatalf("upstream answered %d to the JWT-bearer token", got)
	}
	clk.advance(2 * time.Hour) // past the access token's hour
	next, err := mgr.Token(ctx, "upstream", "alice")
	if err != nil {
		t.Fatalf("Token after expiry: %v", err)
	}
	if next.Token == first.Token {
		t.Fatal("an expired access token was used again")
	}
	if st := f.as.Stats(); st.JWTBearerGrants != 2 {
		t.Fatalf("%d JWT-bearer grants; want 2 (connect, then renewal with the kept assertion)", st.JWTBearerGrants)
	}
	if bytes.Contains(f.dbBytes(), []byte(assertion)) {
		t.Fatal("the assertion is in the database in clear")
	}
}

// Assertions the authorization server refuses, or that are not JWTs, store
// nothing; a malformed one is refused before any request.
func TestJWTBearerRefusals(t *testing.T) {
	_, jwks := oauthtest.NewES256Key()
	other, _ := oauthtest.NewES256Key()
	f := newFixture(t, oauthtest.AuthServerOptions{AssertionKeys: jwks}, oauthtest.ProtectedMCPServerOptions{})
	f.as.RegisterClient(oauthtest.Client{ID: "workload", GrantTypes: []string{oauthtest.GrantJWTBearer}})
	f.pre["upstream"] = oauth.PreRegistered{ClientID: "workload", AuthMethod: "none"}
	ctx := t.Context()

	forged, _ := oauthtest.SignClientAssertion(other, "intruder", f.as.Issuer())
	_, err := f.mgr.ConnectAssertion(ctx, "upstream", "", forged)
	var te *oauth.TokenError
	if !errors.As(err, &te) || te.Code != "invalid_grant" {
		t.Fatalf("forged assertion: %v; want the authorization server's invalid_grant", err)
	}
	for _, bad := range []string{"", "not-a-jwt", "a.b", "a.b.c.d", "a$.b.c"} {
		if _, err := f.mgr.ConnectAssertion(ctx, "upstream", "", bad); !errors.Is(err, mcpgate.ErrInvalid) {
			t.Errorf("assertion %q: %v; want an invalid-input error", bad, err)
		}
	}
	if _, err := f.mgr.ConnectAssertion(ctx, "missing", "", forged); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("unknown server: %v", err)
	}
	if conns, _ := f.store.ListConnections(ctx); len(conns) != 0 {
		t.Fatalf("refused assertions left connections: %+v", conns)
	}
}

// Enterprise-managed authorization: the user's ID token is exchanged at the
// identity provider for an ID-JAG (for this authorization server and
// resource), which the authorization server takes as a JWT-bearer grant.
// The ID token is exchanged again for the next access token.
func TestEnterpriseManagedConnection(t *testing.T) {
	idpKey, idpJWKS := oauthtest.NewES256Key()
	f := newFixture(t, oauthtest.AuthServerOptions{AssertionKeys: idpJWKS}, oauthtest.ProtectedMCPServerOptions{})
	f.as.RegisterClient(oauthtest.Client{ID: "gateway", Secret: "gw-secret", GrantTypes: []string{oauthtest.GrantJWTBearer}})
	f.pre["upstream"] = oauth.PreRegistered{ClientID: "gateway", Secret: "gw-secret", AuthMethod: "client_secret_basic"}
	const idToken = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
	var exchanges atomic.Int32
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		want := map[string]string{
			"grant_type":           "urn:ietf:params:oauth:grant-type:token-exchange",
			"requested_token_type": "urn:ietf:params:oauth:token-type:id-jag",
			"subject_token":        idToken,
			"subject_token_type":   "urn:ietf:params:oauth:token-type:id_token",
			"audience":             f.as.Issuer(),
			"resource":             f.up.URL(),
			"client_id":            "gateway-at-idp",
		}
		for k, v := range want {
			if got := r.PostForm.Get(k); got != v {
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": k + " = " + got})
				return
			}
		}
		exchanges.Add(1)
		jag, _ := oauthtest.SignClientAssertion(idpKey, "alice", f.as.Issuer())
		json.NewEncoder(w).Encode(map[string]string{"access_token": jag, "issued_token_type": "urn:ietf:params:oauth:token-type:id-jag", "token_type": "N_A"})
	}))
	t.Cleanup(idp.Close)
	clk := &clock{t: time.Now()}
	mgr := oauth.New(oauth.Config{
		Store: f.store, Sealer: f.keys, Credentials: f.pre,
		HTTPClient: &http.Client{Timeout: 10 * time.Second}, PublicURL: "https://gw.example", ProcessID: "p",
		LinkKey:          []byte("0123456789abcdef0123456789abcdef"),
		IdentityProvider: &oauth.IdentityProvider{TokenEndpoint: idp.URL + "/token", ClientID: "gateway-at-idp"},
		Now:              clk.now,
	})
	ctx := t.Context()

	if _, err := mgr.ConnectEnterprise(ctx, "upstream", "", idToken); !errors.Is(err, mcpgate.ErrInvalid) {
		t.Fatalf("shared enterprise connection: %v; want refused (an ID token is a user's)", err)
	}
	c, err := mgr.ConnectEnterprise(ctx, "upstream", "alice", idToken)
	if err != nil {
		t.Fatalf("ConnectEnterprise: %v", err)
	}
	if c.GrantType != "id_jag" || c.User != "alice" {
		t.Fatalf("connection = %+v", c)
	}
	tok, err := mgr.Token(ctx, "upstream", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got := callUpstream(t, f, tok.Token); got != http.StatusOK {
		t.Fatalf("upstream answered %d", got)
	}
	clk.advance(2 * time.Hour)
	if _, err := mgr.Token(ctx, "upstream", "alice"); err != nil {
		t.Fatalf("Token after expiry: %v", err)
	}
	if n, st := exchanges.Load(), f.as.Stats(); n != 2 || st.JWTBearerGrants != 2 {
		t.Fatalf("%d exchanges at the identity provider, %d JWT-bearer grants; want 2 and 2", n, st.JWTBearerGrants)
	}
	if bytes.Contains(f.dbBytes(), []byte(idToken)) {
		t.Fatal("the ID token is in the database in clear")
	}

	// Without an identity provider the grant is not offered.
	if _, err := f.mgr.ConnectEnterprise(ctx, "upstream", "bob", idToken); !errors.Is(err, mcpgate.ErrInvalid) {
		t.Fatalf("no identity provider: %v", err)
	}
}

// callUpstream sends one MCP request with token and returns the status.
func callUpstream(t *testing.T, f *fixture, token string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, f.up.URL(),
		bytes.NewReader([]byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The gateway's workload identity token lives in a file its platform keeps
// current: the connection stores nothing of it, and each new access token
// presents what the file holds at that moment.
func TestWorkloadIdentityFileIsReadForEachToken(t *testing.T) {
	key, jwks := oauthtest.NewES256Key()
	f := newFixture(t, oauthtest.AuthServerOptions{AssertionKeys: jwks, DisableRegistration: true}, oauthtest.ProtectedMCPServerOptions{})
	f.as.RegisterClient(oauthtest.Client{ID: "workload", GrantTypes: []string{oauthtest.GrantJWTBearer}})
	f.pre["upstream"] = oauth.PreRegistered{ClientID: "workload", AuthMethod: "none"}
	file := filepath.Join(t.TempDir(), "token")
	write := func(subject string) string {
		t.Helper()
		jwt, err := oauthtest.SignClientAssertion(key, subject, f.as.Issuer())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(jwt+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return jwt
	}
	clk := &clock{t: time.Now()}
	mgr := oauth.New(oauth.Config{
		Store: f.store, Sealer: f.keys, Credentials: f.pre,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		PublicURL:  "https://gw.example", ProcessID: "proc-1",
		LinkKey: []byte("0123456789abcdef0123456789abcdef"),
		Logger:  slog.New(slog.DiscardHandler), Now: clk.now,
		WorkloadIdentityTokenFile: file,
	})
	ctx := t.Context()
	subjectOf := func(tok string) string {
		t.Helper()
		info, ok := f.as.Validate(tok)
		if !ok {
			t.Fatalf("the authorization server does not know token %.12s…", tok)
		}
		return info.Subject
	}

	first := write("system:serviceaccount:agents:runner-1")
	c, err := mgr.ConnectWorkloadIdentity(ctx, "upstream")
	if err != nil {
		t.Fatalf("ConnectWorkloadIdentity: %v", err)
	}
	if c.GrantType != "workload_identity" || !c.Shared() || len(c.GrantCredential) != 0 {
		t.Fatalf("connection = %+v; want a shared workload_identity connection that stores no credential", c)
	}
	cred, err := mgr.Token(ctx, "upstream", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got := subjectOf(cred.Token); got != "system:serviceaccount:agents:runner-1" {
		t.Fatalf("first token's subject %q", got)
	}

	// The platform rotates the token; the next access token presents the new one.
	write("system:serviceaccount:agents:runner-2")
	clk.advance(2 * time.Hour)
	next, err := mgr.Token(ctx, "upstream", "alice")
	if err != nil {
		t.Fatalf("Token after expiry: %v", err)
	}
	if got := subjectOf(next.Token); got != "system:serviceaccount:agents:runner-2" {
		t.Fatalf("after rotation the token's subject is %q; the file was not read again", got)
	}
	if bytes.Contains(f.dbBytes(), []byte(first)) {
		t.Fatal("the workload identity token is in the database")
	}
}

// Without a usable token file there is no workload identity connection, and
// the caller is told why (invalid input, not a gateway failure).
func TestWorkloadIdentityRefusals(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	f.pre["upstream"] = oauth.PreRegistered{ClientID: "workload", AuthMethod: "none"}
	dir := t.TempDir()
	notJWT := filepath.Join(dir, "garbage")
	if err := os.WriteFile(notJWT, []byte("not a token"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, file, want string }{
		{"not configured", "", "no workload identity token file"},
		{"missing file", filepath.Join(dir, "missing"), "no such file"},
		{"not a JWT", notJWT, "not a JWT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mgr := oauth.New(oauth.Config{
				Store: f.store, Sealer: f.keys, Credentials: f.pre, HTTPClient: &http.Client{Timeout: 10 * time.Second},
				PublicURL: "https://gw.example", LinkKey: []byte("0123456789abcdef0123456789abcdef"),
				Logger: slog.New(slog.DiscardHandler), WorkloadIdentityTokenFile: tc.file,
			})
			_, err := mgr.ConnectWorkloadIdentity(t.Context(), "upstream")
			if !errors.Is(err, mcpgate.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ConnectWorkloadIdentity = %v; want an invalid-input error mentioning %q", err, tc.want)
			}
		})
	}
	if conns, _ := f.store.ListConnections(t.Context()); len(conns) != 0 {
		t.Fatalf("refusals left connections: %+v", conns)
	}
	if st := f.as.Stats(); st.TokenRequests != 0 {
		t.Fatalf("%d token requests; a refused token file must not reach the provider", st.TokenRequests)
	}
}
