package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate"
)

var _ mcpgate.OAuthStore = (*DB)(nil)

const connectionColumns = `id, server, user_name, state, issuer, client_id, grant_type, scopes, step_up_scopes,
	access_token, refresh_token, token_type, expires_at, issued_at, generation,
	lease_owner, lease_until, last_refresh_at, last_used_at, refresh_failures, last_error, last_error_at,
	created_at, updated_at, resource, grant_credential, refresh_due_at, version`

// connectionValues are c's column values in connectionColumns order, up to
// but excluding version.
func connectionValues(c mcpgate.Connection) ([]any, error) {
	scopes, err := marshalStrings(c.Scopes)
	if err != nil {
		return nil, fmt.Errorf("connection %q: encode scopes: %w", c.ID, err)
	}
	stepUp, err := marshalStrings(c.StepUpScopes)
	if err != nil {
		return nil, fmt.Errorf("connection %q: encode step-up scopes: %w", c.ID, err)
	}
	return []any{
		c.ID, c.Server, c.User, string(c.State), c.Issuer, c.ClientID, c.GrantType, scopes, stepUp,
		c.AccessToken, c.RefreshToken, c.TokenType, toMicros(c.ExpiresAt), toMicros(c.IssuedAt), c.Generation,
		c.LeaseOwner, toMicros(c.LeaseUntil), toMicros(c.LastRefreshAt), toMicros(c.LastUsedAt), c.RefreshFailures, c.LastError, toMicros(c.LastErrorAt),
		toMicros(c.CreatedAt), toMicros(c.UpdatedAt), c.Resource, c.GrantCredential, toMicros(c.RefreshDueAt),
	}, nil
}

// CreateConnection implements mcpgate.OAuthStore. The foreign key refuses a
// connection to a server that does not exist (ErrNotFound).
func (db *DB) CreateConnection(ctx context.Context, c mcpgate.Connection) error {
	vals, err := connectionValues(c)
	if err != nil {
		return err
	}
	_, err = db.write.ExecContext(ctx, `INSERT INTO connections (`+connectionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`, vals...)
	switch {
	case isUnique(err):
		return fmt.Errorf("connection %q: id or connection of user %q at server %q exists: %w", c.ID, c.User, c.Server, mcpgate.ErrConflict)
	case isForeignKey(err):
		return fmt.Errorf("connection %q: server %q: %w", c.ID, c.Server, mcpgate.ErrNotFound)
	case err != nil:
		return fmt.Errorf("create connection %q: %w", c.ID, err)
	}
	return nil
}

// GetConnection implements mcpgate.OAuthStore.
func (db *DB) GetConnection(ctx context.Context, id string) (mcpgate.Connection, error) {
	c, err := scanConnection(db.read.QueryRowContext(ctx, `SELECT `+connectionColumns+` FROM connections WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return mcpgate.Connection{}, fmt.Errorf("connection %q: %w", id, mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.Connection{}, fmt.Errorf("get connection %q: %w", id, err)
	}
	return c, nil
}

// FindConnection implements mcpgate.OAuthStore.
func (db *DB) FindConnection(ctx context.Context, server, user string) (mcpgate.Connection, error) {
	c, err := scanConnection(db.read.QueryRowContext(ctx,
		`SELECT `+connectionColumns+` FROM connections WHERE server = ? AND user_name = ?`, server, user))
	if errors.Is(err, sql.ErrNoRows) {
		return mcpgate.Connection{}, fmt.Errorf("connection of user %q at server %q: %w", user, server, mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.Connection{}, fmt.Errorf("find connection of user %q at server %q: %w", user, server, err)
	}
	return c, nil
}

// ListConnections implements mcpgate.OAuthStore.
func (db *DB) ListConnections(ctx context.Context) ([]mcpgate.Connection, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+connectionColumns+` FROM connections ORDER BY server, user_name`)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	out, err := scanConnections(rows)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return out, nil
}

// ListConnectionsDue implements mcpgate.OAuthStore; the partial index on
// refresh_due_at keeps it from reading connections that are not due.
func (db *DB) ListConnectionsDue(ctx context.Context, t time.Time) ([]mcpgate.Connection, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+connectionColumns+` FROM connections
		WHERE refresh_due_at IS NOT NULL AND refresh_due_at <= ? AND state <> 'reauth_required'
		ORDER BY refresh_due_at, id`, t.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("list due connections: %w", err)
	}
	out, err := scanConnections(rows)
	if err != nil {
		return nil, fmt.Errorf("list due connections: %w", err)
	}
	return out, nil
}

