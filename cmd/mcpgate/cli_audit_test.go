package main

import (
	"bytes"
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/adminclient/adminclienttest"
)

// seedAudit gives the fake three events, an hour apart, the newest an hour ago.
func seedAudit(f *adminclienttest.Server) []adminapi.AuditEvent {
	now := adminclienttest.Now
	return f.AddAuditEvents(
		adminapi.AuditEvent{Time: now.Add(-3 * time.Hour), GrantID: "g_1", User: "ann", ClientName: "claude-code", Server: "gh",
			Method: "tools/call", Tool: "list_issues", Decision: "allow", RuleID: "", LatencyMS: 12.25, UpstreamStatus: 200,
			Arguments: json.RawMessage(`{"repo":"mcpgate","token":"[REDACTED]"}`)},
		adminapi.AuditEvent{Time: now.Add(-2 * time.Hour), GrantID: "g_2", User: "bob", Server: "gh", Method: "tools/call",
			Tool: "delete_repo", Decision: "deny", RuleID: "no-delete", Reason: "deletes are\nblocked", LatencyMS: 0.4},
		adminapi.AuditEvent{Time: now.Add(-time.Hour), GrantID: "g_1", User: "ann", Server: "jira", Method: "resources/read",
			Tool: "jira://issue/1", Decision: "dry_run_deny", RuleID: "ro", Reason: "read only", LatencyMS: 1500, UpstreamStatus: 200},
	)
}

// compactArguments undoes the indentation -o json gives the arguments.
func compactArguments(t *testing.T, events []adminapi.AuditEvent) {
	t.Helper()
	for i, e := range events {
		if e.Arguments == nil {
			continue
		}
		var b bytes.Buffer
		if err := json.Compact(&b, e.Arguments); err != nil {
			t.Fatalf("event %d arguments: %v", e.ID, err)
		}
		events[i].Arguments = b.Bytes()
	}
}

func TestAudit(t *testing.T) {
	f := gateway(t)
	ev := seedAudit(f)

	want := "" +
		"TIME                  USER  SERVER  METHOD          TOOL            DECISION      RULE       REASON               LATENCY\n" +
		"2025-06-01T11:00:00Z  ann   jira    resources/read  jira://issue/1  dry_run_deny  ro         read only            1500.0ms\n" +
		"2025-06-01T10:00:00Z  bob   gh      tools/call      delete_repo     deny          no-delete  deletes are?blocked  0.4ms\n" +
		"2025-06-01T09:00:00Z  ann   gh      tools/call      list_issues     allow         -          -                    12.2ms\n"
	if out := mustRun(t, "audit"); out != want {
		t.Errorf("audit:\n%s\nwant:\n%s", out, want)
	}

	tests := []struct {
		args      []string
		want      []adminapi.AuditEvent
		wantQuery url.Values
	}{
		{nil, []adminapi.AuditEvent{ev[2], ev[1], ev[0]}, url.Values{}},
		{[]string{"--server", "gh"}, []adminapi.AuditEvent{ev[1], ev[0]}, url.Values{"server": {"gh"}}},
		{[]string{"--user", "ann", "--decision", "allow"}, []adminapi.AuditEvent{ev[0]}, url.Values{"user": {"ann"}, "decision": {"allow"}}},
		{[]string{"--since", "150m"}, []adminapi.AuditEvent{ev[2], ev[1]}, url.Values{"since": {"150m"}}},
		{[]string{"--since", "1d", "--until", "2025-06-01T10:00:00Z"}, []adminapi.AuditEvent{ev[0]},
			url.Values{"since": {"1d"}, "until": {"2025-06-01T10:00:00Z"}}},
		{[]string{"--limit", "1", "--before-id", "3"}, []adminapi.AuditEvent{ev[1]}, url.Values{"limit": {"1"}, "before_id": {"3"}}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{"json"}, tt.args...), " "), func(t *testing.T) {
			out := mustRun(t, append([]string{"audit", "-o", "json"}, tt.args...)...)
			var got adminapi.AuditList
			decodeStrict(t, out, &got)
			compactArguments(t, got.Events)
			if !reflect.DeepEqual(got.Events, tt.want) {
				t.Errorf("events = %+v\nwant     %+v", got.Events, tt.want)
			}
			qs := f.AuditQueries()
			if q := qs[len(qs)-1]; !reflect.DeepEqual(q, tt.wantQuery) {
				t.Errorf("query = %v, want %v", q, tt.wantQuery)
			}
		})
	}
}

func TestAuditPages(t *testing.T) {
	f := gateway(t)
	seedAudit(f)
	r := runCLI(t, "", "audit", "--limit", "2")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 3 {
		t.Fatalf("audit --limit 2: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	if want := "More events are older: repeat with --before-id 2 for the next page.\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	r = runCLI(t, "", "audit", "--limit", "2", "--before-id", "2")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 2 || r.stderr != "" {
		t.Errorf("last page: exit %d, stdout:\n%s\nstderr %q", r.code, r.stdout, r.stderr)
	}
	if out := mustRun(t, "audit", "--user", "nobody"); out != "TIME  USER  SERVER  METHOD  TOOL  DECISION  RULE  REASON  LATENCY\n" {
		t.Errorf("audit --user nobody:\n%s", out)
	}
	if out := mustRun(t, "audit", "--user", "nobody", "-o", "json"); out != "{\n  \"events\": [],\n  \"next_before_id\": 0\n}\n" {
		t.Errorf("audit --user nobody -o json: %q", out)
	}
}

func TestAuditErrors(t *testing.T) {
	f := gateway(t)
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"--decision", "block"}, 2, `mcpgate: --decision "block": want one of allow, deny, dry_run_deny` + "\n"},
		{[]string{"--limit", "0"}, 2, "mcpgate: --limit 0: want 1 to 1000\n"},
		{[]string{"--limit", "5000"}, 2, "mcpgate: --limit 5000: want 1 to 1000\n"},
		{[]string{"--before-id", "-1"}, 2, "mcpgate: --before-id -1: want an event id\n"},
		{[]string{"--limit", "ten"}, 2, `mcpgate: invalid argument "ten" for "--limit" flag`},
		{[]string{"now"}, 2, `mcpgate: unexpected argument "now"` + "\n"},
		{[]string{"--since", "yesterday"}, 1, `mcpgate: since "yesterday": want a duration back from now or an RFC 3339 time` + "\n"},
		{[]string{"-o", "yaml"}, 2, `mcpgate: invalid argument "yaml" for "-o, --output" flag`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, "", append([]string{"audit"}, tt.args...)...)
			if r.code != tt.code || !strings.HasPrefix(r.stderr, tt.stderr) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and stderr starting %q", r.code, r.stdout, r.stderr, tt.code, tt.stderr)
			}
		})
	}
	if n := len(f.AuditQueries()); n != 1 {
		t.Errorf("the gateway saw %d queries, want 1: usage errors never reach it", n)
	}

	t.Setenv("MCPGATE_ADMIN_TOKEN", "wrong")
	r := runCLI(t, "", "audit")
	if want := "mcpgate: unauthorized: missing or wrong admin token\nThe gateway refused the admin token"; r.code != 1 || !strings.HasPrefix(r.stderr, want) {
		t.Errorf("wrong token: exit %d, stderr %q", r.code, r.stderr)
	}
}
