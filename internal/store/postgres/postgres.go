// Package postgres is the scale-out mcpgate.Store: several gateway replicas
// share one PostgreSQL database through pgx. Concurrency control is in SQL
// (compare-and-swap UPDATEs, upserts, an advisory lock around migrations),
// so replicas need no coordination of their own.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mcpgate/mcpgate"
)

// DB is a mcpgate.Store backed by a PostgreSQL connection pool.
type DB struct {
	pool boundedPool
	// channel carries this schema's change notifications; see changes.go.
	channel string
}

var _ mcpgate.Store = (*DB)(nil)

// Open connects to dsn (a URL or key=value string; pool_* parameters and
// runtime parameters such as search_path are honoured) and applies any
// pending migrations.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts passwords from the parse error only on a best-effort
		// basis, so none of it is repeated.
		return nil, errors.New("postgres: invalid connection string (details withheld: it may hold a password)")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	db := &DB{pool: boundedPool{Pool: pool, timeout: opTimeout}}
	if err := db.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if db.channel, err = changeChannel(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return db, nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be released.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// SQLSTATE codes the store maps to sentinel errors.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

func hasCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// ts stores t as a timestamptz; the zero time is NULL.
func ts(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// fromTS is the inverse of ts, in UTC (pgx returns local time).
func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// checkSwapped turns a compare-and-swap UPDATE that changed nothing into
// ErrNotFound (no such row) or ErrConflict (the version moved on).
func (db *DB) checkSwapped(ctx context.Context, tag pgconn.CommandTag, table, key, kind, id string, version int64) error {
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE `+key+` = $1)`, id).Scan(&exists); err != nil {
		return fmt.Errorf("update %s %q: %w", kind, id, err)
	}
	if !exists {
		return fmt.Errorf("%s %q: %w", kind, id, mcpgate.ErrNotFound)
	}
	return fmt.Errorf("%s %q: version %d is stale: %w", kind, id, version, mcpgate.ErrConflict)
}
