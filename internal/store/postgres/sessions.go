package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mcpgate/mcpgate"
)

// CreateSession implements mcpgate.Store. The foreign key refuses a binding
// to a server that does not exist (ErrNotFound).
func (db *DB) CreateSession(ctx context.Context, s mcpgate.Session) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO sessions (id_hash, server, grant_id, created_at) VALUES ($1, $2, $3, $4)`,
		s.IDHash, s.Server, s.GrantID, ts(s.CreatedAt))
	switch {
	case hasCode(err, uniqueViolation):
		return fmt.Errorf("session: %w", mcpgate.ErrConflict)
	case hasCode(err, foreignKeyViolation):
		return fmt.Errorf("session for server %q: server: %w", s.Server, mcpgate.ErrNotFound)
	case err != nil:
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// GetSession implements mcpgate.Store. Errors do not echo the id hash: it
// names a live session.
func (db *DB) GetSession(ctx context.Context, idHash string) (mcpgate.Session, error) {
	var (
		s       mcpgate.Session
		created pgtype.Timestamptz
	)
	err := db.pool.QueryRow(ctx, `SELECT id_hash, server, grant_id, created_at FROM sessions WHERE id_hash = $1`, idHash).
		Scan(&s.IDHash, &s.Server, &s.GrantID, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return mcpgate.Session{}, fmt.Errorf("session: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.Session{}, fmt.Errorf("get session: %w", err)
	}
	s.CreatedAt = fromTS(created)
	return s, nil
}

// DeleteSession implements mcpgate.Store.
func (db *DB) deleteSession(ctx context.Context, idHash string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("session: %w", mcpgate.ErrNotFound)
	}
	return nil
}

// DeleteSessionsBefore implements mcpgate.Store.
func (db *DB) DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error) {
	tag, err := db.pool.Pool.Exec(ctx, `DELETE FROM sessions WHERE created_at < $1`, t) // may take long: no opTimeout
	if err != nil {
		return 0, fmt.Errorf("delete sessions before %v: %w", t, err)
	}
	return int(tag.RowsAffected()), nil
}

// GetMeta implements mcpgate.Store.
func (db *DB) GetMeta(ctx context.Context, key string) (string, error) {
	var v string
	err := db.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("meta %q: %w", key, mcpgate.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("get meta %q: %w", key, err)
	}
	return v, nil
}

// PutMetaIfAbsent implements mcpgate.Store in one statement. A racing
// insert waits for the first to commit and then takes the no-op update,
// whose RETURNING yields the value already stored. (INSERT … DO NOTHING
// followed by a SELECT in the same statement would not see that row.)
func (db *DB) PutMetaIfAbsent(ctx context.Context, key, value string) (string, error) {
	var stored string
	err := db.pool.QueryRow(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = meta.value
		RETURNING value`, key, value).Scan(&stored)
	if err != nil {
		return "", fmt.Errorf("put meta %q: %w", key, err)
	}
	return stored, nil
}

// SetMeta implements mcpgate.Store.
func (db *DB) SetMeta(ctx context.Context, key, value string) error {
	if _, err := db.pool.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("set meta %q: %w", key, err)
	}
	return nil
}
