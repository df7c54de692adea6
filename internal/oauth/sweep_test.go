package oauth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
)

// sweepStore records what the refresh sweep reads.
type sweepStore struct {
	mcpgate.Store
	mu      sync.Mutex
	listAll int      // ListConnections calls
	due     []string // ids returned by ListConnectionsDue, all calls
}

func (s *sweepStore) ListConnections(ctx context.Context) ([]mcpgate.Connection, error) {
	s.mu.Lock()
	s.listAll++
	s.mu.Unlock()
	return s.Store.ListConnections(ctx)
}

func (s *sweepStore) ListConnectionsDue(ctx context.Context, t time.Time) ([]mcpgate.Connection, error) {
	cs, err := s.Store.ListConnectionsDue(ctx, t)
	s.mu.Lock()
	for _, c := range cs {
		s.due = append(s.due, c.User)
	}
	s.mu.Unlock()
	return cs, err
}

// The sweep reads only the connections whose refresh point has come, and
// refreshes them without a call; it writes the last use of connections that
// were used, due or not.
func TestSweepReadsOnlyDueConnections(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	st := &sweepStore{Store: f.store}
	clk := &clock{t: time.Now()}
	mgr := f.managerOn(st, "proc-1", clk.now)
	ctx := t.Context()
	connect := func(user string, ttl time.Duration) mcpgate.Connection {
		t.Helper()
		f.as.SetAccessTTL(ttl)
		started, err := mgr.Start(ctx, "upstream", user)
		if err != nil {
			t.Fatal(err)
		}
		c, err := mgr.Complete(ctx, f.authorize(started.AuthorizationURL))
		if err != nil {
			t.Fatal(err)
		}
		if c.RefreshDueAt.IsZero() || !c.RefreshDueAt.Before(c.ExpiresAt) {
			t.Fatalf("%s: refresh due at %v, expires at %v", user, c.RefreshDueAt, c.ExpiresAt)
		}
		return c
	}
	long := connect("long", 10*time.Hour)
	connect("short1", time.Hour)
	connect("short2", time.Hour)

	clk.advance(50 * time.Minute) // past 80% of an hour, the latest jittered point
	if _, err := mgr.Token(ctx, "upstream", "long"); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { mgr.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := f.store.GetConnection(ctx, long.ID)
		if err != nil {
			t.Fatal(err)
		}
		if f.as.Stats().Refreshes == 2 && !got.LastUsedAt.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %d refreshes (want the 2 due connections), long's last use %v (want recorded)", f.as.Stats().Refreshes, got.LastUsedAt)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, _ := f.store.GetConnection(ctx, long.ID); got.Generation != long.Generation {
		t.Errorf("the connection that was not due was refreshed: generation %d → %d", long.Generation, got.Generation)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.listAll != 0 {
		t.Errorf("the sweep listed every connection %d times", st.listAll)
	}
	for _, u := range st.due {
		if u == "long" {
			t.Errorf("the sweep read a connection that was not due (returned: %v)", st.due)
			break
		}
	}
}

// A connection unused for a while leaves memory with its unsealed token; the
// next call reads it from the store again and gets the same token. A
// connection in use stays.
func TestSweepEvictsIdleConnections(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	clk := &clock{t: time.Now()}
	mgr := f.managerOn(f.store, "proc-1", clk.now)
	ctx := t.Context()
	for _, user := range []string{"idle", "busy"} {
		started, err := mgr.Start(ctx, "upstream", user)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mgr.Complete(ctx, f.authorize(started.AuthorizationURL)); err != nil {
			t.Fatal(err)
		}
	}
	before := map[string]string{}
	for _, user := range []string{"idle", "busy"} {
		cred, err := mgr.Token(ctx, "upstream", user)
		if err != nil || cred.Token == "" {
			t.Fatalf("%s: token %q, %v", user, cred.Token, err)
		}
		before[user] = cred.Token
	}
	if n := mgr.CachedConnections(); n != 2 {
		t.Fatalf("%d connections in memory after two calls, want 2", n)
	}

	// Twenty idle minutes, in which only busy is called (the access tokens
	// live an hour, so nothing is due for refresh).
	for range 4 {
		clk.advance(5 * time.Minute)
		if _, err := mgr.Token(ctx, "upstream", "busy"); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { mgr.Run(runCtx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for mgr.CachedConnections() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s of sweeps: %d connections in memory, want 1 (busy)", mgr.CachedConnections())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done

	for _, user := range []string{"idle", "busy"} {
		cred, err := mgr.Token(ctx, "upstream", user)
		if err != nil || cred.Token != before[user] {
			t.Errorf("%s after the sweep: token changed or failed (%v)", user, err)
		}
	}
	if n := mgr.CachedConnections(); n != 2 {
		t.Errorf("%d connections in memory after calling both again, want 2", n)
	}
	if got := f.as.Stats().Refreshes; got != 0 {
		t.Errorf("%d refreshes, want none: eviction must not cost a token", got)
	}
}
