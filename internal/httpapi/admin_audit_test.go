package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// auditNow is the gateway's clock in the audit tests.
var auditNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// seedAudit stores six events, one every 30 minutes up to auditNow, and
// returns them with their IDs, oldest first.
func seedAudit(t *testing.T, gw *gateway) []mcpgate.AuditEvent {
	t.Helper()
	spec := []struct{ server, user, decision string }{
		{"github", "alice", mcpgate.DecisionAllow},
		{"github", "bob", mcpgate.DecisionDeny},
		{"jira", "alice", mcpgate.DecisionDryRunDeny},
		{"jira", "bob", mcpgate.DecisionAllow},
		{"github", "alice", mcpgate.DecisionDeny},
		{"github", "alice", mcpgate.DecisionAllow},
	}
	var events []mcpgate.AuditEvent
	for i, s := range spec {
		e := mcpgate.AuditEvent{
			Time: auditNow.Add(time.Duration(i-len(spec)+1) * 30 * time.Minute), GrantID: "gr_" + s.user, User: s.user,
			ClientName: "claude-code", Server: s.server, Method: "tools/call", Tool: fmt.Sprint("tool_", i),
			Decision: s.decision, RuleID: "rule_" + s.decision, Reason: "because " + s.decision,
			Latency: time.Duration(i*1000+250) * time.Microsecond, UpstreamStatus: 200,
			Arguments: fmt.Sprintf(`{"n":%d,"token":"[REDACTED]"}`, i),
		}
		if s.decision != mcpgate.DecisionAllow {
			e.UpstreamStatus = 0
		}
		events = append(events, e)
	}
	events[2].Arguments = ""
	if err := gw.handler.Store.AppendAudit(t.Context(), events); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	return events
}

// getAudit calls GET /api/v1/audit?query and returns the status and body.
func getAudit(t *testing.T, gw *gateway, query string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", gw.srv.URL+"/api/v1/audit?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func mustGetAudit(t *testing.T, gw *gateway, query string) adminapi.AuditList {
	t.Helper()
	status, b := getAudit(t, gw, query)
	if status != http.StatusOK {
		t.Fatalf("GET /audit?%s: %d %s", query, status, b)
	}
	var list adminapi.AuditList
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		t.Fatalf("GET /audit?%s: %v", query, err)
	}
	return list
}

func auditIDs(list adminapi.AuditList) []int64 {
	ids := []int64{}
	for _, e := range list.Events {
		ids = append(ids, e.ID)
	}
	return ids
}

