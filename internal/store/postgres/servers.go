package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mcpgate/mcpgate"
)

const serverColumns = `name, url, headers, oauth_client_id, oauth_client_secret, oauth_auth_method, oauth_scopes, source, created_at, updated_at, version`

// CreateServer implements mcpgate.Store.
func (db *DB) createServer(ctx context.Context, s mcpgate.Server) error {
	headers, err := marshalHeaders(s)
	if err != nil {
		return err
	}
	_, err = db.pool.Exec(ctx, `INSERT INTO servers (`+serverColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1)`,
		s.Name, s.URL, headers, s.OAuthClientID, s.OAuthClientSecret, s.OAuthAuthMethod, nonNil(s.OAuthScopes), s.Source, ts(s.CreatedAt), ts(s.UpdatedAt))
	if hasCode(err, uniqueViolation) {
		return fmt.Errorf("server %q: %w", s.Name, mcpgate.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create server %q: %w", s.Name, err)
	}
	return nil
}

// GetServer implements mcpgate.Store.
func (db *DB) GetServer(ctx context.Context, name string) (mcpgate.Server, error) {
	s, err := scanServer(db.pool.QueryRow(ctx, `SELECT `+serverColumns+` FROM servers WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return mcpgate.Server{}, fmt.Errorf("server %q: %w", name, mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.Server{}, fmt.Errorf("get server %q: %w", name, err)
	}
	return s, nil
}

// ListServers implements mcpgate.Store.
func (db *DB) ListServers(ctx context.Context) ([]mcpgate.Server, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+serverColumns+` FROM servers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	defer rows.Close()
	var out []mcpgate.Server
	for rows.Next() {
		s, err := scanServer(rows)
		if err != nil {
			return nil, fmt.Errorf("list servers: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	return out, nil
}

// UpdateServer implements mcpgate.Store. Under READ COMMITTED a racing
// UPDATE waits for the row lock and then re-checks the version against the
// committed row, so exactly one of racing updates wins.
func (db *DB) updateServer(ctx context.Context, s mcpgate.Server) (mcpgate.Server, error) {
	headers, err := marshalHeaders(s)
	if err != nil {
		return mcpgate.Server{}, err
	}
	tag, err := db.pool.Exec(ctx, `UPDATE servers
		SET url = $1, headers = $2, oauth_client_id = $3, oauth_client_secret = $4, oauth_auth_method = $5, oauth_scopes = $6, source = $7,
		    created_at = $8, updated_at = $9, version = version + 1
		WHERE name = $10 AND version = $11`,
		s.URL, headers, s.OAuthClientID, s.OAuthClientSecret, s.OAuthAuthMethod, nonNil(s.OAuthScopes), s.Source,
		ts(s.CreatedAt), ts(s.UpdatedAt), s.Name, s.Version)
	if err != nil {
		return mcpgate.Server{}, fmt.Errorf("update server %q: %w", s.Name, err)
	}
	if err := db.checkSwapped(ctx, tag, "servers", "name", "server", s.Name, s.Version); err != nil {
		return mcpgate.Server{}, err
	}
	s.Version++
	return s, nil
}

// DeleteServer implements mcpgate.Store; its sessions and connections go by
// ON DELETE CASCADE.
func (db *DB) deleteServer(ctx context.Context, name string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM servers WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("delete server %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("server %q: %w", name, mcpgate.ErrNotFound)
	}
	return nil
}

// marshalHeaders encodes the headers as JSON; the sealed values become
// base64 strings.
func marshalHeaders(s mcpgate.Server) ([]byte, error) {
	h := s.Headers
	if h == nil {
		h = []mcpgate.Header{}
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("server %q: encode headers: %w", s.Name, err)
	}
	return b, nil
}

func scanServer(row pgx.Row) (mcpgate.Server, error) {
	var (
		s                mcpgate.Server
		headers          []byte
		created, updated pgtype.Timestamptz
	)
	if err := row.Scan(&s.Name, &s.URL, &headers, &s.OAuthClientID, &s.OAuthClientSecret, &s.OAuthAuthMethod, &s.OAuthScopes,
		&s.Source, &created, &updated, &s.Version); err != nil {
		return mcpgate.Server{}, err
	}
	if err := json.Unmarshal(headers, &s.Headers); err != nil {
		return mcpgate.Server{}, fmt.Errorf("server %q: decode headers: %w", s.Name, err)
	}
	s.CreatedAt, s.UpdatedAt = fromTS(created), fromTS(updated)
	return s, nil
}
