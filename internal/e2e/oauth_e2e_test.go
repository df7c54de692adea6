package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/e2e/gatewaytest"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
)

// TestOAuthConnectFlow runs the upstream connect flow through a real
// gateway the way an administrator and a user do: POST /api/v1/connections,
// the authorization server's redirect, the gateway's callback page, then an
// MCP client whose calls reach the upstream with the user's token. A user
// without a connection gets a readable JSON-RPC error with a working connect
// link; a shared connection serves users without their own.
func TestOAuthConnectFlow(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u := newOAuthUpstream(t, oauthtest.AuthServerOptions{RequireResource: true})
	gw := u.gatewayFor(t, nil)

	page := gw.Connect(t, adminapi.ConnectRequest{Server: upstreamName, User: "alice"})
	if !strings.Contains(page.Body, "user alice") {
		t.Errorf("the callback page does not say for whom: %.500s", page.Body)
	}
	conn := gw.Connection(t, upstreamName, "alice")
	if conn.State != "connected" || !conn.HasRefreshToken || conn.Generation != 1 || conn.Issuer != u.as.Issuer() || conn.ClientID == "" {
		t.Fatalf("connection after the callback: %+v", conn)
	}
	if _, ok := u.as.RegisteredClient(conn.ClientID); !ok {
		t.Errorf("the connection's client id %q is not registered at the authorization server", conn.ClientID)
	}

	alice := session(ctx, t, gw, "alice")
	who, err := whoami(ctx, alice)
	if err != nil {
		t.Fatalf("whoami through the gateway: %v", err)
	}
	if who.ClientID != conn.ClientID || who.Resource != u.up.URL() || who.Subject != "test-user" || who.Generation != 0 {
		t.Fatalf("the upstream saw %+v; want client %q, resource %q (RFC 8707), generation 0", who, conn.ClientID, u.up.URL())
	}
	if info, ok := u.as.Validate(u.up.LastToken()); !ok || info.ClientID != conn.ClientID {
		t.Errorf("the token the upstream received is not the gateway's: %+v %v", info, ok)
	}

	// bob has no connection: a JSON-RPC error that tells him what to do,
	// not an HTTP 401 his client would take for a bad grant.
	_, bobToken := gw.CreateGrant(t, "bob", upstreamName)
	status, rerr := oauthInitialize(ctx, t, gw.URL(upstreamName), bobToken)
	if status == http.StatusUnauthorized || rerr == nil {
		t.Fatalf("a user without a connection got HTTP %d, error %+v; want a JSON-RPC error, not a 401", status, rerr)
	}
	wantCmd := "mcpgate connect " + upstreamName + " --user bob"
	if rerr.Code != codeUpstreamAuth || !strings.Contains(rerr.Message, "not connected for this user") ||
		!strings.Contains(rerr.Message, wantCmd) || !strings.Contains(rerr.Message, gw.PublicURL+"/oauth/connect?") {
		t.Errorf("error for a user without a connection: code %d, message %q; want %d, saying the server is not connected for this user, with %q and a connect link",
			rerr.Code, rerr.Message, codeUpstreamAuth, wantCmd)
	}
	if rerr.Data.Reason != "not_connected" || rerr.Data.ConnectCommand != wantCmd || rerr.Data.User != "bob" ||
		!strings.HasPrefix(rerr.Data.ConnectURL, gw.PublicURL+"/oauth/connect?") {
		t.Fatalf("error data %+v; want reason not_connected, connect_command %q, connect_url under %s/oauth/connect", rerr.Data, wantCmd, gw.PublicURL)
	}
	// The Go SDK client shows the same message to its user.
	if _, err := connectGo(ctx, gw.URL(upstreamName), bobToken, ""); err == nil || !strings.Contains(err.Error(), wantCmd) {
		t.Errorf("Go SDK connect for a user without a connection: %v; want the error naming %q", err, wantCmd)
	}

	// The link works: it redirects to the authorization server, and
	// finishing there connects bob.
	link := gatewaytest.Open(t, rerr.Data.ConnectURL)
	if link.Status != http.StatusFound || !strings.HasPrefix(link.Location, u.as.AuthorizationURL()+"?") {
		t.Fatalf("connect link answered %d to %q; want 302 to %s", link.Status, link.Location, u.as.AuthorizationURL())
	}
	if p := gw.Authorize(t, link.Location); p.Status != http.StatusOK || !strings.Contains(p.Body, "Connected") {
		t.Fatalf("callback after the connect link: %d %.500s", p.Status, p.Body)
	}
	bob := session(ctx, t, gw, "bob")
	bobWho, err := whoami(ctx, bob)
	if err != nil {
		t.Fatalf("whoami for bob after the connect link: %v", err)
	}
	if bobWho.Family == who.Family {
		t.Errorf("bob uses alice's token family %s", who.Family)
	}

	// A shared connection serves carol, who has none of her own; alice
	// keeps hers.
	gw.Connect(t, adminapi.ConnectRequest{Server: upstreamName, Shared: true})
	shared := gw.Connection(t, upstreamName, "")
	if !shared.Shared || shared.State != "connected" {
		t.Fatalf("shared connection: %+v", shared)
	}
	carol := session(ctx, t, gw, "carol")
	carolWho, err := whoami(ctx, carol)
	if err != nil {
		t.Fatalf("whoami for carol through the shared connection: %v", err)
	}
	if carolWho.Family == who.Family || carolWho.Family == bobWho.Family {
		t.Errorf("carol got a user's token family %s, want the shared connection's", carolWho.Family)
	}
	if again, err := whoami(ctx, alice); err != nil || again.Family != who.Family {
		t.Errorf("alice after the shared connection was made: %+v %v; want her own family %s", again, err, who.Family)
	}
}

