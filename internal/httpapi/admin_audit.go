package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// Audit page sizes.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// listAudit serves GET /api/v1/audit.
func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := auditQuery(r.URL.Query(), h.Now())
	if err != nil {
		return err
	}
	events, err := h.Store.QueryAudit(r.Context(), q)
	if err != nil {
		return err
	}
	out := adminapi.AuditList{Events: make([]adminapi.AuditEvent, 0, len(events))}
	for _, e := range events {
		out.Events = append(out.Events, auditView(e))
	}
	if len(events) == q.Limit {
		out.NextBeforeID = events[len(events)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func auditView(e mcpgate.AuditEvent) adminapi.AuditEvent {
	v := adminapi.AuditEvent{
		ID: e.ID, Time: e.Time.UTC(), GrantID: e.GrantID, User: e.User, ClientName: e.ClientName,
		Server: e.Server, Method: e.Method, Tool: e.Tool, Decision: e.Decision, RuleID: e.RuleID,
		Reason: e.Reason, LatencyMS: float64(e.Latency.Microseconds()) / 1000, UpstreamStatus: e.UpstreamStatus,
	}
	switch {
	case e.Arguments == "":
	case json.Valid([]byte(e.Arguments)):
		v.Arguments = json.RawMessage(e.Arguments)
	default: // not written by the audit Writer; never pass it on raw
		v.Arguments = json.RawMessage(`"[invalid JSON]"`)
	}
	return v
}

// auditQuery parses GET /audit's parameters; errors name the parameter.
func auditQuery(params url.Values, now time.Time) (mcpgate.AuditQuery, error) {
	q := mcpgate.AuditQuery{Limit: defaultAuditLimit}
	for name, vs := range params {
		if len(vs) > 1 {
			return q, mcpgate.Invalidf("query parameter %s is given %d times; give it once", name, len(vs))
		}
		v := vs[0]
		var err error
		switch name {
		case "server":
			q.Server = v
		case "user":
			q.User = v
		case "decision":
			switch v {
			case "", adminapi.DecisionAllow, adminapi.DecisionDeny, adminapi.DecisionDryRunDeny:
				q.Decision = v
			default:
				err = mcpgate.Invalidf("decision %q: want allow, deny or dry_run_deny", v)
			}
		case "since":
			q.Since, err = auditTime(name, v, now)
		case "until":
			q.Until, err = auditTime(name, v, now)
		case "before_id":
			if v != "" {
				q.BeforeID, err = strconv.ParseInt(v, 10, 64)
				if err != nil || q.BeforeID <= 0 {
					err = mcpgate.Invalidf("before_id %q: want a positive event id", v)
				}
			}
		case "limit":
			if v != "" {
				q.Limit, err = strconv.Atoi(v)
				if err != nil || q.Limit < 1 || q.Limit > maxAuditLimit {
					err = mcpgate.Invalidf("limit %q: want a number from 1 to %d", v, maxAuditLimit)
				}
			}
		default:
			err = mcpgate.Invalidf("unknown query parameter %q: use server, user, decision, since, until, before_id or limit", name)
		}
		if err != nil {
			return q, err
		}
	}
	return q, nil
}

// auditTime parses since/until: "" (no bound), a duration back from now
// (Go syntax, plus whole days such as 7d), or an RFC 3339 time.
func auditTime(name, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
		if n > 100_000 {
			err = strconv.ErrRange
		}
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d < 0 {
		return time.Time{}, mcpgate.Invalidf("%s %q: want a duration back from now (30m, 1h, 7d) or an RFC 3339 time (2025-06-01T12:00:00Z)", name, v)
	}
	return now.Add(-d), nil
}
