package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// newConnection returns a connection with every field set; user "" makes it
// the server's shared connection.
func newConnection(id, server, user string) mcpgate.Connection {
	return mcpgate.Connection{
		ID:           id,
		Server:       server,
		User:         user,
		State:        mcpgate.StateConnected,
		Issuer:       "https://auth." + server + ".example.com",
		ClientID:     "client-" + server,
		GrantType:    "authorization_code",
		Resource:     "https://" + server + ".example.com/mcp",
		Scopes:       []string{"read", "write:issues", "offline_access"},
		StepUpScopes: []string{"admin"},
		AccessToken:  append([]byte("sealed:access-"+id+"\x00"), allBytes()...),
		RefreshToken: append(allBytes(), []byte("sealed:refresh-"+id)...),
		// Not what an authorization_code connection holds; here it checks
		// that the column round-trips byte-exact.
		GrantCredential: append([]byte("sealed:credential-"+id+"\x00"), allBytes()...),
		TokenType:       "Bearer",
		ExpiresAt:       at(time.Hour),
		IssuedAt:        at(0),
		Generation:      3,
		LeaseOwner:      "replica-" + id,
		LeaseUntil:      at(30 * time.Second),
		RefreshDueAt:    at(45 * time.Minute),
		// Microseconds are the precision both backends keep.
		LastRefreshAt:   at(-time.Hour + 123*time.Microsecond),
		LastUsedAt:      at(5 * time.Minute),
		RefreshFailures: 2,
		LastError:       "refresh failed: invalid_grant",
		LastErrorAt:     at(-30 * time.Minute),
		CreatedAt:       at(-24 * time.Hour),
		UpdatedAt:       at(0),
		Version:         1,
	}
}

// minimalConnection has every optional field empty: no refresh token, no
// scopes, zero times.
func minimalConnection(id, server, user string) mcpgate.Connection {
	return mcpgate.Connection{
		ID:          id,
		Server:      server,
		User:        user,
		State:       mcpgate.StateReauthRequired,
		GrantType:   "client_credentials",
		AccessToken: []byte("sealed:" + id),
		CreatedAt:   at(0),
		UpdatedAt:   at(0),
		Version:     1,
	}
}

func connectionTimes(c mcpgate.Connection) []time.Time {
	return []time.Time{c.ExpiresAt, c.IssuedAt, c.LeaseUntil, c.RefreshDueAt, c.LastRefreshAt, c.LastUsedAt, c.LastErrorAt, c.CreatedAt, c.UpdatedAt}
}

func withServers(t *testing.T, s mcpgate.Store, names ...string) {
	t.Helper()
	for _, name := range names {
		mustCreateServer(t, s, newServer(name))
	}
}

func mustCreateConnection(t *testing.T, s mcpgate.Store, c mcpgate.Connection) {
	t.Helper()
	if err := s.CreateConnection(t.Context(), c); err != nil {
		t.Fatalf("CreateConnection(%q): %v", c.ID, err)
	}
}

func mustGetConnection(t *testing.T, s mcpgate.Store, id string) mcpgate.Connection {
	t.Helper()
	got, err := s.GetConnection(t.Context(), id)
	if err != nil {
		t.Fatalf("GetConnection(%q): %v", id, err)
	}
	checkUTC(t, "GetConnection("+id+")", connectionTimes(got)...)
	return got
}

// connectionExists reports whether id is stored, failing on errors other
// than ErrNotFound.
func connectionExists(t *testing.T, s mcpgate.Store, id string) bool {
	t.Helper()
	_, err := s.GetConnection(t.Context(), id)
	if errors.Is(err, mcpgate.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("GetConnection(%q): %v", id, err)
	}
	return true
}

func sortedConnections(cs ...mcpgate.Connection) []mcpgate.Connection {
	cs = slices.Clone(cs)
	slices.SortFunc(cs, func(a, b mcpgate.Connection) int {
		if c := strings.Compare(a.Server, b.Server); c != 0 {
			return c
		}
		return strings.Compare(a.User, b.User)
	})
	return cs
}

