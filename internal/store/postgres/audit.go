package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/mcpgate/mcpgate"
)

// Audit query limits.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

const auditColumns = `id, time, grant_id, user_name, client_name, server, method, tool, decision, rule_id, reason, latency, upstream_status, arguments`

// AppendAudit implements mcpgate.AuditStore: the inserts go in one round
// trip and one transaction, so a batch's IDs increase in its order; they are
// written back into events.
func (db *DB) AppendAudit(ctx context.Context, events []mcpgate.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	ids := make([]int64, len(events))
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, e := range events {
			b.Queue(`INSERT INTO audit_events (time, grant_id, user_name, client_name, server, method, tool,
				decision, rule_id, reason, latency, upstream_status, arguments)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
				e.Time, validText(e.GrantID), validText(e.User), validText(e.ClientName), validText(e.Server),
				validText(e.Method), validText(e.Tool), validText(e.Decision), validText(e.RuleID), validText(e.Reason),
				e.Latency.Microseconds(), e.UpstreamStatus, validText(e.Arguments))
		}
		res := tx.SendBatch(ctx, b)
		for i := range events {
			if err := res.QueryRow().Scan(&ids[i]); err != nil {
				res.Close()
				return fmt.Errorf("insert event %d of %d: %w", i+1, len(events), err)
			}
		}
		return res.Close()
	})
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	for i := range events {
		events[i].ID = ids[i]
	}
	return nil
}

// notAllowed is the condition of the partial index audit_events_not_allowed
// (migration 0008).
const notAllowed = "decision <> 'allow'"

// QueryAudit implements mcpgate.AuditStore, newest (highest ID) first.
func (db *DB) QueryAudit(ctx context.Context, q mcpgate.AuditQuery) ([]mcpgate.AuditEvent, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, cond+" $"+strconv.Itoa(len(args)))
	}
	if q.Server != "" {
		add("server =", q.Server)
	}
	if q.User != "" {
		add("user_name =", q.User)
	}
	if q.Decision != "" {
		add("decision =", q.Decision)
		if q.Decision != mcpgate.DecisionAllow {
			where = append(where, notAllowed) // lets the planner use the partial index
		}
	}
	if !q.Since.IsZero() {
		add("time >=", q.Since)
	}
	if !q.Until.IsZero() {
		add("time <", q.Until)
	}
	if q.BeforeID > 0 {
		add("id <", q.BeforeID)
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, auditLimit(q.Limit))
	query += ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))

	rows, err := db.pool.Pool.Query(ctx, query, args...) // an administrator's search may take long: no opTimeout
	if err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	defer rows.Close()
	out := []mcpgate.AuditEvent{}
	for rows.Next() {
		var (
			e   mcpgate.AuditEvent
			lat int64
		)
		if err := rows.Scan(&e.ID, &e.Time, &e.GrantID, &e.User, &e.ClientName, &e.Server, &e.Method, &e.Tool,
			&e.Decision, &e.RuleID, &e.Reason, &lat, &e.UpstreamStatus, &e.Arguments); err != nil {
			return nil, fmt.Errorf("query audit: scan: %w", err)
		}
		e.Time = e.Time.UTC()
		e.Latency = time.Duration(lat) * time.Microsecond
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	return out, nil
}

// DeleteAuditBefore implements mcpgate.AuditStore.
func (db *DB) DeleteAuditBefore(ctx context.Context, t time.Time) (int, error) {
	tag, err := db.pool.Pool.Exec(ctx, `DELETE FROM audit_events WHERE time < $1`, t) // may take long: no opTimeout
	if err != nil {
		return 0, fmt.Errorf("delete audit events before %v: %w", t, err)
	}
	return int(tag.RowsAffected()), nil
}

// auditLimit applies the default and the maximum.
func auditLimit(n int) int {
	switch {
	case n <= 0:
		return defaultAuditLimit
	case n > maxAuditLimit:
		return maxAuditLimit
	}
	return n
}

// validText makes s valid UTF-8 without NUL: PostgreSQL text refuses both,
// and one odd value from a client must not lose a whole batch.
func validText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

var _ mcpgate.AuditStore = (*DB)(nil)
