package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mcpgate/mcpgate"
)

// opTimeout bounds each store operation. When the database is unreachable
// in a way that does not refuse connections (a network partition, a hung
// server), a request that needs it then fails — the proxy answers 503 —
// instead of hanging until the client gives up: pgx waits as long as the
// context allows, and a request's context has no deadline. Healthy
// operations take milliseconds. Work that may rightly take long — bulk
// deletes, audit queries, migrations, audit batches — uses the pool directly
// (boundedPool.Pool); transactions take the deadline from bound.
const opTimeout = 3 * time.Second

// boundedPool is the pool with a deadline of timeout on every Exec, Query
// and QueryRow; the context's own deadline still applies when earlier.
type boundedPool struct {
	*pgxpool.Pool
	timeout time.Duration
}

// bound is ctx with the pool's deadline, for a transaction on the request
// path (its statements take their context from the caller).
func (p boundedPool) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.timeout)
}

func (p boundedPool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	tag, err := p.Pool.Exec(ctx, sql, args...)
	return tag, unavailable(err)
}

func (p boundedPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	rows, err := p.Pool.Query(ctx, sql, args...)
	if err != nil {
		cancel()
		return nil, unavailable(err)
	}
	return &boundedRows{Rows: rows, cancel: cancel}, nil
}

func (p boundedPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	return boundedRow{row: p.Pool.QueryRow(ctx, sql, args...), cancel: cancel}
}

// boundedRows ends the operation's deadline when the rows are closed.
type boundedRows struct {
	pgx.Rows
	cancel context.CancelFunc
}

func (r *boundedRows) Err() error { return unavailable(r.Rows.Err()) }

func (r *boundedRows) Close() {
	r.Rows.Close()
	r.cancel()
}

// boundedRow ends the operation's deadline once scanned.
type boundedRow struct {
	row    pgx.Row
	cancel context.CancelFunc
}

func (r boundedRow) Scan(dest ...any) error {
	defer r.cancel()
	return unavailable(r.row.Scan(dest...))
}

// unavailable marks err with mcpgate.ErrUnavailable when it says the
// database could not be reached or did not answer in time, rather than
// refusing the statement.
func unavailable(err error) error {
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.Timeout(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF):
		return &unavailableError{err}
	}
	return err
}

// unavailableError is an error that also matches mcpgate.ErrUnavailable.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string   { return e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{mcpgate.ErrUnavailable, e.err} }