func testConnectionCreateGet(t *testing.T, s mcpgate.Store) {
	withServers(t, s, "github", "jira")
	versioned := newConnection("c-versioned", "jira", "bob@example.com")
	versioned.Version = 9 // ignored: CreateConnection starts at 1
	emptyToken := minimalConnection("c-empty", "jira", "")
	emptyToken.AccessToken, emptyToken.RefreshToken = []byte{}, []byte{}
	tests := []struct {
		name string
		in   mcpgate.Connection
	}{
		{"full", newConnection("c-full", "github", "alice@example.com")},
		{"shared", newConnection("c-shared", "github", "")},
		{"minimal", minimalConnection("c-minimal", "github", "bob@example.com")},
		{"version ignored", versioned},
		{"empty tokens", emptyToken},
		{"step-up", func() mcpgate.Connection {
			c := newConnection("c-step-up", "jira", "carol@example.com")
			c.State = mcpgate.StateStepUpRequired
			c.StepUpScopes = []string{"read", "write:issues", "admin:org", "scope with spaces", "ünïcode"}
			return c
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustCreateConnection(t, s, tc.in)
			want := tc.in
			want.Version = 1
			if d := diff(want, mustGetConnection(t, s, tc.in.ID)); d != "" {
				t.Errorf("GetConnection (-want +got):\n%s", d)
			}
			found, err := s.FindConnection(t.Context(), tc.in.Server, tc.in.User)
			if err != nil {
				t.Fatalf("FindConnection(%q, %q): %v", tc.in.Server, tc.in.User, err)
			}
			checkUTC(t, "FindConnection", connectionTimes(found)...)
			if d := diff(want, found); d != "" {
				t.Errorf("FindConnection(%q, %q) (-want +got):\n%s", tc.in.Server, tc.in.User, d)
			}
		})
	}

}

// testConnectionZeroTimes: unset times come back as the zero time, not the
// Unix epoch, also after being set and cleared again.
func testConnectionZeroTimes(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	withServers(t, s, "srv")
	mustCreateConnection(t, s, minimalConnection("c-zero", "srv", "alice"))
	check := func(when string, c mcpgate.Connection) {
		t.Helper()
		for field, tm := range map[string]time.Time{
			"ExpiresAt": c.ExpiresAt, "IssuedAt": c.IssuedAt, "LeaseUntil": c.LeaseUntil,
			"LastRefreshAt": c.LastRefreshAt, "LastUsedAt": c.LastUsedAt, "LastErrorAt": c.LastErrorAt,
		} {
			if !tm.IsZero() {
				t.Errorf("%s: %s = %v, want the zero time", when, field, tm)
			}
		}
	}
	check("after create", mustGetConnection(t, s, "c-zero"))

	full := newConnection("c-zero", "srv", "alice")
	full.Version = 1
	set, err := s.UpdateConnection(ctx, full)
	if err != nil {
		t.Fatalf("UpdateConnection(set times): %v", err)
	}
	if d := diff(set, mustGetConnection(t, s, "c-zero")); d != "" {
		t.Errorf("after setting every field (-want +got):\n%s", d)
	}
	cleared := minimalConnection("c-zero", "srv", "alice")
	cleared.Version = set.Version
	if _, err := s.UpdateConnection(ctx, cleared); err != nil {
		t.Fatalf("UpdateConnection(clear times): %v", err)
	}
	got := mustGetConnection(t, s, "c-zero")
	check("after clearing", got)
	if len(got.RefreshToken) != 0 || len(got.Scopes) != 0 || len(got.StepUpScopes) != 0 || got.LeaseOwner != "" || got.LastError != "" {
		t.Errorf("after clearing: %+v, want refresh token, scopes, lease owner and last error empty", got)
	}
}

