package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// withServerAndGrant creates what sessions refer to: a backend may enforce
// those references.
func withServerAndGrant(t *testing.T, s mcpgate.Store, servers ...string) {
	t.Helper()
	for _, name := range servers {
		mustCreateServer(t, s, newServer(name))
	}
	mustCreateGrant(t, s, newGrant("g-1", at(0)))
}

func newSession(id, server string, created time.Time) mcpgate.Session {
	return mcpgate.Session{IDHash: "hash-" + id, Server: server, GrantID: "g-1", CreatedAt: created}
}

func mustCreateSession(t *testing.T, s mcpgate.Store, sess mcpgate.Session) {
	t.Helper()
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatalf("CreateSession(%q): %v", sess.IDHash, err)
	}
}

// sessionExists reports whether idHash is stored, failing on errors other
// than ErrNotFound.
func sessionExists(t *testing.T, s mcpgate.Store, idHash string) bool {
	t.Helper()
	_, err := s.GetSession(t.Context(), idHash)
	if errors.Is(err, mcpgate.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("GetSession(%q): %v", idHash, err)
	}
	return true
}

func testSessionCreateGetDelete(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	withServerAndGrant(t, s, "srv")
	sess := newSession("a", "srv", at(0))
	mustCreateSession(t, s, sess)

	got, err := s.GetSession(ctx, sess.IDHash)
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	checkUTC(t, "GetSession", got.CreatedAt)
	if d := diff(sess, got); d != "" {
		t.Errorf("GetSession (-want +got):\n%s", d)
	}
	if err := s.CreateSession(ctx, newSession("a", "srv", at(time.Hour))); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("CreateSession(duplicate) = %v, want ErrConflict", err)
	}
	if _, err := s.GetSession(ctx, "hash-missing"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("GetSession(missing) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, sess.IDHash); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if sessionExists(t, s, sess.IDHash) {
		t.Errorf("session still there after DeleteSession")
	}
	if err := s.DeleteSession(ctx, sess.IDHash); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("DeleteSession(missing) = %v, want ErrNotFound", err)
	}
}

// testSessionUnknownServer: a binding to a server that does not exist (for
// example one deleted meanwhile) is refused, so DeleteServer cannot miss it.
func testSessionUnknownServer(t *testing.T, s mcpgate.Store) {
	withServerAndGrant(t, s)
	err := s.CreateSession(t.Context(), newSession("orphan", "no-such-server", at(0)))
	if !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("CreateSession(unknown server) = %v, want ErrNotFound", err)
	}
}

func testSessionDeleteBefore(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	withServerAndGrant(t, s, "srv")
	offsets := []time.Duration{-2 * time.Hour, -time.Millisecond, 0, time.Hour}
	for i, d := range offsets {
		mustCreateSession(t, s, newSession(fmt.Sprint(i), "srv", at(d)))
	}
	n, err := s.DeleteSessionsBefore(ctx, at(0))
	if err != nil || n != 2 {
		t.Fatalf("DeleteSessionsBefore = %d, %v; want 2, nil", n, err)
	}
	for i, d := range offsets {
		if want := d >= 0; sessionExists(t, s, fmt.Sprint("hash-", i)) != want {
			t.Errorf("session created at %v exists = %v, want %v (cut-off is exclusive)", d, !want, want)
		}
	}
	if n, err := s.DeleteSessionsBefore(ctx, at(0)); err != nil || n != 0 {
		t.Errorf("DeleteSessionsBefore again = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.DeleteSessionsBefore(ctx, at(24*time.Hour)); err != nil || n != 2 {
		t.Errorf("DeleteSessionsBefore(all) = %d, %v; want 2, nil", n, err)
	}
}

func testSessionDeleteServer(t *testing.T, s mcpgate.Store) {
	withServerAndGrant(t, s, "doomed", "stays")
	mustCreateSession(t, s, newSession("d1", "doomed", at(0)))
	mustCreateSession(t, s, newSession("d2", "doomed", at(time.Second)))
	mustCreateSession(t, s, newSession("s1", "stays", at(0)))
	if err := s.DeleteServer(t.Context(), "doomed"); err != nil {
		t.Fatalf("DeleteServer: %v", err)
	}
	for id, want := range map[string]bool{"d1": false, "d2": false, "s1": true} {
		if got := sessionExists(t, s, "hash-"+id); got != want {
			t.Errorf("session %s exists = %v after DeleteServer, want %v", id, got, want)
		}
	}
}

func testMeta(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	if _, err := s.GetMeta(ctx, "key-check"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("GetMeta(missing) = %v, want ErrNotFound", err)
	}
	for _, c := range []struct{ put, want string }{{"first", "first"}, {"second", "first"}, {"", "first"}} {
		got, err := s.PutMetaIfAbsent(ctx, "key-check", c.put)
		if err != nil || got != c.want {
			t.Errorf("PutMetaIfAbsent(%q) = %q, %v; want %q, nil", c.put, got, err, c.want)
		}
	}
	if got, err := s.GetMeta(ctx, "key-check"); err != nil || got != "first" {
		t.Errorf("GetMeta = %q, %v; want %q, nil", got, err, "first")
	}
	if got, err := s.PutMetaIfAbsent(ctx, "empty", ""); err != nil || got != "" {
		t.Errorf("PutMetaIfAbsent(empty value) = %q, %v", got, err)
	}
	if got, err := s.GetMeta(ctx, "empty"); err != nil || got != "" {
		t.Errorf("GetMeta(empty value) = %q, %v; want \"\", nil", got, err)
	}
}

// testMetaConcurrent: racing first writers all learn the one value that won.
func testMetaConcurrent(t *testing.T, s mcpgate.Store, n int) {
	got := make([]string, n)
	errs := concurrently(n, func(i int) error {
		var err error
		got[i], err = s.PutMetaIfAbsent(t.Context(), "installation", fmt.Sprintf("value-%d", i))
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("PutMetaIfAbsent #%d: %v", i, err)
		}
	}
	stored, err := s.GetMeta(t.Context(), "installation")
	if err != nil {
		t.Fatalf("GetMeta: %v", err)
	}
	for i, v := range got {
		if v != stored {
			t.Errorf("PutMetaIfAbsent #%d returned %q, but %q is stored", i, v, stored)
		}
	}
}

// testMetaSet: SetMeta creates or replaces, and PutMetaIfAbsent then keeps
// the value it set.
func testMetaSet(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	for _, v := range []string{"created", "replaced", ""} {
		if err := s.SetMeta(ctx, "seal_check", v); err != nil {
			t.Fatalf("SetMeta(%q): %v", v, err)
		}
		if got, err := s.GetMeta(ctx, "seal_check"); err != nil || got != v {
			t.Errorf("GetMeta after SetMeta(%q) = %q, %v", v, got, err)
		}
	}
	if err := s.SetMeta(ctx, "seal_check", "last"); err != nil {
		t.Fatalf("SetMeta: %v", err)
	}
	if got, err := s.PutMetaIfAbsent(ctx, "seal_check", "other"); err != nil || got != "last" {
		t.Errorf("PutMetaIfAbsent after SetMeta = %q, %v; want %q", got, err, "last")
	}
	if _, err := s.PutMetaIfAbsent(ctx, "other", "kept"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetMeta(ctx, "other"); err != nil || got != "kept" {
		t.Errorf("SetMeta changed another key: GetMeta(other) = %q, %v", got, err)
	}
}
