package sqlite

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/store/storetest"
)

func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "mcpgate.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mcpgate.Store { return openTemp(t) })
}

type migrationRow struct {
	Version   int
	Name      string
	AppliedAt int64
}

func appliedMigrations(t *testing.T, db *DB) []migrationRow {
	t.Helper()
	rows, err := db.read.QueryContext(t.Context(), `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var out []migrationRow
	for rows.Next() {
		var r migrationRow
		if err := rows.Scan(&r.Version, &r.Name, &r.AppliedAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReopen: a second Open keeps the data and applies nothing again.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "mcpgate.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	srv := mcpgate.Server{Name: "kept", URL: "https://kept.example/mcp", Source: mcpgate.SourceAPI,
		CreatedAt: time.UnixMilli(1_700_000_000_000).UTC(), UpdatedAt: time.UnixMilli(1_700_000_000_000).UTC()}
	if err := db.CreateServer(ctx, srv); err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	before := appliedMigrations(t, db)
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != len(ms) || len(ms) == 0 {
		t.Fatalf("schema_migrations has %d rows, want %d", len(before), len(ms))
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if d := cmp.Diff(before, appliedMigrations(t, db)); d != "" {
		t.Errorf("schema_migrations changed on reopen (-before +after):\n%s", d)
	}
	got, err := db.GetServer(ctx, "kept")
	srv.Version = 1
	if err != nil {
		t.Fatalf("GetServer after reopen: %v", err)
	}
	if d := cmp.Diff(srv, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("server after reopen (-want +got):\n%s", d)
	}
}

// TestNewerSchema: a binary must not run against a schema it does not know.
func TestNewerSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "mcpgate.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := db.write.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (9999, '9999_future', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err := Open(ctx, path); err == nil {
		db.Close()
		t.Fatal("Open of a newer schema succeeded, want an error")
	}
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file::memory:?cache=shared", "db?mode=ro"} {
		if db, err := Open(t.Context(), p); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded, want an error", p)
		}
	}
}

func TestPragmas(t *testing.T) {
	db := openTemp(t)
	defer db.Close()
	ctx := t.Context()
	var mode string
	var fk, queryOnly int
	if err := db.write.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := db.write.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("writer foreign_keys = %d, %v; want 1", fk, err)
	}
	if err := db.read.QueryRowContext(ctx, `PRAGMA query_only`).Scan(&queryOnly); err != nil || queryOnly != 1 {
		t.Errorf("reader query_only = %d, %v; want 1", queryOnly, err)
	}
}

// TestConcurrentWriters: many goroutines writing at once never see
// SQLITE_BUSY, because they queue on the single writer connection.
func TestConcurrentWriters(t *testing.T) {
	db := openTemp(t)
	defer db.Close()
	const n = 64
	errs := make(chan error, n)
	for i := range n {
		go func() {
			g := mcpgate.Grant{ID: fmt.Sprint("g", i), User: "u", Servers: []string{"s"}, TokenHash: fmt.Sprint("h", i), CreatedAt: time.Now()}
			err := db.CreateGrant(t.Context(), g)
			if err == nil {
				err = db.TouchGrants(t.Context(), map[string]time.Time{g.ID: time.Now(), "g0": time.Now()})
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if gs, err := db.ListGrants(t.Context()); err != nil || len(gs) != n {
		t.Errorf("ListGrants = %d grants, %v; want %d", len(gs), err, n)
	}
	if _, err := db.GetGrant(t.Context(), "missing"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("GetGrant(missing) = %v", err)
	}
}

// Denials are looked up through the partial index that allowed calls never
// touch (migration 0008), so finding them stays fast in a large log.
func TestAuditDenialQueryUsesPartialIndex(t *testing.T) {
	db := openTemp(t)
	defer db.Close()
	rows, err := db.read.QueryContext(t.Context(), `EXPLAIN QUERY PLAN SELECT `+auditColumns+
		` FROM audit_events WHERE decision = ? AND `+notAllowed+` ORDER BY id DESC LIMIT 100`, mcpgate.DecisionDeny)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if !strings.Contains(strings.Join(plan, "; "), "audit_events_not_allowed") {
		t.Fatalf("query plan %q does not use audit_events_not_allowed", plan)
	}
}
