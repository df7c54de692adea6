package grants_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/grants"
	"github.com/mcpgate/mcpgate/internal/store/sqlite"
)

// countingStore counts grant lookups so tests can see when the cache is used.
type countingStore struct {
	mcpgate.Store
	lookups atomic.Int64
}

func (c *countingStore) GetGrantByTokenHash(ctx context.Context, h string) (mcpgate.Grant, error) {
	c.lookups.Add(1)
	return c.Store.GetGrantByTokenHash(ctx, h)
}

func newService(t *testing.T) (*grants.Service, *countingStore) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	if err := st.CreateServer(context.Background(), mcpgate.Server{Name: "a", URL: "http://a/", Source: "api", CreatedAt: now, UpdatedAt: now, Version: 1}); err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	return grants.New(cs, nil, slog.New(slog.NewTextHandler(io.Discard, nil))), cs
}

func TestAuthenticateUsesCache(t *testing.T) {
	svc, st := newService(t)
	ctx := context.Background()
	_, tok, err := svc.Create(ctx, grants.CreateInput{User: "alice", Servers: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := svc.Authenticate(ctx, tok, "a"); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.lookups.Load(); n != 1 {
		t.Errorf("100 checks did %d store lookups, want 1", n)
	}
}

func TestRevokeTakesEffectOnNextRequest(t *testing.T) {
	svc, _ := newService(t)
	ctx := context.Background()
	g, tok, _ := svc.Create(ctx, grants.CreateInput{User: "alice", Servers: []string{"a"}})
	if _, err := svc.Authenticate(ctx, tok, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Revoke(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, tok, "a"); !errors.Is(err, mcpgate.ErrGrantRevoked) {
		t.Fatalf("after revoke: %v, want ErrGrantRevoked", err)
	}
	// Revoking twice is fine and keeps the first time.
	g1, _ := svc.Get(ctx, g.ID)
	g2, err := svc.Revoke(ctx, g.ID)
	if err != nil || !g2.RevokedAt.Equal(g1.RevokedAt) {
		t.Fatalf("second revoke: %v %v %v", err, g1.RevokedAt, g2.RevokedAt)
	}
}

// A change made elsewhere (another replica) is seen once the cache entry ages out.
func TestCacheExpiresAndRereads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, st := newService(t)
		ctx := context.Background()
		g, tok, _ := svc.Create(ctx, grants.CreateInput{User: "alice", Servers: []string{"a"}})
		if _, err := svc.Authenticate(ctx, tok, "a"); err != nil {
			t.Fatal(err)
		}
		// Revoke behind the service's back, as another process would.
		stored, _ := st.GetGrant(ctx, g.ID)
		stored.RevokedAt = time.Now().UTC()
		if _, err := st.UpdateGrant(ctx, stored); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, tok, "a"); err != nil {
			t.Fatalf("within the cache horizon the cached grant is used: %v", err)
		}
		time.Sleep(grants.CacheTTL + time.Second)
		if _, err := svc.Authenticate(ctx, tok, "a"); !errors.Is(err, mcpgate.ErrGrantRevoked) {
			t.Fatalf("after the cache horizon: %v, want ErrGrantRevoked", err)
		}
	})
}

func TestUnknownTokensAreCachedBriefly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, st := newService(t)
		ctx := context.Background()
		tok, _ := mcpgate.NewGrantToken()
		for range 10 {
			if _, err := svc.Authenticate(ctx, tok, "a"); !errors.Is(err, mcpgate.ErrGrantUnknown) {
				t.Fatalf("unknown token: %v", err)
			}
		}
		if n := st.lookups.Load(); n != 1 {
			t.Errorf("10 checks of one unknown token did %d lookups, want 1", n)
		}
		time.Sleep(10 * time.Second)
		svc.Authenticate(ctx, tok, "a")
		if n := st.lookups.Load(); n != 2 {
			t.Errorf("after the negative horizon: %d lookups, want 2", n)
		}
	})
}

func TestMalformedTokensNeverReachTheStore(t *testing.T) {
	svc, st := newService(t)
	for _, tok := range []string{"", "x", "mcpg_short", "Bearer abc"} {
		if _, err := svc.Authenticate(context.Background(), tok, "a"); err == nil {
			t.Fatalf("%q accepted", tok)
		}
	}
	if n := st.lookups.Load(); n != 0 {
		t.Errorf("malformed tokens did %d store lookups", n)
	}
}

func TestLastUsedIsFlushedInBatches(t *testing.T) {
	svc, st := newService(t)
	ctx := context.Background()
	g, tok, _ := svc.Create(ctx, grants.CreateInput{User: "alice", Servers: []string{"a"}})
	svc.Authenticate(ctx, tok, "a")
	if got, _ := st.GetGrant(ctx, g.ID); !got.LastUsedAt.IsZero() {
		t.Fatalf("last use written on the request path")
	}
	if err := svc.FlushLastUsed(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetGrant(ctx, g.ID); got.LastUsedAt.IsZero() {
		t.Fatalf("last use not recorded after flush")
	}
}

func TestCreateValidates(t *testing.T) {
	svc, _ := newService(t)
	for name, in := range map[string]grants.CreateInput{
		"no user":        {Servers: []string{"a"}},
		"no server":      {User: "u"},
		"unknown server": {User: "u", Servers: []string{"b"}},
		"negative ttl":   {User: "u", Servers: []string{"a"}, TTL: -time.Second},
	} {
		if _, _, err := svc.Create(context.Background(), in); !errors.Is(err, mcpgate.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	st, _ := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "g.db"))
	defer st.Close()
	now := time.Now().UTC()
	st.CreateServer(context.Background(), mcpgate.Server{Name: "a", URL: "http://a/", Source: "api", CreatedAt: now, UpdatedAt: now, Version: 1})
	svc := grants.New(st, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	_, tok, _ := svc.Create(context.Background(), grants.CreateInput{User: "u", Servers: []string{"a"}})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.Authenticate(context.Background(), tok, "a"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