// UpdateConnection implements mcpgate.OAuthStore (compare-and-swap on
// Version): the single writer makes exactly one of racing updates win.
func (db *DB) UpdateConnection(ctx context.Context, c mcpgate.Connection) (mcpgate.Connection, error) {
	vals, err := connectionValues(c)
	if err != nil {
		return mcpgate.Connection{}, err
	}
	res, err := db.write.ExecContext(ctx, `UPDATE connections
		SET server = ?, user_name = ?, state = ?, issuer = ?, client_id = ?, grant_type = ?, scopes = ?, step_up_scopes = ?,
		    access_token = ?, refresh_token = ?, token_type = ?, expires_at = ?, issued_at = ?, generation = ?,
		    lease_owner = ?, lease_until = ?, last_refresh_at = ?, last_used_at = ?, refresh_failures = ?, last_error = ?, last_error_at = ?,
		    created_at = ?, updated_at = ?, resource = ?, grant_credential = ?, refresh_due_at = ?, version = version + 1
		WHERE id = ? AND version = ?`, append(vals[1:], c.ID, c.Version)...)
	switch {
	case isUnique(err):
		return mcpgate.Connection{}, fmt.Errorf("connection %q: user %q at server %q has another connection: %w", c.ID, c.User, c.Server, mcpgate.ErrConflict)
	case isForeignKey(err):
		return mcpgate.Connection{}, fmt.Errorf("connection %q: server %q: %w", c.ID, c.Server, mcpgate.ErrNotFound)
	case err != nil:
		return mcpgate.Connection{}, fmt.Errorf("update connection %q: %w", c.ID, err)
	}
	if err := db.checkSwapped(ctx, res, "connections", "id", "connection", c.ID, c.Version); err != nil {
		return mcpgate.Connection{}, err
	}
	c.Version++
	return c, nil
}

// DeleteConnection implements mcpgate.OAuthStore.
func (db *DB) DeleteConnection(ctx context.Context, id string) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM connections WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete connection %q: %w", id, err)
	}
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf("delete connection %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("connection %q: %w", id, mcpgate.ErrNotFound)
	}
	return nil
}

// DeleteConnectionsOf implements mcpgate.OAuthStore. With both server and
// user set it removes that user's connection at that server; with neither,
// it refuses (ErrInvalid) rather than remove everything.
func (db *DB) DeleteConnectionsOf(ctx context.Context, server, user string) ([]mcpgate.Connection, error) {
	if server == "" && user == "" {
		return nil, fmt.Errorf("delete connections: name a server, a user or both: %w", mcpgate.ErrInvalid)
	}
	rows, err := db.write.QueryContext(ctx, `DELETE FROM connections
		WHERE (? = '' OR server = ?) AND (? = '' OR user_name = ?)
		RETURNING `+connectionColumns, server, server, user, user)
	if err != nil {
		return nil, fmt.Errorf("delete connections of server %q, user %q: %w", server, user, err)
	}
	out, err := scanConnections(rows)
	if err != nil {
		return nil, fmt.Errorf("delete connections of server %q, user %q: %w", server, user, err)
	}
	sortConnections(out)
	return out, nil
}

// sortConnections puts cs in ListConnections order (RETURNING has none).
func sortConnections(cs []mcpgate.Connection) {
	slices.SortFunc(cs, func(a, b mcpgate.Connection) int {
		if c := strings.Compare(a.Server, b.Server); c != 0 {
			return c
		}
		return strings.Compare(a.User, b.User)
	})
}