// TestOAuthInvalidGrantNeedsReauthWithoutLoop: when the provider revokes the
// tokens, the refresh fails with invalid_grant; calls get the JSON-RPC
// reauth error, the admin API shows why, and the gateway stops asking the
// provider however many calls come. Connecting again heals it.
func TestOAuthInvalidGrantNeedsReauthWithoutLoop(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const ttl = time.Second
	u := newOAuthUpstream(t, oauthtest.AuthServerOptions{AccessTTL: ttl})
	gw := u.gatewayFor(t, nil)
	gw.Connect(t, adminapi.ConnectRequest{Server: upstreamName, User: "alice"})
	cs := session(ctx, t, gw, "alice")
	if _, err := whoami(ctx, cs); err != nil {
		t.Fatalf("whoami before the revocation: %v", err)
	}

	u.as.RevokeAll()
	time.Sleep(ttl + 200*time.Millisecond) // the access token has expired too
	wantCmd := "mcpgate connect " + upstreamName + " --user alice"
	_, token := gw.CreateGrant(t, "alice", upstreamName)
	check := func(i int) {
		t.Helper()
		// What the agent's client shows: the Go SDK session's call fails
		// with the gateway's message.
		_, err := whoami(ctx, cs)
		if err == nil || !strings.Contains(err.Error(), "must be re-authorized") || !strings.Contains(err.Error(), wantCmd) {
			t.Fatalf("call %d after invalid_grant: %v; want an error saying the connection must be re-authorized, with %q", i, err, wantCmd)
		}
		// What is on the wire: HTTP 200 with the JSON-RPC error and its data.
		status, rerr := oauthInitialize(ctx, t, gw.URL(upstreamName), token)
		if status != http.StatusOK || rerr == nil || rerr.Code != codeUpstreamAuth || rerr.Data.Reason != "reauth_required" ||
			rerr.Data.ConnectCommand != wantCmd || !strings.HasPrefix(rerr.Data.ConnectURL, gw.PublicURL+"/oauth/connect?") {
			t.Fatalf("request %d after invalid_grant: HTTP %d, %+v; want 200 with JSON-RPC %d, reason reauth_required, %q and a connect link",
				i, status, rerr, codeUpstreamAuth, wantCmd)
		}
	}
	check(0)
	// The Go SDK surfaces the gateway's error as an ordinary call error
	// with its message (the gateway's codes avoid the SDK's own).
	if _, err := whoami(ctx, cs); err == nil || errors.Is(err, mcp.ErrConnectionClosed) || !strings.Contains(err.Error(), "re-authorized") {
		t.Fatalf("Go SDK client after invalid_grant: %v; want a call error saying to re-authorize", err)
	}
	conn := gw.Connection(t, upstreamName, "alice")
	if conn.State != "reauth_required" || !strings.Contains(conn.LastError, "invalid_grant") || conn.LastErrorAt == nil {
		t.Fatalf("GET /api/v1/connections: state %q, last_error %q; want reauth_required with the invalid_grant", conn.State, conn.LastError)
	}

	before := u.as.Stats()
	deadline := time.Now().Add(2500 * time.Millisecond) // past the refresh sweep's interval of a 1 s token
	calls := 0
	for time.Now().Before(deadline) {
		calls++
		check(calls)
		time.Sleep(100 * time.Millisecond)
	}
	after := u.as.Stats()
	if after.TokenRequests != before.TokenRequests {
		t.Fatalf("%d token requests during %d calls after reauth_required: the gateway loops", after.TokenRequests-before.TokenRequests, calls)
	}
	t.Logf("reauth: %d calls over 2.5 s answered reauth_required, 0 token requests; last_error %q", calls, conn.LastError)

	// Connecting again heals the connection; the agent's session survived
	// the errors.
	gw.Connect(t, adminapi.ConnectRequest{Server: upstreamName, User: "alice"})
	if _, err := whoami(ctx, cs); err != nil {
		t.Fatalf("whoami after reconnecting: %v", err)
	}
	if c := gw.Connection(t, upstreamName, "alice"); c.State != "connected" || c.LastError != "" {
		t.Errorf("after reconnecting: state %q, last_error %q", c.State, c.LastError)
	}
}

