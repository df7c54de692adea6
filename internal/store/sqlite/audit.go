package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcpgate/mcpgate"
)

// Audit query limits.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

const auditColumns = `id, time, grant_id, user_name, client_name, server, method, tool, decision, rule_id, reason, latency, upstream_status, arguments`

// auditRowsPerInsert is how many events one INSERT carries: a statement
// per row cost more than the row itself (13 of SQLite's 32766 parameters
// per row).
const auditRowsPerInsert = 64

// AppendAudit implements mcpgate.AuditStore: one transaction on the writer,
// multi-row INSERTs, IDs written back into events.
func (db *DB) AppendAudit(ctx context.Context, events []mcpgate.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	// Prepare before the transaction: it holds the writer's one connection.
	stmts := map[int]*sql.Stmt{}
	for start := 0; start < len(events); start += auditRowsPerInsert {
		n := min(len(events)-start, auditRowsPerInsert)
		if stmts[n] == nil {
			st, err := db.auditStmt(ctx, n)
			if err != nil {
				return fmt.Errorf("append audit: %w", err)
			}
			stmts[n] = st
		}
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append audit: begin: %w", err)
	}
	defer tx.Rollback()
	ids := make([]int64, 0, len(events))
	args := make([]any, 0, 13*min(len(events), auditRowsPerInsert))
	for start := 0; start < len(events); start += auditRowsPerInsert {
		chunk := events[start:min(len(events), start+auditRowsPerInsert)]
		args = args[:0]
		for _, e := range chunk {
			args = append(args, e.Time.UnixMicro(), validText(e.GrantID), validText(e.User), validText(e.ClientName),
				validText(e.Server), validText(e.Method), validText(e.Tool), validText(e.Decision), validText(e.RuleID), validText(e.Reason),
				e.Latency.Microseconds(), e.UpstreamStatus, validText(e.Arguments))
		}
		res, err := tx.StmtContext(ctx, stmts[len(chunk)]).ExecContext(ctx, args...)
		if err != nil {
			return fmt.Errorf("append audit: insert events %d-%d of %d: %w", start+1, start+len(chunk), len(events), err)
		}
		// One statement under the single writer: AUTOINCREMENT gives its
		// rows consecutive IDs in VALUES order, ending at the last insert
		// ID. (RETURNING would cost about a tenth of the insert.)
		last, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
		for i := range chunk {
			ids = append(ids, last-int64(len(chunk)-1-i))
		}
	}
	if len(ids) != len(events) {
		return fmt.Errorf("append audit: %d IDs for %d events", len(ids), len(events))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append audit: commit: %w", err)
	}
	for i := range events {
		events[i].ID = ids[i]
	}
	return nil
}

// auditStmt returns the prepared INSERT of rows events, preparing it on
// first use. Batches come in every size up to auditRowsPerInsert, so there
// are at most that many.
func (db *DB) auditStmt(ctx context.Context, rows int) (*sql.Stmt, error) {
	db.auditMu.Lock()
	defer db.auditMu.Unlock()
	if st := db.auditInserts[rows]; st != nil {
		return st, nil
	}
	st, err := db.write.PrepareContext(ctx, buildAuditInsert(rows))
	if err != nil {
		return nil, fmt.Errorf("prepare audit insert: %w", err)
	}
	db.auditInserts[rows] = st
	return st, nil
}

func buildAuditInsert(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO audit_events (time, grant_id, user_name, client_name, server, method, tool,
		decision, rule_id, reason, latency, upstream_status, arguments) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?)")
	}
	return b.String()
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
		where = append(where, cond)
		args = append(args, arg)
	}
	if q.Server != "" {
		add("server = ?", q.Server)
	}
	if q.User != "" {
		add("user_name = ?", q.User)
	}
	if q.Decision != "" {
		add("decision = ?", q.Decision)
		if q.Decision != mcpgate.DecisionAllow {
			where = append(where, notAllowed) // the partial index's own term, so SQLite uses it
		}
	}
	if !q.Since.IsZero() {
		add("time >= ?", q.Since.UnixMicro())
	}
	if !q.Until.IsZero() {
		add("time < ?", q.Until.UnixMicro())
	}
	if q.BeforeID > 0 {
		add("id < ?", q.BeforeID)
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, auditLimit(q.Limit))

	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	defer rows.Close()
	out := []mcpgate.AuditEvent{}
	for rows.Next() {
		var (
			e       mcpgate.AuditEvent
			at, lat int64
		)
		if err := rows.Scan(&e.ID, &at, &e.GrantID, &e.User, &e.ClientName, &e.Server, &e.Method, &e.Tool,
			&e.Decision, &e.RuleID, &e.Reason, &lat, &e.UpstreamStatus, &e.Arguments); err != nil {
			return nil, fmt.Errorf("query audit: scan: %w", err)
		}
		e.Time = time.UnixMicro(at).UTC()
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
	res, err := db.write.ExecContext(ctx, `DELETE FROM audit_events WHERE time < ?`, t.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("delete audit events before %v: %w", t, err)
	}
	n, err := affected(res)
	if err != nil {
		return 0, fmt.Errorf("delete audit events before %v: %w", t, err)
	}
	return int(n), nil
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

// text makes s valid UTF-8 without NUL, as the PostgreSQL backend must store
// it: audited values come from clients, and the two backends agree.
func validText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

var _ mcpgate.AuditStore = (*DB)(nil)
