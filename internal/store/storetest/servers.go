package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

func mustCreateServer(t *testing.T, s mcpgate.Store, srv mcpgate.Server) {
	t.Helper()
	if err := s.CreateServer(t.Context(), srv); err != nil {
		t.Fatalf("CreateServer(%q): %v", srv.Name, err)
	}
}

func mustGetServer(t *testing.T, s mcpgate.Store, name string) mcpgate.Server {
	t.Helper()
	got, err := s.GetServer(t.Context(), name)
	if err != nil {
		t.Fatalf("GetServer(%q): %v", name, err)
	}
	checkUTC(t, "GetServer("+name+")", serverTimes(got)...)
	return got
}

func testServerCreateGet(t *testing.T, s mcpgate.Store) {
	tests := []struct {
		name string
		in   mcpgate.Server
	}{
		{"full", newServer("full")},
		{"minimal", mcpgate.Server{Name: "minimal", URL: "http://localhost:8080/mcp", Source: mcpgate.SourceConfig, CreatedAt: at(0), UpdatedAt: at(0)}},
		{"empty header value", mcpgate.Server{Name: "empty-value", URL: "https://x.example/mcp", Headers: []mcpgate.Header{{Name: "X-Empty", Value: []byte{}}}, Source: mcpgate.SourceAPI, CreatedAt: at(0), UpdatedAt: at(0)}},
		{"version ignored", func() mcpgate.Server { v := newServer("version-ignored"); v.Version = 7; return v }()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustCreateServer(t, s, tc.in)
			want := tc.in
			want.Version = 1 // CreateServer always starts at 1
			if d := diff(want, mustGetServer(t, s, tc.in.Name)); d != "" {
				t.Errorf("GetServer after CreateServer (-want +got):\n%s", d)
			}
		})
	}
}

func testServerDuplicate(t *testing.T, s mcpgate.Store) {
	orig := newServer("dup")
	mustCreateServer(t, s, orig)
	other := newServer("dup")
	other.URL = "https://other.example/mcp"
	if err := s.CreateServer(t.Context(), other); !errors.Is(err, mcpgate.ErrConflict) {
		t.Fatalf("CreateServer(duplicate) = %v, want ErrConflict", err)
	}
	if d := diff(orig, mustGetServer(t, s, "dup")); d != "" {
		t.Errorf("duplicate create changed the stored server (-want +got):\n%s", d)
	}
}