// TestOAuthRevokedAtProviderBeforeExpiry: the user revokes the gateway's
// access at the provider while the access token has most of its life left.
// The upstream answers 401, the refresh meets invalid_grant, and the agent
// must get the same readable reauth error (HTTP 200, JSON-RPC, connect
// link) as after an expiry — not a "try again" that it would retry forever.
func TestOAuthRevokedAtProviderBeforeExpiry(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u := newOAuthUpstream(t, oauthtest.AuthServerOptions{})
	gw := u.gatewayFor(t, nil)
	gw.Connect(t, adminapi.ConnectRequest{Server: upstreamName, User: "alice"})
	_, token := gw.CreateGrant(t, "alice", upstreamName)
	cs := session(ctx, t, gw, "alice")
	if _, err := whoami(ctx, cs); err != nil {
		t.Fatal(err)
	}
	u.as.RevokeAll()
	wantCmd := "mcpgate connect " + upstreamName + " --user alice"
	if _, err := whoami(ctx, cs); err == nil || !strings.Contains(err.Error(), "must be re-authorized") || !strings.Contains(err.Error(), wantCmd) {
		t.Fatalf("the first call after the revocation: %v; want the reauth error naming %q", err, wantCmd)
	}
	status, rerr := oauthInitialize(ctx, t, gw.URL(upstreamName), token)
	if status != http.StatusOK || rerr == nil || rerr.Code != codeUpstreamAuth || rerr.Data.Reason != "reauth_required" || rerr.Data.ConnectURL == "" {
		t.Fatalf("after the revocation: HTTP %d, %+v; want 200 with JSON-RPC %d, reason reauth_required and a connect link", status, rerr, codeUpstreamAuth)
	}
	if c := gw.Connection(t, upstreamName, "alice"); c.State != "reauth_required" || !strings.Contains(c.LastError, "invalid_grant") {
		t.Fatalf("connection: state %q, last_error %q; want reauth_required with the invalid_grant", c.State, c.LastError)
	}
	if st := u.as.Stats(); st.Refreshes != 0 || st.TokenErrors != 1 {
		t.Errorf("token endpoint: %d refreshes, %d errors; want the one failed refresh", st.Refreshes, st.TokenErrors)
	}
}

