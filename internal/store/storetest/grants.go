package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

func mustCreateGrant(t *testing.T, s mcpgate.Store, g mcpgate.Grant) {
	t.Helper()
	if err := s.CreateGrant(t.Context(), g); err != nil {
		t.Fatalf("CreateGrant(%q): %v", g.ID, err)
	}
}

func mustGetGrant(t *testing.T, s mcpgate.Store, id string) mcpgate.Grant {
	t.Helper()
	got, err := s.GetGrant(t.Context(), id)
	if err != nil {
		t.Fatalf("GetGrant(%q): %v", id, err)
	}
	checkUTC(t, "GetGrant("+id+")", grantTimes(got)...)
	return got
}

func testGrantCreateGet(t *testing.T, s mcpgate.Store) {
	full := newGrant("g-full", at(0))
	full.ExpiresAt = at(30 * 24 * time.Hour)
	full.RevokedAt = at(time.Hour)
	full.LastUsedAt = at(30 * time.Minute)
	full.Version = 9 // ignored: CreateGrant starts at 1
	single := newGrant("g-single", at(time.Second))
	single.Servers = []string{"only"}
	single.Label = ""

	for _, g := range []mcpgate.Grant{full, single} {
		mustCreateGrant(t, s, g)
		want := g
		want.Version = 1
		if d := diff(want, mustGetGrant(t, s, g.ID)); d != "" {
			t.Errorf("GetGrant(%q) (-want +got):\n%s", g.ID, d)
		}
		byHash, err := s.GetGrantByTokenHash(t.Context(), g.TokenHash)
		if err != nil {
			t.Fatalf("GetGrantByTokenHash(%q): %v", g.ID, err)
		}
		checkUTC(t, "GetGrantByTokenHash", grantTimes(byHash)...)
		if d := diff(want, byHash); d != "" {
			t.Errorf("GetGrantByTokenHash(%q) (-want +got):\n%s", g.ID, d)
		}
	}
}

// testGrantZeroTimes: "never expires", "not revoked" and "never used" are the
// zero time and must come back as exactly that, not as the Unix epoch.
func testGrantZeroTimes(t *testing.T, s mcpgate.Store) {
	mustCreateGrant(t, s, newGrant("g-zero", at(0)))
	got := mustGetGrant(t, s, "g-zero")
	for field, tm := range map[string]time.Time{"ExpiresAt": got.ExpiresAt, "RevokedAt": got.RevokedAt, "LastUsedAt": got.LastUsedAt} {
		if !tm.IsZero() {
			t.Errorf("%s = %v, want the zero time", field, tm)
		}
	}
	if err := got.Check("github", at(100*365*24*time.Hour)); err != nil {
		t.Errorf("a grant with zero times is not usable a century later: %v", err)
	}

	// Setting a time and clearing it again also round-trips through zero.
	set := got
	set.RevokedAt = at(time.Hour)
	set, err := s.UpdateGrant(t.Context(), set)
	if err != nil {
		t.Fatalf("UpdateGrant(revoke): %v", err)
	}
	set.RevokedAt = time.Time{}
	if _, err := s.UpdateGrant(t.Context(), set); err != nil {
		t.Fatalf("UpdateGrant(unrevoke): %v", err)
	}
	if got := mustGetGrant(t, s, "g-zero"); !got.RevokedAt.IsZero() {
		t.Errorf("RevokedAt after clearing = %v, want the zero time", got.RevokedAt)
	}
}

func testGrantDuplicate(t *testing.T, s mcpgate.Store) {
	orig := newGrant("g-dup", at(0))
	mustCreateGrant(t, s, orig)

	sameID := newGrant("g-dup", at(time.Hour))
	sameID.TokenHash = newGrant("other", at(0)).TokenHash
	sameHash := newGrant("g-other", at(time.Hour))
	sameHash.TokenHash = orig.TokenHash
	for name, g := range map[string]mcpgate.Grant{"id": sameID, "token hash": sameHash} {
		if err := s.CreateGrant(t.Context(), g); !errors.Is(err, mcpgate.ErrConflict) {
			t.Errorf("CreateGrant(duplicate %s) = %v, want ErrConflict", name, err)
		}
	}
	if d := diff(orig, mustGetGrant(t, s, "g-dup")); d != "" {
		t.Errorf("duplicate create changed the grant (-want +got):\n%s", d)
	}
	if _, err := s.GetGrant(t.Context(), "g-other"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("GetGrant(rejected duplicate) = %v, want ErrNotFound", err)
	}
}

