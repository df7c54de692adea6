package mcpgate

import (
	"context"
	"time"
)

// AuditEvent records one policy decision on a proxied call, allowed or not.
type AuditEvent struct {
	ID         int64 // assigned by the store, increasing
	Time       time.Time
	GrantID    string
	User       string
	ClientName string // from the client's initialize, when known
	Server     string
	Method     string // JSON-RPC method
	Tool       string // tool name, resource URI or prompt name
	Decision   string // "allow", "deny" or "dry_run_deny"
	RuleID     string
	Reason     string
	Latency    time.Duration // gateway + upstream time of the call
	// UpstreamStatus is the upstream's HTTP status, 0 when the call never
	// went upstream (denied).
	UpstreamStatus int
	// Arguments is the call's arguments as JSON with redaction applied.
	Arguments string
}

// Audit decisions.
const (
	DecisionAllow      = "allow"
	DecisionDeny       = "deny"
	DecisionDryRunDeny = "dry_run_deny"
)

// AuditQuery selects audit events; zero fields do not filter.
type AuditQuery struct {
	Server   string
	User     string
	Decision string
	Since    time.Time
	Until    time.Time
	// BeforeID pages backwards: only events with ID < BeforeID.
	BeforeID int64
	Limit    int // default and maximum are the store's (e.g. 100 / 1000)
}

// AuditStore keeps the decision log.
type AuditStore interface {
	// AppendAudit stores events in one transaction, assigning IDs.
	AppendAudit(ctx context.Context, events []AuditEvent) error
	// QueryAudit returns matching events, newest first.
	QueryAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
	// DeleteAuditBefore removes events older than t (retention) and returns how many.
	DeleteAuditBefore(ctx context.Context, t time.Time) (int, error)
}