func TestAdminAudit(t *testing.T) {
	forEachStore(t, func(t *testing.T, pg bool) {
		gw := newGateway(t, gatewayOptions{postgres: pg, now: func() time.Time { return auditNow }})
		ev := seedAudit(t, gw)
		id := func(is ...int) []int64 {
			out := []int64{}
			for _, i := range is {
				out = append(out, ev[i].ID)
			}
			return out
		}

		// The shape of one event, byte for byte.
		status, body := getAudit(t, gw, "limit=1")
		want := fmt.Sprintf(`{
  "events": [
    {
      "id": %d,
      "time": "2025-06-01T12:00:00Z",
      "grant_id": "gr_alice",
      "user": "alice",
      "client_name": "claude-code",
      "server": "github",
      "method": "tools/call",
      "tool": "tool_5",
      "decision": "allow",
      "rule_id": "rule_allow",
      "reason": "because allow",
      "latency_ms": 5.25,
      "upstream_status": 200,
      "arguments": {
        "n": 5,
        "token": "[REDACTED]"
      }
    }
  ],
  "next_before_id": %d
}
`, ev[5].ID, ev[5].ID)
		if status != http.StatusOK || string(body) != want {
			t.Errorf("GET /audit?limit=1: %d\n%s\nwant:\n%s", status, body, want)
		}

		all := mustGetAudit(t, gw, "")
		if got := auditIDs(all); !cmp.Equal(got, id(5, 4, 3, 2, 1, 0)) || all.NextBeforeID != 0 {
			t.Errorf("all: IDs %v, next %d; want %v, 0", got, all.NextBeforeID, id(5, 4, 3, 2, 1, 0))
		}
		if a := all.Events[3]; a.Arguments != nil || a.UpstreamStatus != 0 || a.Decision != "dry_run_deny" || a.LatencyMS != 2.25 {
			t.Errorf("event without arguments: %+v", a)
		}

		tests := []struct {
			query string
			want  []int64
		}{
			{"server=github", id(5, 4, 1, 0)},
			{"user=bob", id(3, 1)},
			{"decision=deny", id(4, 1)},
			{"decision=dry_run_deny", id(2)},
			{"server=github&user=alice&decision=allow", id(5, 0)},
			{"since=1h", id(5, 4, 3)},
			{"since=90m&until=30m", id(3, 2)},
			{"since=1d", id(5, 4, 3, 2, 1, 0)},
			{"since=" + url.QueryEscape("2025-06-01T10:30:00Z"), id(5, 4, 3, 2)},
			{"until=" + url.QueryEscape("2025-06-01T11:00:00+02:00"), nil},
			{"until=2025-06-01T10:00:00.000001Z", id(1, 0)},
			{"server=jira&since=2h", id(3, 2)},
			{"before_id=" + fmt.Sprint(ev[3].ID), id(2, 1, 0)},
			{"before_id=" + fmt.Sprint(ev[3].ID) + "&user=alice", id(2, 0)},
			{"user=carol", nil},
			{"server=&user=&decision=&since=&until=", id(5, 4, 3, 2, 1, 0)},
		}
		for _, tt := range tests {
			if tt.want == nil {
				tt.want = []int64{}
			}
			if got := auditIDs(mustGetAudit(t, gw, tt.query)); !cmp.Equal(got, tt.want) {
				t.Errorf("GET /audit?%s: IDs %v, want %v", tt.query, got, tt.want)
			}
		}

		// Paging with next_before_id visits everything once.
		var paged []int64
		query := "limit=4&server=github"
		for range 5 {
			page := mustGetAudit(t, gw, query)
			paged = append(paged, auditIDs(page)...)
			if page.NextBeforeID == 0 {
				break
			}
			query = fmt.Sprintf("limit=4&server=github&before_id=%d", page.NextBeforeID)
		}
		if !cmp.Equal(paged, id(5, 4, 1, 0)) {
			t.Errorf("paged IDs %v, want %v", paged, id(5, 4, 1, 0))
		}
	})
}

// TestAdminAuditArgumentsNotJSON: a stored value that is not JSON (the
// Writer never stores one) is not passed on raw.
func TestAdminAuditArgumentsNotJSON(t *testing.T) {
	gw := newGateway(t, gatewayOptions{})
	e := mcpgate.AuditEvent{Time: auditNow, Server: "s", Decision: mcpgate.DecisionDeny, Arguments: `{"password":"hunter2"`}
	if err := gw.handler.Store.AppendAudit(t.Context(), []mcpgate.AuditEvent{e}); err != nil {
		t.Fatal(err)
	}
	list := mustGetAudit(t, gw, "")
	if len(list.Events) != 1 || string(list.Events[0].Arguments) != `"[invalid JSON]"` {
		t.Errorf("events %+v; want the arguments replaced by a note", list.Events)
	}
}

func TestAdminAuditBadQuery(t *testing.T) {
	gw := newGateway(t, gatewayOptions{now: func() time.Time { return auditNow }})
	tests := []struct{ query, says string }{
		{"decision=block", `decision "block": want allow, deny or dry_run_deny`},
		{"decision=ALLOW", `decision "ALLOW"`},
		{"since=yesterday", `since "yesterday": want a duration back from now`},
		{"since=-1h", `since "-1h"`},
		{"until=2025-06-01", `until "2025-06-01"`},
		{"until=1.5d", `until "1.5d"`},
		{"since=99999999999d", `since "99999999999d"`},
		{"before_id=0", `before_id "0": want a positive event id`},
		{"before_id=x", `before_id "x"`},
		{"limit=0", `limit "0": want a number from 1 to 1000`},
		{"limit=1001", `limit "1001"`},
		{"limit=ten", `limit "ten"`},
		{"users=alice", `unknown query parameter "users"`},
		{"server=a&server=b", "query parameter server is given 2 times"},
	}
	for _, tt := range tests {
		status, b := getAudit(t, gw, tt.query)
		var e adminapi.ErrorBody
		if err := json.Unmarshal(b, &e); err != nil || status != http.StatusBadRequest || e.Error.Code != "invalid" || !strings.Contains(e.Error.Message, tt.says) {
			t.Errorf("GET /audit?%s: %d %s; want 400 invalid saying %q", tt.query, status, b, tt.says)
		}
	}
	req, _ := http.NewRequest("GET", gw.srv.URL+"/api/v1/audit", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /audit without the admin token: %d, want 401", resp.StatusCode)
	}
}
