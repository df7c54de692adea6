package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// CheckRefreshDueBackfill checks a backend's migration that gave existing
// connections a refresh point (0007): backfill runs that migration's UPDATE
// over connections stored without one. Refreshable connections get 75% of
// their token's lifetime, the others none.
func CheckRefreshDueBackfill(t *testing.T, s mcpgate.Store, backfill func() error) {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	if err := s.CreateServer(ctx, mcpgate.Server{Name: "s", URL: "https://s.example/mcp", Source: "api", CreatedAt: now, UpdatedAt: now, Version: 1}); err != nil {
		t.Fatal(err)
	}
	base := mcpgate.Connection{Server: "s", State: mcpgate.StateConnected, GrantType: "authorization_code",
		AccessToken: []byte("a"), RefreshToken: []byte("r"), IssuedAt: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
	conns := map[string]func(c *mcpgate.Connection){
		"refreshable":    func(*mcpgate.Connection) {},
		"service":        func(c *mcpgate.Connection) { c.GrantType, c.RefreshToken = "client_credentials", nil },
		"no-refresh":     func(c *mcpgate.Connection) { c.RefreshToken = nil },
		"reauth":         func(c *mcpgate.Connection) { c.State = mcpgate.StateReauthRequired },
		"unknown-expiry": func(c *mcpgate.Connection) { c.ExpiresAt = time.Time{} },
	}
	for id, edit := range conns {
		c := base
		c.ID, c.User = id, id
		edit(&c)
		if err := s.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := backfill(); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	want := map[string]time.Time{"refreshable": now.Add(45 * time.Minute), "service": now.Add(45 * time.Minute)}
	for id := range conns {
		c, err := s.GetConnection(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !c.RefreshDueAt.Equal(want[id]) {
			t.Errorf("%s: refresh due at %v, want %v", id, c.RefreshDueAt, want[id])
		}
	}
}

// UpdateStatement returns the first "UPDATE connections" statement of a
// migration file, for CheckRefreshDueBackfill.
func UpdateStatement(t *testing.T, migration []byte) string {
	t.Helper()
	for _, stmt := range strings.Split(string(migration), ";") {
		if i := strings.Index(stmt, "UPDATE connections"); i >= 0 {
			return stmt[i:]
		}
	}
	t.Fatal("the migration has no UPDATE connections")
	return ""
}