func testConnectionDuplicate(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	withServers(t, s, "github", "jira")
	alice := newConnection("c-alice", "github", "alice")
	shared := newConnection("c-shared", "github", "")
	mustCreateConnection(t, s, alice)
	mustCreateConnection(t, s, shared)

	for name, c := range map[string]mcpgate.Connection{
		"server and user":        newConnection("c-alice-2", "github", "alice"),
		"shared connection":      newConnection("c-shared-2", "github", ""),
		"id":                     newConnection("c-alice", "jira", "bob"),
		"minimal, same user":     minimalConnection("c-alice-3", "github", "alice"),
		"minimal, shared, again": minimalConnection("c-shared-3", "github", ""),
	} {
		if err := s.CreateConnection(ctx, c); !errors.Is(err, mcpgate.ErrConflict) {
			t.Errorf("CreateConnection(duplicate %s) = %v, want ErrConflict", name, err)
		}
	}
	for _, want := range []mcpgate.Connection{alice, shared} {
		if d := diff(want, mustGetConnection(t, s, want.ID)); d != "" {
			t.Errorf("duplicate creates changed %s (-want +got):\n%s", want.ID, d)
		}
	}
	for _, id := range []string{"c-alice-2", "c-shared-2", "c-alice-3", "c-shared-3"} {
		if connectionExists(t, s, id) {
			t.Errorf("rejected duplicate %s was stored", id)
		}
	}
	// The same user, or a shared connection, at another server is no duplicate.
	mustCreateConnection(t, s, newConnection("c-alice-jira", "jira", "alice"))
	mustCreateConnection(t, s, newConnection("c-shared-jira", "jira", ""))
}

// testConnectionUnknownServer: a connection to a server that does not exist
// (for example one deleted meanwhile) is refused, so DeleteServer cannot
// miss it.
func testConnectionUnknownServer(t *testing.T, s mcpgate.Store) {
	err := s.CreateConnection(t.Context(), newConnection("c-orphan", "no-such-server", "alice"))
	if !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("CreateConnection(unknown server) = %v, want ErrNotFound", err)
	}
	if connectionExists(t, s, "c-orphan") {
		t.Errorf("connection to an unknown server was stored")
	}
}

func testConnectionMissing(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	withServers(t, s, "srv")
	mustCreateConnection(t, s, newConnection("c-bob", "srv", "bob"))
	if _, err := s.GetConnection(ctx, "nope"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("GetConnection(missing) = %v, want ErrNotFound", err)
	}
	for _, c := range []struct{ server, user string }{{"srv", "alice"}, {"srv", ""}, {"no-such-server", "bob"}, {"", "bob"}} {
		if _, err := s.FindConnection(ctx, c.server, c.user); !errors.Is(err, mcpgate.ErrNotFound) {
			t.Errorf("FindConnection(%q, %q) = %v, want ErrNotFound", c.server, c.user, err)
		}
	}
	if _, err := s.UpdateConnection(ctx, newConnection("nope", "srv", "alice")); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("UpdateConnection(missing) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteConnection(ctx, "nope"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("DeleteConnection(missing) = %v, want ErrNotFound", err)
	}
	if connectionExists(t, s, "nope") {
		t.Errorf("UpdateConnection(missing) created a connection")
	}
}

func testConnectionList(t *testing.T, s mcpgate.Store) {
	got, err := s.ListConnections(t.Context())
	if err != nil || len(got) != 0 {
		t.Fatalf("ListConnections(empty store) = %v, %v; want none", got, err)
	}
	// Byte order, not a locale collation: '' < 'B' < '_' < 'a' and
	// '-' < '.' < '0' < 'b'.
	servers := []string{"b", "a.b", "ab", "a-c"}
	users := []string{"bob", "", "Bob", "al-ice", "alice", "_x"}
	withServers(t, s, servers...)
	var want []mcpgate.Connection
	for i, srv := range servers {
		for j, user := range users {
			c := newConnection(fmt.Sprintf("c-%d-%d", len(servers)-i, j), srv, user)
			if j%2 == 1 {
				c = minimalConnection(c.ID, srv, user)
			}
			mustCreateConnection(t, s, c)
			want = append(want, c)
		}
	}
	got, err = s.ListConnections(t.Context())
	if err != nil {
		t.Fatalf("ListConnections: %v", err)
	}
	if d := diff(sortedConnections(want...), got); d != "" {
		t.Errorf("ListConnections, by server then user (-want +got):\n%s", d)
	}
	for _, c := range got {
		checkUTC(t, "ListConnections "+c.ID, connectionTimes(c)...)
	}
}

