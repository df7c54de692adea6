package adminclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/adminclient"
	"github.com/mcpgate/mcpgate/internal/adminclient/adminclienttest"
)

func TestAudit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := adminclienttest.New(t, token)
	c := adminclient.New(fake.URL, token, fake.Client())
	ev := fake.AddAuditEvents(
		adminapi.AuditEvent{Time: adminclienttest.Now.Add(-3 * time.Hour), User: "ann", Server: "gh", Method: "tools/call", Tool: "list_issues",
			Decision: adminapi.DecisionAllow, LatencyMS: 12.5, UpstreamStatus: 200, Arguments: json.RawMessage(`{"repo":"x"}`)},
		adminapi.AuditEvent{Time: adminclienttest.Now.Add(-2 * time.Hour), User: "bob", Server: "gh", Method: "tools/call", Tool: "delete_repo",
			Decision: adminapi.DecisionDeny, RuleID: "no-delete", Reason: "deletes are blocked"},
		adminapi.AuditEvent{Time: adminclienttest.Now.Add(-time.Hour), User: "ann", Server: "jira", Method: "tools/call", Tool: "create_issue",
			Decision: adminapi.DecisionDryRunDeny, RuleID: "ro", Reason: "read only (dry run)", UpstreamStatus: 200},
	)

	got, err := c.Audit(ctx, adminclient.AuditQuery{})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	if want := (adminapi.AuditList{Events: []adminapi.AuditEvent{ev[2], ev[1], ev[0]}}); !cmp.Equal(want, got) {
		t.Errorf("Audit (-want +got):\n%s", cmp.Diff(want, got))
	}

	got, err = c.Audit(ctx, adminclient.AuditQuery{Server: "gh", User: "ann", Decision: "allow", Since: "4h", Until: "2025-06-01T12:00:00Z", BeforeID: 3, Limit: 1})
	if err != nil {
		t.Fatalf("Audit with every filter: %v", err)
	}
	if want := (adminapi.AuditList{Events: []adminapi.AuditEvent{ev[0]}, NextBeforeID: ev[0].ID}); !cmp.Equal(want, got) {
		t.Errorf("Audit with every filter (-want +got):\n%s", cmp.Diff(want, got))
	}
	wantQueries := []url.Values{
		{},
		{"server": {"gh"}, "user": {"ann"}, "decision": {"allow"}, "since": {"4h"}, "until": {"2025-06-01T12:00:00Z"}, "before_id": {"3"}, "limit": {"1"}},
	}
	if diff := cmp.Diff(wantQueries, fake.AuditQueries()); diff != "" {
		t.Errorf("queries the fake saw (-want +got):\n%s", diff)
	}

	_, err = c.Audit(ctx, adminclient.AuditQuery{Decision: "maybe"})
	var apiErr *adminclient.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || apiErr.Code != "invalid" {
		t.Errorf("Audit(decision maybe) = %v, want the fake's 400", err)
	}
}