func scanConnections(rows *sql.Rows) ([]mcpgate.Connection, error) {
	defer rows.Close()
	var out []mcpgate.Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func scanConnection(row rowScanner) (mcpgate.Connection, error) {
	var (
		c                                                 mcpgate.Connection
		state, scopes, stepUp                             string
		expires, issued, leaseUntil, lastRefresh, lastUse sql.NullInt64
		lastErrorAt, created, updated, refreshDue         sql.NullInt64
	)
	if err := row.Scan(&c.ID, &c.Server, &c.User, &state, &c.Issuer, &c.ClientID, &c.GrantType, &scopes, &stepUp,
		&c.AccessToken, &c.RefreshToken, &c.TokenType, &expires, &issued, &c.Generation,
		&c.LeaseOwner, &leaseUntil, &lastRefresh, &lastUse, &c.RefreshFailures, &c.LastError, &lastErrorAt,
		&created, &updated, &c.Resource, &c.GrantCredential, &refreshDue, &c.Version); err != nil {
		return mcpgate.Connection{}, err
	}
	c.State = mcpgate.ConnectionState(state)
	var err error
	if c.Scopes, err = unmarshalStrings(scopes); err != nil {
		return mcpgate.Connection{}, fmt.Errorf("connection %q: decode scopes: %w", c.ID, err)
	}
	if c.StepUpScopes, err = unmarshalStrings(stepUp); err != nil {
		return mcpgate.Connection{}, fmt.Errorf("connection %q: decode step-up scopes: %w", c.ID, err)
	}
	c.ExpiresAt, c.IssuedAt = fromMicros(expires), fromMicros(issued)
	c.LeaseUntil, c.LastRefreshAt, c.LastUsedAt = fromMicros(leaseUntil), fromMicros(lastRefresh), fromMicros(lastUse)
	c.LastErrorAt, c.CreatedAt, c.UpdatedAt = fromMicros(lastErrorAt), fromMicros(created), fromMicros(updated)
	c.RefreshDueAt = fromMicros(refreshDue)
	return c, nil
}

const oauthClientColumns = `issuer, client_id, client_secret, method, auth_method, redirect_uri, created_at`

// PutOAuthClient implements mcpgate.OAuthStore in one statement: on a
// conflict the no-op update makes RETURNING yield the registration already
// stored.
func (db *DB) PutOAuthClient(ctx context.Context, c mcpgate.OAuthClient) (mcpgate.OAuthClient, error) {
	stored, err := scanOAuthClient(db.write.QueryRowContext(ctx, `INSERT INTO oauth_clients (`+oauthClientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (issuer) DO UPDATE SET issuer = oauth_clients.issuer
		RETURNING `+oauthClientColumns,
		c.Issuer, c.ClientID, c.ClientSecret, c.Method, c.AuthMethod, c.RedirectURI, toMicros(c.CreatedAt)))
	if err != nil {
		return mcpgate.OAuthClient{}, fmt.Errorf("put oauth client for %q: %w", c.Issuer, err)
	}
	return stored, nil
}

// GetOAuthClient implements mcpgate.OAuthStore.
func (db *DB) GetOAuthClient(ctx context.Context, issuer string) (mcpgate.OAuthClient, error) {
	c, err := scanOAuthClient(db.read.QueryRowContext(ctx, `SELECT `+oauthClientColumns+` FROM oauth_clients WHERE issuer = ?`, issuer))
	if errors.Is(err, sql.ErrNoRows) {
		return mcpgate.OAuthClient{}, fmt.Errorf("oauth client for %q: %w", issuer, mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.OAuthClient{}, fmt.Errorf("get oauth client for %q: %w", issuer, err)
	}
	return c, nil
}

// ListOAuthClients implements mcpgate.OAuthStore.
func (db *DB) ListOAuthClients(ctx context.Context) ([]mcpgate.OAuthClient, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+oauthClientColumns+` FROM oauth_clients ORDER BY issuer`)
	if err != nil {
		return nil, fmt.Errorf("list oauth clients: %w", err)
	}
	defer rows.Close()
	var out []mcpgate.OAuthClient
	for rows.Next() {
		c, err := scanOAuthClient(rows)
		if err != nil {
			return nil, fmt.Errorf("list oauth clients: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list oauth clients: %w", err)
	}
	return out, nil
}

// UpdateOAuthClient implements mcpgate.OAuthStore: the comparison and the
// write are one statement, so the single writer makes exactly one of racing
// updates win.
func (db *DB) UpdateOAuthClient(ctx context.Context, old, next mcpgate.OAuthClient) error {
	if next.Issuer != old.Issuer {
		return fmt.Errorf("update oauth client for %q: the issuer cannot change: %w", old.Issuer, mcpgate.ErrInvalid)
	}
	res, err := db.write.ExecContext(ctx, `UPDATE oauth_clients
		SET client_id = ?, client_secret = ?, method = ?, auth_method = ?, redirect_uri = ?, created_at = ?
		WHERE issuer = ? AND client_id = ? AND client_secret IS ? AND created_at IS ?`,
		next.ClientID, next.ClientSecret, next.Method, next.AuthMethod, next.RedirectURI, toMicros(next.CreatedAt),
		old.Issuer, old.ClientID, old.ClientSecret, toMicros(old.CreatedAt))
	if err != nil {
		return fmt.Errorf("update oauth client for %q: %w", old.Issuer, err)
	}
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf("update oauth client for %q: %w", old.Issuer, err)
	}
	if n == 1 {
		return nil
	}
	var exists bool
	if err := db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM oauth_clients WHERE issuer = ?)`, old.Issuer).Scan(&exists); err != nil {
		return fmt.Errorf("update oauth client for %q: %w", old.Issuer, err)
	}
	if !exists {
		return fmt.Errorf("oauth client for %q: %w", old.Issuer, mcpgate.ErrNotFound)
	}
	return fmt.Errorf("oauth client for %q changed since it was read: %w", old.Issuer, mcpgate.ErrConflict)
}

// DeleteOAuthClient implements mcpgate.OAuthStore.
func (db *DB) DeleteOAuthClient(ctx context.Context, issuer string) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM oauth_clients WHERE issuer = ?`, issuer)
	if err != nil {
		return fmt.Errorf("delete oauth client for %q: %w", issuer, err)
	}
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf("delete oauth client for %q: %w", issuer, err)
	}
	if n == 0 {
		return fmt.Errorf("oauth client for %q: %w", issuer, mcpgate.ErrNotFound)
	}
	return nil
}

func scanOAuthClient(row rowScanner) (mcpgate.OAuthClient, error) {
	var (
		c       mcpgate.OAuthClient
		created sql.NullInt64
	)
	if err := row.Scan(&c.Issuer, &c.ClientID, &c.ClientSecret, &c.Method, &c.AuthMethod, &c.RedirectURI, &created); err != nil {
		return mcpgate.OAuthClient{}, err
	}
	c.CreatedAt = fromMicros(created)
	return c, nil
}

const authRequestColumns = `state_hash, server, user_name, issuer, client_id, code_verifier, redirect_uri, resource, scopes, created_at, expires_at`

// CreateAuthRequest implements mcpgate.OAuthStore. Errors do not echo the
// state hash: it names a pending authorization.
func (db *DB) CreateAuthRequest(ctx context.Context, r mcpgate.AuthRequest) error {
	scopes, err := marshalStrings(r.Scopes)
	if err != nil {
		return fmt.Errorf("auth request: encode scopes: %w", err)
	}
	_, err = db.write.ExecContext(ctx, `INSERT INTO auth_requests (`+authRequestColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.StateHash, r.Server, r.User, r.Issuer, r.ClientID, r.CodeVerifier, r.RedirectURI, r.Resource, scopes,
		toMicros(r.CreatedAt), toMicros(r.ExpiresAt))
	if isUnique(err) {
		return fmt.Errorf("auth request: state exists: %w", mcpgate.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create auth request: %w", err)
	}
	return nil
}

// TakeAuthRequest implements mcpgate.OAuthStore: one DELETE … RETURNING, so
// of racing takes exactly one gets the row.
func (db *DB) TakeAuthRequest(ctx context.Context, stateHash string) (mcpgate.AuthRequest, error) {
	var (
		r                mcpgate.AuthRequest
		scopes           string
		created, expires sql.NullInt64
	)
	err := db.write.QueryRowContext(ctx, `DELETE FROM auth_requests WHERE state_hash = ? RETURNING `+authRequestColumns, stateHash).
		Scan(&r.StateHash, &r.Server, &r.User, &r.Issuer, &r.ClientID, &r.CodeVerifier, &r.RedirectURI, &r.Resource, &scopes, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return mcpgate.AuthRequest{}, fmt.Errorf("auth request: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.AuthRequest{}, fmt.Errorf("take auth request: %w", err)
	}
	if r.Scopes, err = unmarshalStrings(scopes); err != nil {
		return mcpgate.AuthRequest{}, fmt.Errorf("auth request: decode scopes: %w", err)
	}
	r.CreatedAt, r.ExpiresAt = fromMicros(created), fromMicros(expires)
	return r, nil
}

// ListAuthRequests implements mcpgate.OAuthStore.
func (db *DB) ListAuthRequests(ctx context.Context) ([]mcpgate.AuthRequest, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+authRequestColumns+` FROM auth_requests ORDER BY created_at, state_hash`)
	if err != nil {
		return nil, fmt.Errorf("list auth requests: %w", err)
	}
	defer rows.Close()
	var out []mcpgate.AuthRequest
	for rows.Next() {
		var (
			r                mcpgate.AuthRequest
			scopes           string
			created, expires sql.NullInt64
		)
		if err := rows.Scan(&r.StateHash, &r.Server, &r.User, &r.Issuer, &r.ClientID, &r.CodeVerifier, &r.RedirectURI, &r.Resource, &scopes, &created, &expires); err != nil {
			return nil, fmt.Errorf("list auth requests: %w", err)
		}
		if r.Scopes, err = unmarshalStrings(scopes); err != nil {
			return nil, fmt.Errorf("auth request: decode scopes: %w", err)
		}
		r.CreatedAt, r.ExpiresAt = fromMicros(created), fromMicros(expires)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list auth requests: %w", err)
	}
	return out, nil
}

// SwapAuthRequestVerifier implements mcpgate.OAuthStore.
func (db *DB) SwapAuthRequestVerifier(ctx context.Context, stateHash string, old, next []byte) error {
	res, err := db.write.ExecContext(ctx, `UPDATE auth_requests SET code_verifier = ? WHERE state_hash = ? AND code_verifier = ?`, next, stateHash, old)
	if err != nil {
		return fmt.Errorf("swap auth request verifier: %w", err)
	}
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf("swap auth request verifier: %w", err)
	}
	if n == 1 {
		return nil
	}
	var exists int
	err = db.write.QueryRowContext(ctx, `SELECT count(*) FROM auth_requests WHERE state_hash = ?`, stateHash).Scan(&exists)
	switch {
	case err != nil:
		return fmt.Errorf("swap auth request verifier: %w", err)
	case exists == 0:
		return fmt.Errorf("auth request: %w", mcpgate.ErrNotFound)
	}
	return fmt.Errorf("auth request: verifier changed: %w", mcpgate.ErrConflict)
}

// DeleteAuthRequestsBefore implements mcpgate.OAuthStore.
func (db *DB) DeleteAuthRequestsBefore(ctx context.Context, t time.Time) (int, error) {
	res, err := db.write.ExecContext(ctx, `DELETE FROM auth_requests WHERE expires_at < ?`, t.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("delete auth requests expired before %v: %w", t, err)
	}
	n, err := affected(res)
	if err != nil {
		return 0, fmt.Errorf("delete auth requests expired before %v: %w", t, err)
	}
	return int(n), nil
}

// marshalStrings encodes ss as a JSON array, never null.
func marshalStrings(ss []string) (string, error) {
	if ss == nil {
		ss = []string{}
	}
	b, err := json.Marshal(ss)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func unmarshalStrings(s string) ([]string, error) {
	var ss []string
	if err := json.Unmarshal([]byte(s), &ss); err != nil {
		return nil, err
	}
	return ss, nil
}