func testConnectionUpdate(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	withServers(t, s, "github", "jira")
	mustCreateConnection(t, s, newConnection("c-upd", "github", "alice"))
	mustCreateConnection(t, s, newConnection("c-neighbour", "jira", "alice"))
	v1 := mustGetConnection(t, s, "c-upd")

	// A refresh: every mutable field changes.
	next := v1
	next.State = mcpgate.StateStepUpRequired
	next.Issuer = "https://other-issuer.example"
	next.ClientID = "client-2"
	next.GrantType = "client_credentials"
	next.Scopes = []string{"read"}
	next.StepUpScopes = []string{"read", "admin", "write"}
	next.AccessToken = []byte{0xff, 0, 0xfe}
	next.RefreshToken = nil // the server issued no new one
	next.TokenType = "DPoP"
	next.ExpiresAt = at(3 * time.Hour)
	next.IssuedAt = at(2 * time.Hour)
	next.Generation++
	next.LeaseOwner = ""
	next.LeaseUntil = time.Time{}
	next.LastRefreshAt = at(2 * time.Hour)
	next.LastUsedAt = at(2*time.Hour + time.Second)
	next.RefreshFailures = 0
	next.LastError = ""
	next.LastErrorAt = time.Time{}
	next.UpdatedAt = at(2 * time.Hour)
	v2, err := s.UpdateConnection(ctx, next)
	if err != nil {
		t.Fatalf("UpdateConnection: %v", err)
	}
	want := next
	want.Version = 2
	if d := diff(want, v2); d != "" {
		t.Errorf("UpdateConnection result (-want +got):\n%s", d)
	}
	got := mustGetConnection(t, s, "c-upd")
	if d := diff(want, got); d != "" {
		t.Errorf("GetConnection after update (-want +got):\n%s", d)
	}
	if len(got.RefreshToken) != 0 {
		t.Errorf("RefreshToken = %x after setting it to nil, want none", got.RefreshToken)
	}

	stale := v1
	stale.LeaseOwner = "stale-writer"
	if _, err := s.UpdateConnection(ctx, stale); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("UpdateConnection(stale version) = %v, want ErrConflict", err)
	}
	ahead := v2
	ahead.Version = 5
	if _, err := s.UpdateConnection(ctx, ahead); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("UpdateConnection(future version) = %v, want ErrConflict", err)
	}
	// Taking the place of another connection is a duplicate.
	move := v2
	move.Server = "jira"
	if _, err := s.UpdateConnection(ctx, move); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("UpdateConnection(onto another connection's server and user) = %v, want ErrConflict", err)
	}
	if d := diff(want, mustGetConnection(t, s, "c-upd")); d != "" {
		t.Errorf("rejected updates changed the connection (-want +got):\n%s", d)
	}
	if d := diff(newConnection("c-neighbour", "jira", "alice"), mustGetConnection(t, s, "c-neighbour")); d != "" {
		t.Errorf("updates changed another connection (-want +got):\n%s", d)
	}
	v3, err := s.UpdateConnection(ctx, v2)
	if err != nil || v3.Version != 3 {
		t.Errorf("UpdateConnection(current) = version %d, %v; want 3, nil", v3.Version, err)
	}
}

