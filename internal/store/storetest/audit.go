package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// newAuditEvent returns an event at t0+d with every field set.
func newAuditEvent(n int, d time.Duration, server, user, decision string) mcpgate.AuditEvent {
	status := 200
	if decision != mcpgate.DecisionAllow {
		status = 0
	}
	return mcpgate.AuditEvent{
		Time:           at(d),
		GrantID:        "g-" + user,
		User:           user,
		ClientName:     "claude-code",
		Server:         server,
		Method:         "tools/call",
		Tool:           fmt.Sprintf("tool_%d", n),
		Decision:       decision,
		RuleID:         "rule-" + decision,
		Reason:         "because " + decision,
		Latency:        time.Duration(n+1) * 1234 * time.Microsecond,
		UpstreamStatus: status,
		Arguments:      fmt.Sprintf(`{"n":%d,"token":"[REDACTED]"}`, n),
	}
}

func mustAppendAudit(t *testing.T, s mcpgate.Store, events []mcpgate.AuditEvent) {
	t.Helper()
	if err := s.AppendAudit(t.Context(), events); err != nil {
		t.Fatalf("AppendAudit(%d events): %v", len(events), err)
	}
}

func mustQueryAudit(t *testing.T, s mcpgate.Store, q mcpgate.AuditQuery) []mcpgate.AuditEvent {
	t.Helper()
	got, err := s.QueryAudit(t.Context(), q)
	if err != nil {
		t.Fatalf("QueryAudit(%+v): %v", q, err)
	}
	for _, e := range got {
		checkUTC(t, "QueryAudit", e.Time)
	}
	return got
}

// newestFirst returns events in reverse: the order QueryAudit answers in.
func newestFirst(events []mcpgate.AuditEvent) []mcpgate.AuditEvent {
	out := slices.Clone(events)
	slices.Reverse(out)
	return out
}

// ids lists the events' IDs, for short failure messages.
func ids(events []mcpgate.AuditEvent) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// testAuditAppend: AppendAudit assigns increasing IDs, within a batch in its
// order and across batches, writes them back into the slice, and every field
// survives (times in UTC, latency to the microsecond).
func testAuditAppend(t *testing.T, s mcpgate.Store) {
	if err := s.AppendAudit(t.Context(), nil); err != nil {
		t.Fatalf("AppendAudit(nil): %v", err)
	}
	if got := mustQueryAudit(t, s, mcpgate.AuditQuery{}); len(got) != 0 {
		t.Fatalf("QueryAudit on an empty log = %v, want none", ids(got))
	}
	first := []mcpgate.AuditEvent{
		newAuditEvent(0, 0, "github", "alice", mcpgate.DecisionAllow),
		newAuditEvent(1, time.Second, "github", "bob", mcpgate.DecisionDeny),
		newAuditEvent(2, 2*time.Second, "jira", "alice", mcpgate.DecisionDryRunDeny),
	}
	first[2].Arguments = ""  // no arguments
	first[1].ClientName = "" // unknown client
	first[1].Latency += 999  // below a microsecond: dropped
	mustAppendAudit(t, s, first)
	first[1].Latency -= 999
	second := []mcpgate.AuditEvent{newAuditEvent(3, 3*time.Second, "jira", "carol", mcpgate.DecisionAllow)}
	mustAppendAudit(t, s, second)

	all := append(slices.Clone(first), second...)
	for i, e := range all {
		if e.ID <= 0 || i > 0 && e.ID <= all[i-1].ID {
			t.Fatalf("IDs written back = %v, want positive and increasing", ids(all))
		}
	}
	got := mustQueryAudit(t, s, mcpgate.AuditQuery{})
	if d := diff(newestFirst(all), got); d != "" {
		t.Errorf("QueryAudit (-want +got):\n%s", d)
	}

	// A batch larger than a backend's rows per statement keeps its order.
	big := make([]mcpgate.AuditEvent, 300)
	for i := range big {
		big[i] = newAuditEvent(4+i, time.Duration(4+i)*time.Second, "github", fmt.Sprint("user", i), mcpgate.DecisionAllow)
	}
	mustAppendAudit(t, s, big)
	for i, e := range big {
		if i > 0 && e.ID <= big[i-1].ID || i == 0 && e.ID <= all[len(all)-1].ID {
			t.Fatalf("IDs of a 300-event batch are not increasing at %d: %v", i, ids(big))
		}
	}
	got = mustQueryAudit(t, s, mcpgate.AuditQuery{Limit: 1000})
	if d := diff(newestFirst(append(all, big...)), got); d != "" {
		t.Errorf("QueryAudit after a 300-event batch (-want +got):\n%s", d)
	}
}

