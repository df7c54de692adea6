package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mcpgate/mcpgate"
)

const grantColumns = `id, user_name, servers, label, token_hash, created_at, expires_at, revoked_at, last_used_at, version`

// CreateGrant implements mcpgate.Store.
func (db *DB) createGrant(ctx context.Context, g mcpgate.Grant) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO grants (`+grantColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1)`,
		g.ID, g.User, serverList(g), g.Label, g.TokenHash,
		ts(g.CreatedAt), ts(g.ExpiresAt), ts(g.RevokedAt), ts(g.LastUsedAt))
	if hasCode(err, uniqueViolation) {
		return fmt.Errorf("grant %q: id or token hash exists: %w", g.ID, mcpgate.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create grant %q: %w", g.ID, err)
	}
	return nil
}

// GetGrant implements mcpgate.Store.
func (db *DB) GetGrant(ctx context.Context, id string) (mcpgate.Grant, error) {
	g, err := scanGrant(db.pool.QueryRow(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return mcpgate.Grant{}, fmt.Errorf("grant %q: %w", id, mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.Grant{}, fmt.Errorf("get grant %q: %w", id, err)
	}
	return g, nil
}

// GetGrantByTokenHash implements mcpgate.Store. The hash is not echoed in
// errors: it identifies a credential.
func (db *DB) GetGrantByTokenHash(ctx context.Context, tokenHash string) (mcpgate.Grant, error) {
	g, err := scanGrant(db.pool.QueryRow(ctx, `SELECT `+grantColumns+` FROM grants WHERE token_hash = $1`, tokenHash))
	if errors.Is(err, pgx.ErrNoRows) {
		return mcpgate.Grant{}, fmt.Errorf("grant by token hash: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.Grant{}, fmt.Errorf("get grant by token hash: %w", err)
	}
	return g, nil
}

// ListGrants implements mcpgate.Store.
func (db *DB) ListGrants(ctx context.Context) ([]mcpgate.Grant, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+grantColumns+` FROM grants ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	defer rows.Close()
	var out []mcpgate.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, fmt.Errorf("list grants: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return out, nil
}

// UpdateGrant implements mcpgate.Store (compare-and-swap on Version).
func (db *DB) updateGrant(ctx context.Context, g mcpgate.Grant) (mcpgate.Grant, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE grants
		SET user_name = $1, servers = $2, label = $3, token_hash = $4, created_at = $5,
		    expires_at = $6, revoked_at = $7, last_used_at = $8, version = version + 1
		WHERE id = $9 AND version = $10`,
		g.User, serverList(g), g.Label, g.TokenHash, ts(g.CreatedAt),
		ts(g.ExpiresAt), ts(g.RevokedAt), ts(g.LastUsedAt), g.ID, g.Version)
	if hasCode(err, uniqueViolation) {
		return mcpgate.Grant{}, fmt.Errorf("grant %q: token hash belongs to another grant: %w", g.ID, mcpgate.ErrConflict)
	}
	if err != nil {
		return mcpgate.Grant{}, fmt.Errorf("update grant %q: %w", g.ID, err)
	}
	if err := db.checkSwapped(ctx, tag, "grants", "id", "grant", g.ID, g.Version); err != nil {
		return mcpgate.Grant{}, err
	}
	g.Version++
	return g, nil
}

// TouchGrants implements mcpgate.Store. It leaves Version alone: recording
// use must not make an administrator's pending update lose its CAS. Rows
// are locked in id order so that replicas touching overlapping sets at once
// cannot deadlock.
func (db *DB) TouchGrants(ctx context.Context, lastUsed map[string]time.Time) error {
	if len(lastUsed) == 0 {
		return nil
	}
	ctx, cancel := db.pool.bound(ctx) // the admin API's grant list waits for it
	defer cancel()
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		ids := slices.Sorted(maps.Keys(lastUsed))
		for _, id := range ids {
			b.Queue(`UPDATE grants SET last_used_at = $1 WHERE id = $2`, ts(lastUsed[id]), id)
		}
		res := tx.SendBatch(ctx, &b)
		for _, id := range ids {
			if _, err := res.Exec(); err != nil {
				res.Close()
				return fmt.Errorf("grant %q: %w", id, err)
			}
		}
		return res.Close()
	})
	if err != nil {
		return fmt.Errorf("touch grants: %w", err)
	}
	return nil
}

// serverList never returns nil: the column is NOT NULL and pgx sends a nil
// slice as NULL.
func serverList(g mcpgate.Grant) []string {
	if g.Servers == nil {
		return []string{}
	}
	return g.Servers
}

func scanGrant(row pgx.Row) (mcpgate.Grant, error) {
	var (
		g                                  mcpgate.Grant
		created, expires, revoked, lastUse pgtype.Timestamptz
	)
	if err := row.Scan(&g.ID, &g.User, &g.Servers, &g.Label, &g.TokenHash, &created, &expires, &revoked, &lastUse, &g.Version); err != nil {
		return mcpgate.Grant{}, err
	}
	g.CreatedAt, g.ExpiresAt = fromTS(created), fromTS(expires)
	g.RevokedAt, g.LastUsedAt = fromTS(revoked), fromTS(lastUse)
	return g, nil
}
