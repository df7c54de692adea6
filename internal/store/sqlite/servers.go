package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mcpgate/mcpgate"
)

const serverColumns = `name, url, headers, oauth_client_id, oauth_client_secret, oauth_auth_method, oauth_scopes, source, created_at, updated_at, version`

// CreateServer implements mcpgate.Store.
func (db *DB) CreateServer(ctx context.Context, s mcpgate.Server) error {
	headers, err := marshalHeaders(s)
	if err != nil {
		return err
	}
	scopes, err := marshalStrings(s.OAuthScopes)
	if err != nil {
		return fmt.Errorf("server %q: encode oauth scopes: %w", s.Name, err)
	}
	_, err = db.write.ExecContext(ctx, `INSERT INTO servers (`+serverColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		s.Name, s.URL, headers, s.OAuthClientID, s.OAuthClientSecret, s.OAuthAuthMethod, scopes, s.Source, toMicros(s.CreatedAt), toMicros(s.UpdatedAt))
	if isUnique(err) {
		return fmt.Errorf("server %q: %w", s.Name, mcpgate.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create server %q: %w", s.Name, err)
	}
	return nil
}

// GetServer implements mcpgate.Store.
func (db *DB) GetServer(ctx context.Context, name string) (mcpgate.Server, error) {
	s, err := scanServer(db.read.QueryRowContext(ctx, `SELECT `+serverColumns+` FROM servers WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return mcpgate.Server{}, fmt.Errorf("server %q: %w", name, mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.Server{}, fmt.Errorf("get server %q: %w", name, err)
	}
	return s, nil
}

// ListServers implements mcpgate.Store.
func (db *DB) ListServers(ctx context.Context) ([]mcpgate.Server, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+serverColumns+` FROM servers ORDER BY name`)
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

// UpdateServer implements mcpgate.Store. The version check and the write are
// one statement, so the single writer makes exactly one of racing updates win.
func (db *DB) UpdateServer(ctx context.Context, s mcpgate.Server) (mcpgate.Server, error) {
	headers, err := marshalHeaders(s)
	if err != nil {
		return mcpgate.Server{}, err
	}
	scopes, err := marshalStrings(s.OAuthScopes)
	if err != nil {
		return mcpgate.Server{}, fmt.Errorf("server %q: encode oauth scopes: %w", s.Name, err)
	}
	res, err := db.write.ExecContext(ctx, `UPDATE servers
		SET url = ?, headers = ?, oauth_client_id = ?, oauth_client_secret = ?, oauth_auth_method = ?, oauth_scopes = ?, source = ?,
		    created_at = ?, updated_at = ?, version = version + 1
		WHERE name = ? AND version = ?`,
		s.URL, headers, s.OAuthClientID, s.OAuthClientSecret, s.OAuthAuthMethod, scopes, s.Source,
		toMicros(s.CreatedAt), toMicros(s.UpdatedAt), s.Name, s.Version)
	if err != nil {
		return mcpgate.Server{}, fmt.Errorf("update server %q: %w", s.Name, err)
	}
	if err := db.checkSwapped(ctx, res, "servers", "name", "server", s.Name, s.Version); err != nil {
		return mcpgate.Server{}, err
	}
	s.Version++
	return s, nil
}

// DeleteServer implements mcpgate.Store; its sessions and connections go by
// ON DELETE CASCADE.
func (db *DB) DeleteServer(ctx context.Context, name string) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM servers WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete server %q: %w", name, err)
	}
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf("delete server %q: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("server %q: %w", name, mcpgate.ErrNotFound)
	}
	return nil
}

// checkSwapped turns a compare-and-swap UPDATE that changed nothing into
// ErrNotFound (no such row) or ErrConflict (the version moved on).
func (db *DB) checkSwapped(ctx context.Context, res sql.Result, table, key, kind, id string, version int64) error {
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf("update %s %q: %w", kind, id, err)
	}
	if n == 1 {
		return nil
	}
	var exists bool
	if err := db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE `+key+` = ?)`, id).Scan(&exists); err != nil {
		return fmt.Errorf("update %s %q: %w", kind, id, err)
	}
	if !exists {
		return fmt.Errorf("%s %q: %w", kind, id, mcpgate.ErrNotFound)
	}
	return fmt.Errorf("%s %q: version %d is stale: %w", kind, id, version, mcpgate.ErrConflict)
}

// marshalHeaders encodes the headers as JSON; the sealed values become
// base64 strings.
func marshalHeaders(s mcpgate.Server) (string, error) {
	h := s.Headers
	if h == nil {
		h = []mcpgate.Header{}
	}
	b, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("server %q: encode headers: %w", s.Name, err)
	}
	return string(b), nil
}

func scanServer(row rowScanner) (mcpgate.Server, error) {
	var (
		s                mcpgate.Server
		headers, scopes  string
		created, updated sql.NullInt64
	)
	if err := row.Scan(&s.Name, &s.URL, &headers, &s.OAuthClientID, &s.OAuthClientSecret, &s.OAuthAuthMethod, &scopes,
		&s.Source, &created, &updated, &s.Version); err != nil {
		return mcpgate.Server{}, err
	}
	if err := json.Unmarshal([]byte(headers), &s.Headers); err != nil {
		return mcpgate.Server{}, fmt.Errorf("server %q: decode headers: %w", s.Name, err)
	}
	var err error
	if s.OAuthScopes, err = unmarshalStrings(scopes); err != nil {
		return mcpgate.Server{}, fmt.Errorf("server %q: decode oauth scopes: %w", s.Name, err)
	}
	s.CreatedAt, s.UpdatedAt = fromMicros(created), fromMicros(updated)
	return s, nil
}