// testAuditText: values come from clients; NUL and invalid UTF-8 do not fail
// the batch (PostgreSQL text refuses both) but are stored as U+FFFD.
func testAuditText(t *testing.T, s mcpgate.Store) {
	e := newAuditEvent(0, 0, "github", "alice", mcpgate.DecisionDeny)
	e.Tool = "bad\x00tool\xff"
	e.ClientName = "ünïcode ✓"
	e.Reason = "\xc3"
	events := []mcpgate.AuditEvent{e, newAuditEvent(1, time.Second, "github", "alice", mcpgate.DecisionAllow)}
	mustAppendAudit(t, s, events)
	got := mustQueryAudit(t, s, mcpgate.AuditQuery{})
	events[0].Tool, events[0].Reason = "bad\uFFFDtool\uFFFD", "\uFFFD"
	if d := diff(newestFirst(events), got); d != "" {
		t.Errorf("QueryAudit (-want +got):\n%s", d)
	}
}

// auditFixture appends nine events a minute apart and returns them with their IDs.
func auditFixture(t *testing.T, s mcpgate.Store) []mcpgate.AuditEvent {
	t.Helper()
	spec := []struct{ server, user, decision string }{
		{"github", "alice", mcpgate.DecisionAllow},    // 0
		{"github", "bob", mcpgate.DecisionDeny},       // 1
		{"jira", "alice", mcpgate.DecisionAllow},      // 2
		{"jira", "bob", mcpgate.DecisionDryRunDeny},   // 3
		{"github", "alice", mcpgate.DecisionDeny},     // 4
		{"notion", "carol", mcpgate.DecisionAllow},    // 5
		{"github", "alice", mcpgate.DecisionAllow},    // 6
		{"jira", "alice", mcpgate.DecisionDeny},       // 7
		{"github", "bob", mcpgate.DecisionDryRunDeny}, // 8
	}
	var events []mcpgate.AuditEvent
	for i, sp := range spec {
		events = append(events, newAuditEvent(i, time.Duration(i)*time.Minute, sp.server, sp.user, sp.decision))
	}
	// Two batches, to cover IDs across them.
	mustAppendAudit(t, s, events[:4])
	mustAppendAudit(t, s, events[4:])
	return events
}

// pick returns events[i] for each i, newest (highest index) first.
func pick(events []mcpgate.AuditEvent, is ...int) []mcpgate.AuditEvent {
	out := []mcpgate.AuditEvent{}
	for _, i := range slices.Backward(is) {
		out = append(out, events[i])
	}
	return out
}

