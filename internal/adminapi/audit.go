package adminapi

import (
	"encoding/json"
	"time"
)

// AuditEvent is one recorded policy decision on a proxied call.
type AuditEvent struct {
	ID         int64     `json:"id"`
	Time       time.Time `json:"time"`
	GrantID    string    `json:"grant_id"`
	User       string    `json:"user"`
	ClientName string    `json:"client_name"`
	Server     string    `json:"server"`
	Method     string    `json:"method"` // JSON-RPC method
	Tool       string    `json:"tool"`   // tool name, resource URI or prompt name
	Decision   string    `json:"decision"`
	RuleID     string    `json:"rule_id"`
	Reason     string    `json:"reason"`
	// LatencyMS is gateway plus upstream time, in milliseconds.
	LatencyMS float64 `json:"latency_ms"`
	// UpstreamStatus is the upstream's HTTP status, 0 when the call was not
	// sent upstream.
	UpstreamStatus int `json:"upstream_status"`
	// Arguments are the call's arguments as recorded: redacted JSON, or a
	// JSON string noting why they are not (invalid, truncated); absent
	// when the call had none.
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// Audit decisions, the values of AuditEvent.Decision and of the decision filter.
const (
	DecisionAllow      = "allow"
	DecisionDeny       = "deny"
	DecisionDryRunDeny = "dry_run_deny"
)

// AuditList is the answer to GET /audit: matching events, newest first.
//
// Query parameters, all optional: server, user, decision (allow, deny or
// dry_run_deny); since and until, each a duration back from now (30m, 1h,
// 7d) or an RFC 3339 time, since inclusive and until exclusive; before_id
// (page on from NextBeforeID) and limit (1 to 1000, default 100). An
// unknown or malformed parameter is a 400 naming it.
type AuditList struct {
	Events []AuditEvent `json:"events"`
	// NextBeforeID, when not 0, is the before_id that gets the next
	// (older) page; 0 means there are no more events.
	NextBeforeID int64 `json:"next_before_id"`
}
