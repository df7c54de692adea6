package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

// CreateSession implements mcpgate.Store. The foreign key refuses a binding
// to a server that does not exist (ErrNotFound).
func (db *DB) CreateSession(ctx context.Context, s mcpgate.Session) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO sessions (id_hash, server, grant_id, created_at) VALUES (?, ?, ?, ?)`,
		s.IDHash, s.Server, s.GrantID, toMicros(s.CreatedAt))
	switch {
	case isUnique(err):
		return fmt.Errorf("session: %w", mcpgate.ErrConflict)
	case isForeignKey(err):
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
		created sql.NullInt64
	)
	err := db.read.QueryRowContext(ctx, `SELECT id_hash, server, grant_id, created_at FROM sessions WHERE id_hash = ?`, idHash).
		Scan(&s.IDHash, &s.Server, &s.GrantID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return mcpgate.Session{}, fmt.Errorf("session: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.Session{}, fmt.Errorf("get session: %w", err)
	}
	s.CreatedAt = fromMicros(created)
	return s, nil
}

// DeleteSession implements mcpgate.Store.
func (db *DB) DeleteSession(ctx context.Context, idHash string) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("session: %w", mcpgate.ErrNotFound)
	}
	return nil
}

// DeleteSessionsBefore implements mcpgate.Store.
func (db *DB) DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error) {
	res, err := db.write.ExecContext(ctx, `DELETE FROM sessions WHERE created_at < ?`, t.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("delete sessions before %v: %w", t, err)
	}
	n, err := affected(res)
	if err != nil {
		return 0, fmt.Errorf("delete sessions before %v: %w", t, err)
	}
	return int(n), nil
}

// GetMeta implements mcpgate.Store.
func (db *DB) GetMeta(ctx context.Context, key string) (string, error) {
	var v string
	err := db.read.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("meta %q: %w", key, mcpgate.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("get meta %q: %w", key, err)
	}
	return v, nil
}

// PutMetaIfAbsent implements mcpgate.Store in one statement: on a conflict
// the no-op update makes RETURNING yield the value already stored.
func (db *DB) PutMetaIfAbsent(ctx context.Context, key, value string) (string, error) {
	var stored string
	err := db.write.QueryRowContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = meta.value
		RETURNING value`, key, value).Scan(&stored)
	if err != nil {
		return "", fmt.Errorf("put meta %q: %w", key, err)
	}
	return stored, nil
}

// SetMeta implements mcpgate.Store.
func (db *DB) SetMeta(ctx context.Context, key, value string) error {
	if _, err := db.write.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("set meta %q: %w", key, err)
	}
	return nil
}