func testServerMissing(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	if _, err := s.GetServer(ctx, "nope"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("GetServer(missing) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteServer(ctx, "nope"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("DeleteServer(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateServer(ctx, newServer("nope")); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("UpdateServer(missing) = %v, want ErrNotFound", err)
	}
}

func testServerList(t *testing.T, s mcpgate.Store) {
	got, err := s.ListServers(t.Context())
	if err != nil || len(got) != 0 {
		t.Fatalf("ListServers(empty store) = %v, %v; want none", got, err)
	}
	// Byte order, not a locale collation: '-' < '.' < '0' < 'b'.
	names := []string{"b", "a.b", "ab", "a-c", "a0", "zz"}
	var want []mcpgate.Server
	for _, n := range names {
		srv := newServer(n)
		mustCreateServer(t, s, srv)
		want = append(want, srv)
	}
	slices.SortFunc(want, func(a, b mcpgate.Server) int { return cmpString(a.Name, b.Name) })
	got, err = s.ListServers(t.Context())
	if err != nil {
		t.Fatalf("ListServers: %v", err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("ListServers (-want +got):\n%s", d)
	}
	for _, g := range got {
		checkUTC(t, "ListServers "+g.Name, serverTimes(g)...)
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testServerDelete(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	mustCreateServer(t, s, newServer("keep"))
	mustCreateServer(t, s, newServer("gone"))
	if err := s.DeleteServer(ctx, "gone"); err != nil {
		t.Fatalf("DeleteServer: %v", err)
	}
	if _, err := s.GetServer(ctx, "gone"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("GetServer(deleted) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteServer(ctx, "gone"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("DeleteServer(twice) = %v, want ErrNotFound", err)
	}
	got, err := s.ListServers(ctx)
	if err != nil {
		t.Fatalf("ListServers: %v", err)
	}
	if d := diff([]mcpgate.Server{newServer("keep")}, got); d != "" {
		t.Errorf("ListServers after delete (-want +got):\n%s", d)
	}
	// The name is free again.
	mustCreateServer(t, s, newServer("gone"))
}

func testServerTimestamps(t *testing.T, s mcpgate.Store) {
	// Sub-millisecond parts may be dropped, never more than that.
	created := time.Date(2031, 12, 31, 23, 59, 59, 123_456_789, time.FixedZone("PST", -8*3600))
	srv := newServer("times")
	srv.CreatedAt, srv.UpdatedAt = created, created.Add(1500*time.Microsecond)
	mustCreateServer(t, s, srv)
	got := mustGetServer(t, s, "times")
	for _, c := range []struct {
		field     string
		want, got time.Time
	}{{"CreatedAt", srv.CreatedAt, got.CreatedAt}, {"UpdatedAt", srv.UpdatedAt, got.UpdatedAt}} {
		if d := c.got.Sub(c.want); d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("%s = %v, want %v within 1ms", c.field, c.got, c.want)
		}
	}
	if !got.CreatedAt.Before(got.UpdatedAt) {
		t.Errorf("CreatedAt %v not before UpdatedAt %v: order lost", got.CreatedAt, got.UpdatedAt)
	}
}

func testServerUpdate(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	mustCreateServer(t, s, newServer("upd"))
	v1 := mustGetServer(t, s, "upd")

	next := v1
	next.URL = "https://moved.example/mcp"
	next.Headers = []mcpgate.Header{{Name: "X-New", Value: []byte{0, 1, 2}}}
	next.OAuthClientID, next.OAuthClientSecret = "", nil
	next.OAuthAuthMethod, next.OAuthScopes = "", nil
	next.Source = mcpgate.SourceConfig
	next.UpdatedAt = at(time.Hour)
	v2, err := s.UpdateServer(ctx, next)
	if err != nil {
		t.Fatalf("UpdateServer: %v", err)
	}
	want := next
	want.Version = 2
	if d := diff(want, v2); d != "" {
		t.Errorf("UpdateServer result (-want +got):\n%s", d)
	}
	if d := diff(want, mustGetServer(t, s, "upd")); d != "" {
		t.Errorf("GetServer after update (-want +got):\n%s", d)
	}

	stale := v1
	stale.URL = "https://stale.example/mcp"
	if _, err := s.UpdateServer(ctx, stale); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("UpdateServer(stale version) = %v, want ErrConflict", err)
	}
	ahead := v2
	ahead.Version = 5
	if _, err := s.UpdateServer(ctx, ahead); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("UpdateServer(future version) = %v, want ErrConflict", err)
	}
	if d := diff(want, mustGetServer(t, s, "upd")); d != "" {
		t.Errorf("rejected updates changed the server (-want +got):\n%s", d)
	}
	v3, err := s.UpdateServer(ctx, v2)
	if err != nil || v3.Version != 3 {
		t.Errorf("UpdateServer(current) = version %d, %v; want 3, nil", v3.Version, err)
	}

	// The OAuth client settings round-trip through an update too.
	v3.OAuthClientID, v3.OAuthClientSecret = "cid", []byte{0, 0xff, 1}
	v3.OAuthAuthMethod, v3.OAuthScopes = mcpgate.AuthMethodClientSecretPost, []string{"repo", "read:org", "offline_access"}
	v4, err := s.UpdateServer(ctx, v3)
	if err != nil {
		t.Fatalf("UpdateServer(oauth settings): %v", err)
	}
	want = v3
	want.Version = 4
	if d := diff(want, v4); d != "" {
		t.Errorf("UpdateServer(oauth settings) result (-want +got):\n%s", d)
	}
	if d := diff(want, mustGetServer(t, s, "upd")); d != "" {
		t.Errorf("GetServer after oauth settings update (-want +got):\n%s", d)
	}
}

// testServerConcurrentCAS: n writers read the same version and update at
// once; exactly one wins and the rest see ErrConflict.
func testServerConcurrentCAS(t *testing.T, s mcpgate.Store, n int) {
	mustCreateServer(t, s, newServer("cas"))
	base := mustGetServer(t, s, "cas")
	results := make([]mcpgate.Server, n)
	errs := concurrently(n, func(i int) error {
		next := base
		next.URL = fmt.Sprintf("https://writer-%d.example/mcp", i)
		var err error
		results[i], err = s.UpdateServer(t.Context(), next)
		return err
	})
	winner := checkOneWinner(t, errs)
	if winner < 0 {
		return
	}
	got := mustGetServer(t, s, "cas")
	if d := diff(results[winner], got); d != "" {
		t.Errorf("stored server is not the winner's (-want +got):\n%s", d)
	}
	if got.Version != base.Version+1 {
		t.Errorf("Version = %d, want %d", got.Version, base.Version+1)
	}
}

// checkOneWinner checks that exactly one error is nil and the others are
// ErrConflict, and returns the winner's index (-1 if there is none).
func checkOneWinner(t *testing.T, errs []error) int {
	t.Helper()
	winner, wins := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			winner = i
			wins++
		case !errors.Is(err, mcpgate.ErrConflict):
			t.Errorf("writer %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent compare-and-swaps won, want exactly 1", wins, len(errs))
		return -1
	}
	return winner
}