func testGrantMissing(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	if _, err := s.GetGrant(ctx, "nope"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("GetGrant(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetGrantByTokenHash(ctx, newGrant("nope", at(0)).TokenHash); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("GetGrantByTokenHash(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateGrant(ctx, newGrant("nope", at(0))); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("UpdateGrant(missing) = %v, want ErrNotFound", err)
	}
}

func testGrantList(t *testing.T, s mcpgate.Store) {
	got, err := s.ListGrants(t.Context())
	if err != nil || len(got) != 0 {
		t.Fatalf("ListGrants(empty store) = %v, %v; want none", got, err)
	}
	oldest := newGrant("g-a", at(0))
	newest := newGrant("g-b", at(2*time.Hour))
	middle := newGrant("g-c", at(time.Hour))
	middle.ExpiresAt = at(48 * time.Hour)
	for _, g := range []mcpgate.Grant{oldest, newest, middle} {
		mustCreateGrant(t, s, g)
	}
	got, err = s.ListGrants(t.Context())
	if err != nil {
		t.Fatalf("ListGrants: %v", err)
	}
	if d := diff([]mcpgate.Grant{newest, middle, oldest}, got); d != "" {
		t.Errorf("ListGrants, newest first (-want +got):\n%s", d)
	}
	for _, g := range got {
		checkUTC(t, "ListGrants "+g.ID, grantTimes(g)...)
	}
}

func testGrantUpdate(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	mustCreateGrant(t, s, newGrant("g-upd", at(0)))
	mustCreateGrant(t, s, newGrant("g-neighbour", at(0)))
	v1 := mustGetGrant(t, s, "g-upd")

	next := v1
	next.Servers = []string{"jira"}
	next.Label = "renamed"
	next.RevokedAt = at(time.Hour)
	next.ExpiresAt = at(2 * time.Hour)
	v2, err := s.UpdateGrant(ctx, next)
	if err != nil {
		t.Fatalf("UpdateGrant: %v", err)
	}
	want := next
	want.Version = 2
	if d := diff(want, v2); d != "" {
		t.Errorf("UpdateGrant result (-want +got):\n%s", d)
	}
	if d := diff(want, mustGetGrant(t, s, "g-upd")); d != "" {
		t.Errorf("GetGrant after update (-want +got):\n%s", d)
	}
	if _, err := s.UpdateGrant(ctx, v1); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("UpdateGrant(stale version) = %v, want ErrConflict", err)
	}
	// Taking another grant's token hash is a duplicate key.
	steal := v2
	steal.TokenHash = mustGetGrant(t, s, "g-neighbour").TokenHash
	if _, err := s.UpdateGrant(ctx, steal); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("UpdateGrant(duplicate token hash) = %v, want ErrConflict", err)
	}
	if d := diff(want, mustGetGrant(t, s, "g-upd")); d != "" {
		t.Errorf("rejected updates changed the grant (-want +got):\n%s", d)
	}
}

func testGrantConcurrentCAS(t *testing.T, s mcpgate.Store, n int) {
	mustCreateGrant(t, s, newGrant("g-cas", at(0)))
	base := mustGetGrant(t, s, "g-cas")
	results := make([]mcpgate.Grant, n)
	errs := concurrently(n, func(i int) error {
		next := base
		next.Label = fmt.Sprintf("writer %d", i)
		next.RevokedAt = at(time.Duration(i+1) * time.Second)
		var err error
		results[i], err = s.UpdateGrant(t.Context(), next)
		return err
	})
	winner := checkOneWinner(t, errs)
	if winner < 0 {
		return
	}
	got := mustGetGrant(t, s, "g-cas")
	if d := diff(results[winner], got); d != "" {
		t.Errorf("stored grant is not the winner's (-want +got):\n%s", d)
	}
	if got.Version != base.Version+1 {
		t.Errorf("Version = %d, want %d", got.Version, base.Version+1)
	}
}

func testGrantTouch(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	mustCreateGrant(t, s, newGrant("g-used", at(0)))
	mustCreateGrant(t, s, newGrant("g-idle", at(0)))
	if err := s.TouchGrants(ctx, nil); err != nil {
		t.Fatalf("TouchGrants(nothing): %v", err)
	}
	used := at(90 * time.Minute)
	if err := s.TouchGrants(ctx, map[string]time.Time{"g-used": used, "g-deleted": at(time.Hour)}); err != nil {
		t.Fatalf("TouchGrants with an unknown id: %v", err)
	}
	want := newGrant("g-used", at(0))
	want.LastUsedAt = used // and Version stays 1: a touch must not break an admin's CAS
	if d := diff(want, mustGetGrant(t, s, "g-used")); d != "" {
		t.Errorf("touched grant (-want +got):\n%s", d)
	}
	if d := diff(newGrant("g-idle", at(0)), mustGetGrant(t, s, "g-idle")); d != "" {
		t.Errorf("untouched grant changed (-want +got):\n%s", d)
	}
	if _, err := s.GetGrant(ctx, "g-deleted"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("TouchGrants created a grant: GetGrant = %v, want ErrNotFound", err)
	}

	later := at(3 * time.Hour)
	if err := s.TouchGrants(ctx, map[string]time.Time{"g-used": later, "g-idle": later}); err != nil {
		t.Fatalf("TouchGrants: %v", err)
	}
	for _, id := range []string{"g-used", "g-idle"} {
		if got := mustGetGrant(t, s, id); !got.LastUsedAt.Equal(later) {
			t.Errorf("%s LastUsedAt = %v, want %v", id, got.LastUsedAt, later)
		}
	}
}
