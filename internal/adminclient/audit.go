package adminclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// AuditQuery selects audit events (GET /audit); zero fields do not filter.
type AuditQuery struct {
	Server   string
	User     string
	Decision string // allow, deny or dry_run_deny
	// Since and Until are passed as given, for the gateway to read with its
	// own clock: a duration back from now (30m, 1h, 7d) or an RFC 3339 time.
	Since, Until string
	// BeforeID pages on: the NextBeforeID of the previous page.
	BeforeID int64
	Limit    int // 0 means the gateway's default (100); at most 1000
}

// values encodes q, leaving out zero fields.
func (q AuditQuery) values() url.Values {
	v := url.Values{}
	for _, p := range []struct{ name, value string }{
		{"server", q.Server}, {"user", q.User}, {"decision", q.Decision},
		{"since", q.Since}, {"until", q.Until},
	} {
		if p.value != "" {
			v.Set(p.name, p.value)
		}
	}
	if q.BeforeID != 0 {
		v.Set("before_id", strconv.FormatInt(q.BeforeID, 10))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// Audit returns the recorded decisions matching q, newest first.
func (c *Client) Audit(ctx context.Context, q AuditQuery) (adminapi.AuditList, error) {
	path := "/audit"
	if v := q.values(); len(v) > 0 {
		path += "?" + v.Encode()
	}
	var list adminapi.AuditList
	err := c.do(ctx, http.MethodGet, path, nil, &list)
	return list, err
}
