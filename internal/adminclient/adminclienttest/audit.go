package adminclienttest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// auditState is the fake's decision log.
type auditState struct {
	auditEvents  []adminapi.AuditEvent // oldest first
	auditQueries []url.Values
}

// AddAuditEvents appends events to the fake's decision log, oldest first,
// giving those without an ID the next one, and returns them as stored.
func (f *Server) AddAuditEvents(events ...adminapi.AuditEvent) []adminapi.AuditEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range events {
		if events[i].ID == 0 {
			events[i].ID = int64(len(f.auditEvents) + 1)
		}
		f.auditEvents = append(f.auditEvents, events[i])
	}
	return events
}

// AuditQueries returns the query of every GET /audit the fake answered or
// refused, in order.
func (f *Server) AuditQueries() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.auditQueries)
}

// listAudit follows the contract in adminapi.AuditList, reading relative
// times against Now.
func (f *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	f.auditQueries = append(f.auditQueries, q)
	invalid := func(format string, args ...any) {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf(format, args...))
	}
	for name := range q {
		if !slices.Contains([]string{"server", "user", "decision", "since", "until", "before_id", "limit"}, name) {
			invalid("unknown query parameter %q", name)
			return
		}
	}
	if d := q.Get("decision"); d != "" && d != adminapi.DecisionAllow && d != adminapi.DecisionDeny && d != adminapi.DecisionDryRunDeny {
		invalid("decision %q: want allow, deny or dry_run_deny", d)
		return
	}
	var bounds [2]time.Time
	for i, name := range []string{"since", "until"} {
		t, err := auditTime(q.Get(name))
		if err != nil {
			invalid("%s %q: want a duration back from now or an RFC 3339 time", name, q.Get(name))
			return
		}
		bounds[i] = t
	}
	limit, beforeID := 100, int64(0)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			invalid("limit %q: want a number from 1 to 1000", v)
			return
		}
		limit = n
	}
	if v := q.Get("before_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			invalid("before_id %q: want a positive event id", v)
			return
		}
		beforeID = n
	}
	out := adminapi.AuditList{Events: []adminapi.AuditEvent{}}
	for _, e := range slices.Backward(f.auditEvents) {
		if len(out.Events) == limit {
			break
		}
		if (q.Get("server") == "" || e.Server == q.Get("server")) && (q.Get("user") == "" || e.User == q.Get("user")) &&
			(q.Get("decision") == "" || e.Decision == q.Get("decision")) &&
			(bounds[0].IsZero() || !e.Time.Before(bounds[0])) && (bounds[1].IsZero() || e.Time.Before(bounds[1])) &&
			(beforeID == 0 || e.ID < beforeID) {
			out.Events = append(out.Events, e)
		}
	}
	if len(out.Events) == limit {
		out.NextBeforeID = out.Events[limit-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

func auditTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("bad days")
		}
		return Now.Add(-time.Duration(n) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("bad duration")
	}
	return Now.Add(-d), nil
}