// testConnectionConcurrentCAS: n replicas try to take the refresh lease at
// once; exactly one wins and the rest see ErrConflict.
func testConnectionConcurrentCAS(t *testing.T, s mcpgate.Store, n int) {
	withServers(t, s, "srv")
	mustCreateConnection(t, s, newConnection("c-cas", "srv", "alice"))
	base := mustGetConnection(t, s, "c-cas")
	results := make([]mcpgate.Connection, n)
	errs := concurrently(n, func(i int) error {
		next := base
		next.LeaseOwner = fmt.Sprintf("replica-%d", i)
		next.LeaseUntil = at(time.Duration(i+1) * time.Second)
		var err error
		results[i], err = s.UpdateConnection(t.Context(), next)
		return err
	})
	winner := checkOneWinner(t, errs)
	if winner < 0 {
		return
	}
	got := mustGetConnection(t, s, "c-cas")
	if d := diff(results[winner], got); d != "" {
		t.Errorf("stored connection is not the winner's (-want +got):\n%s", d)
	}
	if got.Version != base.Version+1 {
		t.Errorf("Version = %d, want %d", got.Version, base.Version+1)
	}
}

func testConnectionDelete(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	withServers(t, s, "srv")
	keep := newConnection("c-keep", "srv", "alice")
	mustCreateConnection(t, s, keep)
	mustCreateConnection(t, s, newConnection("c-gone", "srv", ""))
	if err := s.DeleteConnection(ctx, "c-gone"); err != nil {
		t.Fatalf("DeleteConnection: %v", err)
	}
	if connectionExists(t, s, "c-gone") {
		t.Errorf("connection still there after DeleteConnection")
	}
	if _, err := s.FindConnection(ctx, "srv", ""); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("FindConnection(deleted) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteConnection(ctx, "c-gone"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("DeleteConnection(twice) = %v, want ErrNotFound", err)
	}
	got, err := s.ListConnections(ctx)
	if err != nil {
		t.Fatalf("ListConnections: %v", err)
	}
	if d := diff([]mcpgate.Connection{keep}, got); d != "" {
		t.Errorf("ListConnections after delete (-want +got):\n%s", d)
	}
	// The id, and the server's shared slot, are free again.
	mustCreateConnection(t, s, newConnection("c-gone", "srv", ""))
}

func testConnectionDeleteOf(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	servers := []string{"github", "jira", "slack"}
	users := []string{"", "alice", "bob"}
	withServers(t, s, servers...)
	all := map[string]mcpgate.Connection{}
	for _, srv := range servers {
		for _, user := range users {
			c := newConnection(srv+"/"+user, srv, user)
			mustCreateConnection(t, s, c)
			all[c.ID] = c
		}
	}
	remaining := func() []mcpgate.Connection {
		t.Helper()
		got, err := s.ListConnections(ctx)
		if err != nil {
			t.Fatalf("ListConnections: %v", err)
		}
		return got
	}
	pick := func(ids ...string) []mcpgate.Connection {
		var cs []mcpgate.Connection
		for _, id := range ids {
			cs = append(cs, all[id])
			delete(all, id)
		}
		return sortedConnections(cs...)
	}
	left := func() []mcpgate.Connection {
		var cs []mcpgate.Connection
		for _, c := range all {
			cs = append(cs, c)
		}
		return sortedConnections(cs...)
	}

	if _, err := s.DeleteConnectionsOf(ctx, "", ""); !errors.Is(err, mcpgate.ErrInvalid) {
		t.Errorf("DeleteConnectionsOf(\"\", \"\") = %v, want ErrInvalid", err)
	}
	if d := diff(left(), remaining()); d != "" {
		t.Fatalf("DeleteConnectionsOf(\"\", \"\") deleted connections (-want +got):\n%s", d)
	}

	for _, step := range []struct {
		server, user string
		deleted      []string
	}{
		{"jira", "", []string{"jira/", "jira/alice", "jira/bob"}}, // a server, shared connection included
		{"", "alice", []string{"github/alice", "slack/alice"}},    // a user, shared connections excluded
		{"slack", "bob", []string{"slack/bob"}},                   // both: that user at that server
		{"jira", "", nil},                                         // nothing left to delete
		{"", "nobody", nil},                                       // an unknown user
		{"github", "alice", nil},                                  // already gone
		{"github", "", []string{"github/", "github/bob"}},         // the rest of a server
		{"", "bob", nil},                                          // bob is gone everywhere
		{"slack", "", []string{"slack/"}},                         // the last shared connection
	} {
		want := pick(step.deleted...)
		got, err := s.DeleteConnectionsOf(ctx, step.server, step.user)
		if err != nil {
			t.Fatalf("DeleteConnectionsOf(%q, %q): %v", step.server, step.user, err)
		}
		for _, c := range got {
			checkUTC(t, "DeleteConnectionsOf "+c.ID, connectionTimes(c)...)
		}
		if d := diff(want, got); d != "" {
			t.Errorf("DeleteConnectionsOf(%q, %q) returned (-want +got):\n%s", step.server, step.user, d)
		}
		if d := diff(left(), remaining()); d != "" {
			t.Errorf("after DeleteConnectionsOf(%q, %q), remaining (-want +got):\n%s", step.server, step.user, d)
		}
	}
}

