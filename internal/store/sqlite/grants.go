package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/mcpgate/mcpgate"
)

const grantColumns = `id, user_name, servers, label, token_hash, created_at, expires_at, revoked_at, last_used_at, version`

// CreateGrant implements mcpgate.Store.
func (db *DB) CreateGrant(ctx context.Context, g mcpgate.Grant) error {
	servers, err := marshalServers(g)
	if err != nil {
		return err
	}
	_, err = db.write.ExecContext(ctx, `INSERT INTO grants (`+grantColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		g.ID, g.User, servers, g.Label, g.TokenHash,
		toMicros(g.CreatedAt), toMicros(g.ExpiresAt), toMicros(g.RevokedAt), toMicros(g.LastUsedAt))
	if isUnique(err) {
		return fmt.Errorf("grant %q: id or token hash exists: %w", g.ID, mcpgate.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create grant %q: %w", g.ID, err)
	}
	return nil
}

// GetGrant implements mcpgate.Store.
func (db *DB) GetGrant(ctx context.Context, id string) (mcpgate.Grant, error) {
	g, err := scanGrant(db.read.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
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
	g, err := scanGrant(db.read.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE token_hash = ?`, tokenHash))
	if errors.Is(err, sql.ErrNoRows) {
		return mcpgate.Grant{}, fmt.Errorf("grant by token hash: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.Grant{}, fmt.Errorf("get grant by token hash: %w", err)
	}
	return g, nil
}

// ListGrants implements mcpgate.Store.
func (db *DB) ListGrants(ctx context.Context) ([]mcpgate.Grant, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+grantColumns+` FROM grants ORDER BY created_at DESC, id`)
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
func (db *DB) UpdateGrant(ctx context.Context, g mcpgate.Grant) (mcpgate.Grant, error) {
	servers, err := marshalServers(g)
	if err != nil {
		return mcpgate.Grant{}, err
	}
	res, err := db.write.ExecContext(ctx, `UPDATE grants
		SET user_name = ?, servers = ?, label = ?, token_hash = ?, created_at = ?,
		    expires_at = ?, revoked_at = ?, last_used_at = ?, version = version + 1
		WHERE id = ? AND version = ?`,
		g.User, servers, g.Label, g.TokenHash, toMicros(g.CreatedAt),
		toMicros(g.ExpiresAt), toMicros(g.RevokedAt), toMicros(g.LastUsedAt), g.ID, g.Version)
	if isUnique(err) {
		return mcpgate.Grant{}, fmt.Errorf("grant %q: token hash belongs to another grant: %w", g.ID, mcpgate.ErrConflict)
	}
	if err != nil {
		return mcpgate.Grant{}, fmt.Errorf("update grant %q: %w", g.ID, err)
	}
	if err := db.checkSwapped(ctx, res, "grants", "id", "grant", g.ID, g.Version); err != nil {
		return mcpgate.Grant{}, err
	}
	g.Version++
	return g, nil
}

// TouchGrants implements mcpgate.Store. It leaves Version alone: recording
// use must not make an administrator's pending update lose its CAS.
func (db *DB) TouchGrants(ctx context.Context, lastUsed map[string]time.Time) error {
	if len(lastUsed) == 0 {
		return nil
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("touch grants: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `UPDATE grants SET last_used_at = ? WHERE id = ?`)
	if err != nil {
		return fmt.Errorf("touch grants: %w", err)
	}
	defer stmt.Close()
	for _, id := range slices.Sorted(maps.Keys(lastUsed)) {
		if _, err := stmt.ExecContext(ctx, toMicros(lastUsed[id]), id); err != nil {
			return fmt.Errorf("touch grant %q: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("touch grants: commit: %w", err)
	}
	return nil
}

func marshalServers(g mcpgate.Grant) (string, error) {
	s := g.Servers
	if s == nil {
		s = []string{}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("grant %q: encode servers: %w", g.ID, err)
	}
	return string(b), nil
}

func scanGrant(row rowScanner) (mcpgate.Grant, error) {
	var (
		g                                  mcpgate.Grant
		servers                            string
		created, expires, revoked, lastUse sql.NullInt64
	)
	if err := row.Scan(&g.ID, &g.User, &servers, &g.Label, &g.TokenHash, &created, &expires, &revoked, &lastUse, &g.Version); err != nil {
		return mcpgate.Grant{}, err
	}
	if err := json.Unmarshal([]byte(servers), &g.Servers); err != nil {
		return mcpgate.Grant{}, fmt.Errorf("grant %q: decode servers: %w", g.ID, err)
	}
	g.CreatedAt, g.ExpiresAt = fromMicros(created), fromMicros(expires)
	g.RevokedAt, g.LastUsedAt = fromMicros(revoked), fromMicros(lastUse)
	return g, nil
}
