package postgres

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/store/postgres/pgtest"
	"github.com/mcpgate/mcpgate/internal/store/storetest"
)

func openFresh(t *testing.T) *DB {
	t.Helper()
	db, err := Open(t.Context(), pgtest.Schema(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mcpgate.Store { return openFresh(t) })
}

func migrationCount(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.pool.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatalf("count schema_migrations: %v", err)
	}
	return n
}

// TestConcurrentOpen: replicas starting at once on an empty schema all
// succeed; the advisory lock lets one migrate and the others find it done.
func TestConcurrentOpen(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 8} {
		dsn := pgtest.Schema(t)
		dbs := make([]*DB, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				dbs[i], errs[i] = Open(t.Context(), dsn)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("%d concurrent Opens: Open #%d: %v", n, i, err)
				continue
			}
			if got := migrationCount(t, dbs[i]); got != len(ms) {
				t.Errorf("%d concurrent Opens: schema_migrations has %d rows, want %d", n, got, len(ms))
			}
			dbs[i].Close()
		}
	}
}

// TestReopen: a second Open keeps the data and applies nothing again.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Schema(t)
	db, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := db.PutMetaIfAbsent(ctx, "install", "one"); err != nil {
		t.Fatal(err)
	}
	var applied time.Time
	if err := db.pool.QueryRow(ctx, `SELECT max(applied_at) FROM schema_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = Open(ctx, dsn)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	var again time.Time
	if err := db.pool.QueryRow(ctx, `SELECT max(applied_at) FROM schema_migrations`).Scan(&again); err != nil {
		t.Fatal(err)
	}
	ms, _ := loadMigrations()
	if n := migrationCount(t, db); n != len(ms) || !again.Equal(applied) {
		t.Errorf("after reopen: %d migrations applied at %v, want %d at %v", n, again, len(ms), applied)
	}
	if v, err := db.GetMeta(ctx, "install"); err != nil || v != "one" {
		t.Errorf("GetMeta after reopen = %q, %v; want %q", v, err, "one")
	}
}

// TestNewerSchema: a binary must not run against a schema it does not know.
func TestNewerSchema(t *testing.T) {
	dsn := pgtest.Schema(t)
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := db.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err := Open(t.Context(), dsn); err == nil {
		db.Close()
		t.Fatal("Open of a newer schema succeeded, want an error")
	}
}

func TestOpenBadDSN(t *testing.T) {
	_, err := Open(t.Context(), "postgres://user:s3cret@[::1/db")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open(bad DSN) = %v; want an error without the password", err)
	}
}
