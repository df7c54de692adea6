package oauth_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/oauth"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
)

// testLease is short so the tests run in seconds, and long enough
// that a heartbeat (every testLease/3) delayed by a loaded machine still
// renews the lease in time.
const testLease = 1500 * time.Millisecond

// leaseWrites counts the writes of one process's refresh lease.
type leaseWrites struct {
	mcpgate.Store
	owner    string
	attempts atomic.Int32 // writes that would put a lease of owner
	written  atomic.Int32 // of which stored
}

func (s *leaseWrites) UpdateConnection(ctx context.Context, c mcpgate.Connection) (mcpgate.Connection, error) {
	if c.LeaseOwner != s.owner {
		return s.Store.UpdateConnection(ctx, c)
	}
	s.attempts.Add(1)
	out, err := s.Store.UpdateConnection(ctx, c)
	if err == nil {
		s.written.Add(1)
	}
	return out, err
}

// leaseManager is a gateway process on store with a short refresh lease and
// a clock two hours ahead, so that the fixture's one-hour token has expired
// and Token must refresh.
func (f *fixture) leaseManager(store mcpgate.Store, id string) *oauth.Manager {
	return oauth.New(oauth.Config{
		Store: store, Sealer: f.keys, Credentials: f.pre,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		PublicURL:  "https://gw.example", ProcessID: id,
		LinkKey:       []byte("0123456789abcdef0123456789abcdef"),
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		LeaseDuration: testLease,
		Now:           leaseClock,
	})
}

func leaseClock() time.Time { return time.Now().Add(2 * time.Hour) }

type tokenResult struct {
	cred oauth.Credential
	err  error
}

func tokenAsync(mgr *oauth.Manager) <-chan tokenResult {
	out := make(chan tokenResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cred, err := mgr.Token(ctx, "upstream", "alice")
		out <- tokenResult{cred, err}
	}()
	return out
}

// A refresh whose token request takes three lease durations keeps its lease
// by the heartbeat: another process asking meanwhile waits for the result
// instead of taking over, the provider sees one refresh, and the lease is
// released with the new tokens and never renewed after.
func TestLeaseHeartbeatOutlastsSlowRefresh(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	conn := f.connect("alice")
	f.as.SetTokenLatency(3 * testLease)
	storeA := &leaseWrites{Store: f.store, owner: "proc-a"}
	storeB := &leaseWrites{Store: f.store, owner: "proc-b"}
	mgrA, mgrB := f.leaseManager(storeA, "proc-a"), f.leaseManager(storeB, "proc-b")

	resA := tokenAsync(mgrA)
	deadline := time.Now().Add(10 * time.Second)
	for storeA.written.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("proc-a never took the refresh lease")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resB := tokenAsync(mgrB)
	a, b := <-resA, <-resB

	if a.err != nil || b.err != nil {
		t.Fatalf("Token: proc-a %v, proc-b %v", a.err, b.err)
	}
	if a.cred.Generation != conn.Generation+1 || b.cred.Generation != a.cred.Generation || b.cred.Token != a.cred.Token {
		t.Errorf("generations: proc-a %d, proc-b %d (same token %v); want both %d with one token",
			a.cred.Generation, b.cred.Generation, a.cred.Token == b.cred.Token, conn.Generation+1)
	}
	if st := f.as.Stats(); st.TokenRequests != 2 || st.Refreshes != 1 || st.ReuseDetections != 0 {
		t.Errorf("provider: %d token requests, %d refreshes, %d reuse detections; want 2 (code, one refresh), 1, 0",
			st.TokenRequests, st.Refreshes, st.ReuseDetections)
	}
	if n := storeB.attempts.Load(); n != 0 {
		t.Errorf("proc-b tried to take the lease %d times while proc-a was renewing it", n)
	}
	if n := storeA.written.Load(); n < 2 {
		t.Errorf("proc-a wrote its lease %d times; want the lease and at least one renewal", n)
	}

	final, err := f.store.GetConnection(t.Context(), conn.ID)
	if err != nil || final.Generation != conn.Generation+1 || final.LeaseOwner != "" {
		t.Fatalf("stored after the refresh: generation %d, lease owner %q, %v; want %d, released", final.Generation, final.LeaseOwner, err, conn.Generation+1)
	}
	time.Sleep(testLease) // several heartbeat periods: none may write now
	if again, err := f.store.GetConnection(t.Context(), conn.ID); err != nil || again.Version != final.Version || again.LeaseOwner != "" {
		t.Errorf("the row changed after the refresh was stored: version %d → %d, lease owner %q, %v", final.Version, again.Version, again.LeaseOwner, err)
	}
}

// A lease whose holder died (no heartbeat) lapses after its duration:
// another process then takes over and refreshes once.
func TestDeadHolderLeaseLapses(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	conn := f.connect("alice")
	mgr := f.leaseManager(f.store, "proc-b")

	start := time.Now()
	dead, err := f.store.GetConnection(t.Context(), conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	dead.LeaseOwner, dead.LeaseUntil = "dead-process", leaseClock().Add(testLease)
	if _, err := f.store.UpdateConnection(t.Context(), dead); err != nil {
		t.Fatal(err)
	}
	res := <-tokenAsync(mgr)
	took := time.Since(start)

	if res.err != nil || res.cred.Generation != conn.Generation+1 {
		t.Fatalf("Token: %+v %v; want generation %d", res.cred, res.err, conn.Generation+1)
	}
	// The lower bound is the lease itself (the takeover waits for it); the
	// upper one only has to tell "about one lease" from the old 20 s.
	if took < testLease*3/4 || took > testLease+5*time.Second {
		t.Errorf("took over after %v; want after the lease lapsed (%v), not much later", took, testLease)
	}
	if st := f.as.Stats(); st.TokenRequests != 2 || st.Refreshes != 1 || st.ReuseDetections != 0 {
		t.Errorf("provider: %d token requests, %d refreshes, %d reuse detections; want 2 (code, one refresh), 1, 0",
			st.TokenRequests, st.Refreshes, st.ReuseDetections)
	}
	stored, err := f.store.GetConnection(t.Context(), conn.ID)
	if err != nil || stored.Generation != conn.Generation+1 || stored.LeaseOwner != "" {
		t.Errorf("stored: generation %d, lease owner %q, %v; want %d, released", stored.Generation, stored.LeaseOwner, err, conn.Generation+1)
	}
}