func testConnectionDeleteServer(t *testing.T, s mcpgate.Store) {
	withServers(t, s, "doomed", "stays")
	mustCreateConnection(t, s, newConnection("d-shared", "doomed", ""))
	mustCreateConnection(t, s, newConnection("d-alice", "doomed", "alice"))
	mustCreateConnection(t, s, newConnection("s-alice", "stays", "alice"))
	if err := s.DeleteServer(t.Context(), "doomed"); err != nil {
		t.Fatalf("DeleteServer: %v", err)
	}
	for id, want := range map[string]bool{"d-shared": false, "d-alice": false, "s-alice": true} {
		if got := connectionExists(t, s, id); got != want {
			t.Errorf("connection %s exists = %v after DeleteServer, want %v", id, got, want)
		}
	}
	// A server created again under the name starts without connections.
	mustCreateServer(t, s, newServer("doomed"))
	if _, err := s.FindConnection(t.Context(), "doomed", "alice"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("FindConnection at the recreated server = %v, want ErrNotFound", err)
	}
	mustCreateConnection(t, s, newConnection("d-alice-2", "doomed", "alice"))
}

// testConnectionListDue: only connections with a refresh point at or before
// t, soonest first; none that needs re-authorization, none without a point.
func testConnectionListDue(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	withServers(t, s, "a", "b")
	mk := func(id, server, user string, due time.Duration, state mcpgate.ConnectionState) mcpgate.Connection {
		c := newConnection(id, server, user)
		c.State, c.RefreshDueAt = state, at(due)
		if due < 0 {
			c.RefreshDueAt = time.Time{}
		}
		mustCreateConnection(t, s, c)
		return c
	}
	late := mk("late", "a", "u1", 2*time.Minute, mcpgate.StateConnected)
	early := mk("early", "b", "u2", time.Minute, mcpgate.StateStepUpRequired)
	edge := mk("edge", "a", "u3", 3*time.Minute, mcpgate.StateConnected)
	mk("future", "a", "u4", 4*time.Minute, mcpgate.StateConnected)
	mk("reauth", "b", "u5", 0, mcpgate.StateReauthRequired)
	mk("never", "b", "u6", -1, mcpgate.StateConnected)

	got, err := s.ListConnectionsDue(ctx, at(3*time.Minute))
	if err != nil {
		t.Fatalf("ListConnectionsDue: %v", err)
	}
	if d := diff([]mcpgate.Connection{early, late, edge}, got); d != "" {
		t.Errorf("ListConnectionsDue(t0+3m), soonest first (-want +got):\n%s", d)
	}
	if got, err := s.ListConnectionsDue(ctx, at(0)); err != nil || len(got) != 0 {
		t.Errorf("ListConnectionsDue(t0) = %v, %v; want none", got, err)
	}
	// Moving the point moves the connection out.
	late.RefreshDueAt = at(time.Hour)
	if _, err := s.UpdateConnection(ctx, late); err != nil {
		t.Fatal(err)
	}
	got, err = s.ListConnectionsDue(ctx, at(3*time.Minute))
	if err != nil || len(got) != 2 || got[0].ID != "early" || got[1].ID != "edge" {
		t.Errorf("after moving late's point: %v, %v; want early, edge", got, err)
	}
}
