package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/store/postgres/pgtest"
)

// With the database unreachable in a way that does not refuse connections
// (a partition: connections stay open and silent), each store operation
// must fail after about opTimeout, not wait as long as its context allows —
// a request's context has no deadline, so requests that needed the
// database hung until the partition healed (found by the PostgreSQL outage
// e2e test). Once the database answers again, so does the store.
func TestOperationsFailFastWhileTheDatabaseIsSilent(t *testing.T) {
	proxy, dsn := newCutProxy(t, pgtest.Schema(t))
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background() // as a request's: no deadline
	now := time.Now().UTC()
	if err := db.CreateServer(ctx, mcpgate.Server{Name: "gh", URL: "https://x/", Source: "api", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	g := mcpgate.Grant{ID: "gr_1", User: "u", Servers: []string{"gh"}, TokenHash: "abc", CreatedAt: now}
	if err := db.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"GetGrantByTokenHash (QueryRow)": func() error { _, err := db.GetGrantByTokenHash(ctx, "abc"); return err },
		"ListGrants (Query)":             func() error { _, err := db.ListGrants(ctx); return err },
		"CreateSession (Exec)": func() error {
			return db.CreateSession(ctx, mcpgate.Session{IDHash: "s1", Server: "gh", GrantID: "gr_1", CreatedAt: now})
		},
		"GetSession (QueryRow)": func() error { _, err := db.GetSession(ctx, "s0"); return err },
		"TouchGrants (transaction)": func() error {
			return db.TouchGrants(ctx, map[string]time.Time{"gr_1": now})
		},
	}

	proxy.freeze()
	var wg sync.WaitGroup
	for name, op := range ops {
		wg.Go(func() {
			t0 := time.Now()
			done := make(chan error, 1)
			go func() { done <- op() }()
			select {
			case err := <-done:
				if d := time.Since(t0); err == nil || d > opTimeout+time.Second {
					t.Errorf("%s with the database silent: %v after %v; want an error within %v", name, err, d.Round(time.Millisecond), opTimeout)
				}
			case <-time.After(opTimeout + 3*time.Second):
				t.Errorf("%s with the database silent: still waiting after %v", name, opTimeout+3*time.Second)
			}
		})
	}
	wg.Wait()
	proxy.thaw()

	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := db.GetGrantByTokenHash(ctx, "abc")
		if err == nil && got.ID == "gr_1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store still fails 10 s after the database answers again: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Failures to reach the database match mcpgate.ErrUnavailable (the admin
// API answers 503); refusals by the database do not.
func TestUnavailableClassifiesStoreFailures(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"connect", &pgconn.ConnectError{}, true},
		{"network", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, true},
		{"connection cut mid-answer", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"unique violation", &pgconn.PgError{Code: uniqueViolation}, false},
		{"no rows", pgx.ErrNoRows, false},
		{"nil", nil, false},
	} {
		err := unavailable(tt.err)
		if got := errors.Is(err, mcpgate.ErrUnavailable); got != tt.want {
			t.Errorf("%s: matches ErrUnavailable = %v, want %v", tt.name, got, tt.want)
		}
		if tt.err != nil && !errors.Is(err, tt.err) {
			t.Errorf("%s: the original error is lost: %v", tt.name, err)
		}
	}
}