// TestOAuthUpstream401TransparentRetry: the provider revokes access tokens
// before their expiry; the upstream answers 401, the gateway refreshes once
// and retries, and the agents see only successes.
func TestOAuthUpstream401TransparentRetry(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u := newOAuthUpstream(t, oauthtest.AuthServerOptions{})
	gw := u.gatewayFor(t, nil)
	gw.Connect(t, adminapi.ConnectRequest{Server: upstreamName, User: "alice"})
	a, b := session(ctx, t, gw, "alice"), session(ctx, t, gw, "alice")
	first, err := whoami(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := whoami(ctx, b); err != nil {
		t.Fatal(err)
	}
	unauthorized := u.up.Stats().Unauthorized

	u.as.ExpireAccessTokens()
	// Eight calls at once on two sessions all meet the 401.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	gens := make(chan int, 8)
	for i := range 8 {
		cs := a
		if i%2 == 1 {
			cs = b
		}
		wg.Go(func() {
			who, err := whoami(ctx, cs)
			errs <- err
			gens <- who.Generation
		})
	}
	wg.Wait()
	close(errs)
	close(gens)
	for err := range errs {
		if err != nil {
			t.Errorf("a call after the access tokens were revoked failed: %v", err)
		}
	}
	for g := range gens {
		if g != first.Generation+1 {
			t.Errorf("a call used token generation %d, want %d", g, first.Generation+1)
		}
	}
	st := u.as.Stats()
	if st.Refreshes != 1 || st.ReuseDetections != 0 {
		t.Fatalf("refreshes %d, reuse detections %d; want exactly one refresh", st.Refreshes, st.ReuseDetections)
	}
	seen := u.up.Stats().Unauthorized - unauthorized
	if seen == 0 {
		t.Fatal("the upstream never answered 401: the test did not exercise the retry")
	}
	if c := gw.Connection(t, upstreamName, "alice"); c.Generation != 2 || c.State != "connected" {
		t.Errorf("connection after the retry: generation %d, state %q", c.Generation, c.State)
	}
	t.Logf("401 retry: 8 concurrent calls met %d upstream 401s, all succeeded, 1 refresh", seen)
}

// TestOAuthTokensSealedAtRest: after a connect and a refresh, neither the
// access nor the refresh tokens appear in the gateway's SQLite files.
func TestOAuthTokensSealedAtRest(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u := newOAuthUpstream(t, oauthtest.AuthServerOptions{})
	gw := u.gatewayFor(t, nil)
	gw.Connect(t, adminapi.ConnectRequest{Server: upstreamName, User: "alice"})
	cs := session(ctx, t, gw, "alice")
	if _, err := whoami(ctx, cs); err != nil {
		t.Fatal(err)
	}
	u.as.ExpireAccessTokens() // one refresh: two generations went through the store
	if _, err := whoami(ctx, cs); err != nil {
		t.Fatal(err)
	}
	access, refresh := u.as.Issued()
	if len(access) != 2 || len(refresh) != 2 {
		t.Fatalf("the authorization server issued %d access and %d refresh tokens, want 2 and 2", len(access), len(refresh))
	}
	last := u.up.LastToken()
	if _, ok := u.as.Validate(last); !ok || last != access[1] {
		t.Fatalf("the upstream's last token is not the current access token")
	}
	conn := gw.Connection(t, upstreamName, "alice")

	var dump []byte
	for _, name := range []string{"mcpgate.db", "mcpgate.db-wal", "mcpgate.db-shm"} {
		b, err := os.ReadFile(filepath.Join(gw.DataDir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		dump = append(dump, b...)
	}
	// The dump is the right one, and clear text would be found in it.
	for _, clear := range []string{conn.ID, conn.ClientID, u.up.URL()} {
		if !strings.Contains(string(dump), clear) {
			t.Fatalf("the database files do not contain %q: not the gateway's database?", clear)
		}
	}
	assertNotInDump(t, "SQLite files", dump, map[string][]string{"access token": access, "refresh token": refresh})
	t.Logf("sealing (SQLite): %d bytes of database files hold none of %d access and %d refresh tokens", len(dump), len(access), len(refresh))
}
