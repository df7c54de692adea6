package oauth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/oauth"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
	"github.com/mcpgate/mcpgate/internal/store/sqlite"
)

// unreachableStore is the fixture's store with the reads and writes a
// refresh makes failing while down is set, as PostgreSQL's do while it
// restarts. Finding the connection (the token cache's reload) still works,
// so the refresh itself is what meets the outage.
type unreachableStore struct {
	*sqlite.DB
	down atomic.Bool
}

// errUnreachable looks like pgx's error: it names the database's user and
// address, which a client must not see.
var errUnreachable = errors.New("failed to connect to `user=gateway database=mcpgate`: 10.1.2.3:5432: dial error: connect: connection refused")

func (s *unreachableStore) GetConnection(ctx context.Context, id string) (mcpgate.Connection, error) {
	if s.down.Load() {
		return mcpgate.Connection{}, errUnreachable
	}
	return s.DB.GetConnection(ctx, id)
}

func (s *unreachableStore) UpdateConnection(ctx context.Context, c mcpgate.Connection) (mcpgate.Connection, error) {
	if s.down.Load() {
		return mcpgate.Connection{}, errUnreachable
	}
	return s.DB.UpdateConnection(ctx, c)
}

// A refresh that fails because the gateway's own store is unreachable is
// not the provider's failure (found by the PostgreSQL outage e2e test):
// Token must return a plain error, which the proxy answers with 503 "try
// again" — not the refresh-failing JSON-RPC error with HTTP 200, whose
// detail carried the database's user and address to the client — and must
// not back off: the first call after the store is back refreshes.
func TestRefreshWhileStoreUnreachable(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	conn := f.connect("alice")
	store := &unreachableStore{DB: f.store}
	var now atomic.Pointer[time.Time]
	later := time.Now().Add(2 * time.Hour) // the one-hour access token has expired
	now.Store(&later)
	mgr := f.managerOn(store, "proc-2", func() time.Time { return *now.Load() })
	token := func() (oauth.Credential, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return mgr.Token(ctx, "upstream", "alice")
	}

	store.down.Store(true)
	_, err := token()
	var ce *oauth.ConnectionError
	if err == nil || errors.As(err, &ce) || errors.Is(err, oauth.ErrRefreshFailing) {
		t.Fatalf("Token while the store is unreachable: %T %v; want a plain error (the proxy's 503), not a connection error", err, err)
	}
	if !errors.Is(err, errUnreachable) {
		t.Errorf("Token while the store is unreachable: %v; want the store's error (for the log)", err)
	}
	if st := f.as.Stats(); st.TokenRequests != 1 { // the code exchange
		t.Errorf("the provider got %d token requests; want none beyond the code exchange while the store is down", st.TokenRequests-1)
	}

	store.down.Store(false)
	cred, err := token()
	if err != nil || cred.Token == "" || cred.Generation != conn.Generation+1 {
		t.Fatalf("Token at the same instant, the store back: %+v %v; want generation %d refreshed at once (no backoff for a store failure)", cred, err, conn.Generation+1)
	}
	if st := f.as.Stats(); st.Refreshes != 1 || st.ReuseDetections != 0 {
		t.Errorf("refreshes %d, reuse detections %d; want 1 and 0", st.Refreshes, st.ReuseDetections)
	}
}

// downAfterLease is a store whose writes start failing right after the
// refresh lease is taken: the provider rotates the tokens, and the store
// cannot take them, as when PostgreSQL goes away mid-refresh.
type downAfterLease struct {
	*sqlite.DB
	writes atomic.Int32
	down   atomic.Bool
}

func (s *downAfterLease) UpdateConnection(ctx context.Context, c mcpgate.Connection) (mcpgate.Connection, error) {
	if s.down.Load() {
		return mcpgate.Connection{}, errUnreachable
	}
	out, err := s.DB.UpdateConnection(ctx, c)
	if s.writes.Add(1) == 1 { // the lease
		s.down.Store(true)
	}
	return out, err
}

func (s *downAfterLease) GetConnection(ctx context.Context, id string) (mcpgate.Connection, error) {
	if s.down.Load() {
		return mcpgate.Connection{}, errUnreachable
	}
	return s.DB.GetConnection(ctx, id)
}

// Tokens the provider rotated while the store went away are used at once
// and stored once the store is back: the spent refresh token is never
// presented again, so the connection survives the outage.
func TestRefreshedTokensSurviveStoreOutage(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	conn := f.connect("alice")
	store := &downAfterLease{DB: f.store}
	var now atomic.Pointer[time.Time]
	later := time.Now().Add(2 * time.Hour)
	now.Store(&later)
	mgr := f.managerOn(store, "proc-2", func() time.Time { return *now.Load() })
	cred, err := mgr.Token(t.Context(), "upstream", "alice")
	if err != nil || cred.Generation != conn.Generation+1 {
		t.Fatalf("Token during the outage: %+v %v; want the refreshed generation %d", cred, err, conn.Generation+1)
	}
	// Later calls in the outage keep the refreshed token, not the stored one.
	if again, err := mgr.Token(t.Context(), "upstream", "alice"); err != nil || again.Token != cred.Token {
		t.Fatalf("second Token during the outage: %+v %v", again, err)
	}

	store.down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		stored, err := f.store.GetConnection(t.Context(), conn.ID)
		if err == nil && stored.Generation == conn.Generation+1 && stored.LeaseOwner == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the refreshed tokens were not stored after the outage: %+v %v", stored, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The next refresh presents the stored (rotated) refresh token.
	evenLater := later.Add(2 * time.Hour)
	now.Store(&evenLater)
	next, err := mgr.Token(t.Context(), "upstream", "alice")
	if err != nil || next.Generation != conn.Generation+2 {
		t.Fatalf("Token after the outage: %+v %v; want generation %d", next, err, conn.Generation+2)
	}
	if st := f.as.Stats(); st.Refreshes != 2 || st.ReuseDetections != 0 {
		t.Errorf("refreshes %d, reuse detections %d; want 2 and 0", st.Refreshes, st.ReuseDetections)
	}
}

// managerOn is a second gateway process on store, with its own clock.
func (f *fixture) managerOn(store mcpgate.Store, id string, now func() time.Time) *oauth.Manager {
	return oauth.New(oauth.Config{
		Store: store, Sealer: f.keys, Credentials: f.pre,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		PublicURL:  "https://gw.example", ProcessID: id,
		LinkKey: []byte("0123456789abcdef0123456789abcdef"),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:     now,
	})
}