// testAuditQuery: every filter alone and combined; Since is inclusive, Until
// exclusive.
func testAuditQuery(t *testing.T, s mcpgate.Store) {
	ev := auditFixture(t, s)
	tests := []struct {
		name string
		q    mcpgate.AuditQuery
		want []int
	}{
		{"all", mcpgate.AuditQuery{}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"server", mcpgate.AuditQuery{Server: "github"}, []int{0, 1, 4, 6, 8}},
		{"user", mcpgate.AuditQuery{User: "alice"}, []int{0, 2, 4, 6, 7}},
		{"decision allow", mcpgate.AuditQuery{Decision: mcpgate.DecisionAllow}, []int{0, 2, 5, 6}},
		{"decision deny", mcpgate.AuditQuery{Decision: mcpgate.DecisionDeny}, []int{1, 4, 7}},
		{"decision dry_run_deny", mcpgate.AuditQuery{Decision: mcpgate.DecisionDryRunDeny}, []int{3, 8}},
		{"since (inclusive)", mcpgate.AuditQuery{Since: at(6 * time.Minute)}, []int{6, 7, 8}},
		{"until (exclusive)", mcpgate.AuditQuery{Until: at(2 * time.Minute)}, []int{0, 1}},
		{"since and until", mcpgate.AuditQuery{Since: at(2 * time.Minute), Until: at(5*time.Minute + time.Second)}, []int{2, 3, 4, 5}},
		{"since between events", mcpgate.AuditQuery{Since: at(7*time.Minute + time.Millisecond)}, []int{8}},
		{"server and user", mcpgate.AuditQuery{Server: "github", User: "alice"}, []int{0, 4, 6}},
		{"server and decision", mcpgate.AuditQuery{Server: "jira", Decision: mcpgate.DecisionDeny}, []int{7}},
		{"user and decision", mcpgate.AuditQuery{User: "bob", Decision: mcpgate.DecisionDryRunDeny}, []int{3, 8}},
		{"server, user, decision and time", mcpgate.AuditQuery{Server: "github", User: "alice", Decision: mcpgate.DecisionAllow,
			Since: at(time.Minute), Until: at(time.Hour)}, []int{6}},
		{"before id", mcpgate.AuditQuery{BeforeID: ev[5].ID}, []int{0, 1, 2, 3, 4}},
		{"before id and server", mcpgate.AuditQuery{Server: "github", BeforeID: ev[6].ID}, []int{0, 1, 4}},
		{"limit", mcpgate.AuditQuery{User: "alice", Limit: 2}, []int{6, 7}},
		{"no match", mcpgate.AuditQuery{Server: "github", User: "carol"}, nil},
		{"unknown server", mcpgate.AuditQuery{Server: "gitlab"}, nil},
		{"server is not a prefix", mcpgate.AuditQuery{Server: "git"}, nil},
		{"until before since", mcpgate.AuditQuery{Since: at(time.Hour), Until: at(0)}, nil},
		{"before the first id", mcpgate.AuditQuery{BeforeID: ev[0].ID}, nil},
	}
	for _, tt := range tests {
		got := mustQueryAudit(t, s, tt.q)
		if d := diff(pick(ev, tt.want...), got); d != "" {
			t.Errorf("%s: QueryAudit(%+v) (-want +got):\n%s", tt.name, tt.q, d)
		}
	}
}

// testAuditLimit: the default limit is 100 and the maximum 1000.
func testAuditLimit(t *testing.T, s mcpgate.Store) {
	const n = 1100
	events := make([]mcpgate.AuditEvent, n)
	for i := range events {
		events[i] = newAuditEvent(i, time.Duration(i)*time.Millisecond, "github", "alice", mcpgate.DecisionAllow)
	}
	mustAppendAudit(t, s, events)
	for _, tt := range []struct{ limit, want int }{{0, 100}, {-5, 100}, {1, 1}, {250, 250}, {1000, 1000}, {1001, 1000}, {1 << 30, 1000}} {
		got := mustQueryAudit(t, s, mcpgate.AuditQuery{Limit: tt.limit})
		if len(got) != tt.want {
			t.Errorf("QueryAudit(Limit: %d) = %d events, want %d", tt.limit, len(got), tt.want)
			continue
		}
		if got[0].ID != events[n-1].ID || got[len(got)-1].ID != events[n-tt.want].ID {
			t.Errorf("QueryAudit(Limit: %d) = IDs %d..%d, want the newest %d (%d..%d)", tt.limit,
				got[0].ID, got[len(got)-1].ID, tt.want, events[n-1].ID, events[n-tt.want].ID)
		}
	}
}

