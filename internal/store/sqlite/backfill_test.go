package sqlite

import (
	"testing"

	"github.com/mcpgate/mcpgate/internal/store/storetest"
)

// Migration 0007's backfill of connections' refresh points.
func TestRefreshDueBackfill(t *testing.T) {
	b, err := migrationFiles.ReadFile("migrations/0007_refresh_due.sql")
	if err != nil {
		t.Fatal(err)
	}
	stmt := storetest.UpdateStatement(t, b)
	db := openTemp(t)
	storetest.CheckRefreshDueBackfill(t, db, func() error {
		_, err := db.write.ExecContext(t.Context(), stmt)
		return err
	})
}