// testAuditPaging: following BeforeID from the last event of each page
// visits every matching event once, newest first.
func testAuditPaging(t *testing.T, s mcpgate.Store) {
	ev := auditFixture(t, s)
	for _, q := range []mcpgate.AuditQuery{{Limit: 2}, {Limit: 4}, {Server: "github", Limit: 2}, {User: "alice", Limit: 1}} {
		var got []mcpgate.AuditEvent
		want := mustQueryAudit(t, s, mcpgate.AuditQuery{Server: q.Server, User: q.User})
		for page := 0; ; page++ {
			if page > len(ev) {
				t.Fatalf("paging %+v does not end", q)
			}
			batch := mustQueryAudit(t, s, q)
			if len(batch) > q.Limit {
				t.Fatalf("page %d of %+v has %d events", page, q, len(batch))
			}
			got = append(got, batch...)
			if len(batch) < q.Limit {
				break
			}
			q.BeforeID = batch[len(batch)-1].ID
		}
		if d := diff(want, got); d != "" {
			t.Errorf("paging %+v (-want +got):\n%s", q, d)
		}
	}
}

// testAuditDeleteBefore: retention removes events strictly older than t
// and reports how many; IDs are not reused afterwards.
func testAuditDeleteBefore(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	ev := auditFixture(t, s)
	n, err := s.DeleteAuditBefore(ctx, at(3*time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("DeleteAuditBefore(t0+3m) = %d, %v; want 3", n, err)
	}
	if d := diff(pick(ev, 3, 4, 5, 6, 7, 8), mustQueryAudit(t, s, mcpgate.AuditQuery{})); d != "" {
		t.Errorf("after DeleteAuditBefore (-want +got):\n%s", d)
	}
	if n, err := s.DeleteAuditBefore(ctx, at(3*time.Minute)); err != nil || n != 0 {
		t.Errorf("DeleteAuditBefore again = %d, %v; want 0", n, err)
	}
	if n, err := s.DeleteAuditBefore(ctx, at(time.Hour)); err != nil || n != 6 {
		t.Errorf("DeleteAuditBefore(everything) = %d, %v; want 6", n, err)
	}
	next := []mcpgate.AuditEvent{newAuditEvent(9, 0, "github", "alice", mcpgate.DecisionAllow)}
	mustAppendAudit(t, s, next)
	if next[0].ID <= ev[len(ev)-1].ID {
		t.Errorf("ID after deleting everything = %d, want above %d (IDs are never reused)", next[0].ID, ev[len(ev)-1].ID)
	}
}

// testAuditConcurrentAppend: batches appended at once get distinct IDs,
// increasing within each batch, and none is lost.
func testAuditConcurrentAppend(t *testing.T, s mcpgate.Store, n int) {
	const size = 20
	batches := make([][]mcpgate.AuditEvent, n)
	for b := range batches {
		for i := range size {
			batches[b] = append(batches[b], newAuditEvent(b*size+i, time.Duration(i)*time.Second, fmt.Sprint("srv-", b), "alice", mcpgate.DecisionAllow))
		}
	}
	for i, err := range concurrently(n, func(i int) error { return s.AppendAudit(t.Context(), batches[i]) }) {
		if err != nil {
			t.Fatalf("AppendAudit #%d: %v", i, err)
		}
	}
	seen := map[int64]bool{}
	for b, batch := range batches {
		for i, e := range batch {
			if seen[e.ID] || i > 0 && e.ID <= batch[i-1].ID {
				t.Fatalf("batch %d IDs %v: want distinct from other batches and increasing", b, ids(batch))
			}
			seen[e.ID] = true
		}
		if d := diff(newestFirst(batch), mustQueryAudit(t, s, mcpgate.AuditQuery{Server: fmt.Sprint("srv-", b)})); d != "" {
			t.Errorf("batch %d read back (-want +got):\n%s", b, d)
		}
	}
}
