package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mcpgate/mcpgate"
)

var _ mcpgate.OAuthStore = (*DB)(nil)

const connectionColumns = `id, server, user_name, state, issuer, client_id, grant_type, scopes, step_up_scopes,
	access_token, refresh_token, token_type, expires_at, issued_at, generation,
	lease_owner, lease_until, last_refresh_at, last_used_at, refresh_failures, last_error, last_error_at,
	created_at, updated_at, resource, grant_credential, refresh_due_at, version`

// connectionValues are c's column values in connectionColumns order, up to
// but excluding version.
func connectionValues(c mcpgate.Connection) []any {
	return []any{
		c.ID, c.Server, c.User, string(c.State), c.Issuer, c.ClientID, c.GrantType, nonNil(c.Scopes), nonNil(c.StepUpScopes),
		c.AccessToken, c.RefreshToken, c.TokenType, ts(c.ExpiresAt), ts(c.IssuedAt), c.Generation,
		c.LeaseOwner, ts(c.LeaseUntil), ts(c.LastRefreshAt), ts(c.LastUsedAt), c.RefreshFailures, c.LastError, ts(c.LastErrorAt),
		ts(c.CreatedAt), ts(c.UpdatedAt), c.Resource, c.GrantCredential, ts(c.RefreshDueAt),
	}
}

// CreateConnection implements mcpgate.OAuthStore. The foreign key refuses a
// connection to a server that does not exist (ErrNotFound).
func (db *DB) createConnection(ctx context.Context, c mcpgate.Connection) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO connections (`+connectionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, 1)`,
		connectionValues(c)...)
	switch {
	case hasCode(err, uniqueViolation):
		return fmt.Errorf("connection %q: id or connection of user %q at server %q exists: %w", c.ID, c.User, c.Server, mcpgate.ErrConflict)
	case hasCode(err, foreignKeyViolation):
		return fmt.Errorf("connection %q: server %q: %w", c.ID, c.Server, mcpgate.ErrNotFound)
	case err != nil:
		return fmt.Errorf("create connection %q: %w", c.ID, err)
	}
	return nil
}

// GetConnection implements mcpgate.OAuthStore.
func (db *DB) GetConnection(ctx context.Context, id string) (mcpgate.Connection, error) {
	c, err := scanConnection(db.pool.QueryRow(ctx, `SELECT `+connectionColumns+` FROM connections WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return mcpgate.Connection{}, fmt.Errorf("connection %q: %w", id, mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.Connection{}, fmt.Errorf("get connection %q: %w", id, err)
	}
	return c, nil
}

// FindConnection implements mcpgate.OAuthStore.
func (db *DB) FindConnection(ctx context.Context, server, user string) (mcpgate.Connection, error) {
	c, err := scanConnection(db.pool.QueryRow(ctx,
		`SELECT `+connectionColumns+` FROM connections WHERE server = $1 AND user_name = $2`, server, user))
	if errors.Is(err, pgx.ErrNoRows) {
		return mcpgate.Connection{}, fmt.Errorf("connection of user %q at server %q: %w", user, server, mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.Connection{}, fmt.Errorf("find connection of user %q at server %q: %w", user, server, err)
	}
	return c, nil
}

// ListConnections implements mcpgate.OAuthStore.
func (db *DB) ListConnections(ctx context.Context) ([]mcpgate.Connection, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+connectionColumns+` FROM connections ORDER BY server, user_name`)
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
	rows, err := db.pool.Query(ctx, `SELECT `+connectionColumns+` FROM connections
		WHERE refresh_due_at IS NOT NULL AND refresh_due_at <= $1 AND state <> 'reauth_required'
		ORDER BY refresh_due_at, id`, t)
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
// Version; see UpdateServer for why exactly one of racing updates wins).
func (db *DB) updateConnection(ctx context.Context, c mcpgate.Connection) (mcpgate.Connection, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE connections
		SET server = $2, user_name = $3, state = $4, issuer = $5, client_id = $6, grant_type = $7, scopes = $8, step_up_scopes = $9,
		    access_token = $10, refresh_token = $11, token_type = $12, expires_at = $13, issued_at = $14, generation = $15,
		    lease_owner = $16, lease_until = $17, last_refresh_at = $18, last_used_at = $19, refresh_failures = $20,
		    last_error = $21, last_error_at = $22, created_at = $23, updated_at = $24, resource = $25,
		    grant_credential = $26, refresh_due_at = $27, version = version + 1
		WHERE id = $1 AND version = $28`, append(connectionValues(c), c.Version)...)
	switch {
	case hasCode(err, uniqueViolation):
		return mcpgate.Connection{}, fmt.Errorf("connection %q: user %q at server %q has another connection: %w", c.ID, c.User, c.Server, mcpgate.ErrConflict)
	case hasCode(err, foreignKeyViolation):
		return mcpgate.Connection{}, fmt.Errorf("connection %q: server %q: %w", c.ID, c.Server, mcpgate.ErrNotFound)
	case err != nil:
		return mcpgate.Connection{}, fmt.Errorf("update connection %q: %w", c.ID, err)
	}
	if err := db.checkSwapped(ctx, tag, "connections", "id", "connection", c.ID, c.Version); err != nil {
		return mcpgate.Connection{}, err
	}
	c.Version++
	return c, nil
}

// DeleteConnection implements mcpgate.OAuthStore.
func (db *DB) deleteConnection(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM connections WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete connection %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("connection %q: %w", id, mcpgate.ErrNotFound)
	}
	return nil
}

// DeleteConnectionsOf implements mcpgate.OAuthStore. With both server and
// user set it removes that user's connection at that server; with neither,
// it refuses (ErrInvalid) rather than remove everything.
func (db *DB) deleteConnectionsOf(ctx context.Context, server, user string) ([]mcpgate.Connection, error) {
	if server == "" && user == "" {
		return nil, fmt.Errorf("delete connections: name a server, a user or both: %w", mcpgate.ErrInvalid)
	}
	rows, err := db.pool.Query(ctx, `DELETE FROM connections
		WHERE ($1::text = '' OR server = $1) AND ($2::text = '' OR user_name = $2)
		RETURNING `+connectionColumns, server, user)
	if err != nil {
		return nil, fmt.Errorf("delete connections of server %q, user %q: %w", server, user, err)
	}
	out, err := scanConnections(rows)
	if err != nil {
		return nil, fmt.Errorf("delete connections of server %q, user %q: %w", server, user, err)
	}
	// RETURNING has no order; give the ListConnections one.
	slices.SortFunc(out, func(a, b mcpgate.Connection) int {
		if c := strings.Compare(a.Server, b.Server); c != 0 {
			return c
		}
		return strings.Compare(a.User, b.User)
	})
	return out, nil
}

func scanConnections(rows pgx.Rows) ([]mcpgate.Connection, error) {
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

func scanConnection(row pgx.Row) (mcpgate.Connection, error) {
	var (
		c                                                 mcpgate.Connection
		state                                             string
		expires, issued, leaseUntil, lastRefresh, lastUse pgtype.Timestamptz
		lastErrorAt, created, updated, refreshDue         pgtype.Timestamptz
	)
	if err := row.Scan(&c.ID, &c.Server, &c.User, &state, &c.Issuer, &c.ClientID, &c.GrantType, &c.Scopes, &c.StepUpScopes,
		&c.AccessToken, &c.RefreshToken, &c.TokenType, &expires, &issued, &c.Generation,
		&c.LeaseOwner, &leaseUntil, &lastRefresh, &lastUse, &c.RefreshFailures, &c.LastError, &lastErrorAt,
		&created, &updated, &c.Resource, &c.GrantCredential, &refreshDue, &c.Version); err != nil {
		return mcpgate.Connection{}, err
	}
	c.State = mcpgate.ConnectionState(state)
	c.ExpiresAt, c.IssuedAt = fromTS(expires), fromTS(issued)
	c.LeaseUntil, c.LastRefreshAt, c.LastUsedAt = fromTS(leaseUntil), fromTS(lastRefresh), fromTS(lastUse)
	c.LastErrorAt, c.CreatedAt, c.UpdatedAt = fromTS(lastErrorAt), fromTS(created), fromTS(updated)
	c.RefreshDueAt = fromTS(refreshDue)
	return c, nil
}

const oauthClientColumns = `issuer, client_id, client_secret, method, auth_method, redirect_uri, created_at`

// PutOAuthClient implements mcpgate.OAuthStore in one statement, like
// PutMetaIfAbsent: a racing insert waits for the first to commit and then
// takes the no-op update, whose RETURNING yields the registration stored.
func (db *DB) PutOAuthClient(ctx context.Context, c mcpgate.OAuthClient) (mcpgate.OAuthClient, error) {
	stored, err := scanOAuthClient(db.pool.QueryRow(ctx, `INSERT INTO oauth_clients (`+oauthClientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (issuer) DO UPDATE SET issuer = oauth_clients.issuer
		RETURNING `+oauthClientColumns,
		c.Issuer, c.ClientID, c.ClientSecret, c.Method, c.AuthMethod, c.RedirectURI, ts(c.CreatedAt)))
	if err != nil {
		return mcpgate.OAuthClient{}, fmt.Errorf("put oauth client for %q: %w", c.Issuer, err)
	}
	return stored, nil
}

// GetOAuthClient implements mcpgate.OAuthStore.
func (db *DB) GetOAuthClient(ctx context.Context, issuer string) (mcpgate.OAuthClient, error) {
	c, err := scanOAuthClient(db.pool.QueryRow(ctx, `SELECT `+oauthClientColumns+` FROM oauth_clients WHERE issuer = $1`, issuer))
	if errors.Is(err, pgx.ErrNoRows) {
		return mcpgate.OAuthClient{}, fmt.Errorf("oauth client for %q: %w", issuer, mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.OAuthClient{}, fmt.Errorf("get oauth client for %q: %w", issuer, err)
	}
	return c, nil
}

// ListOAuthClients implements mcpgate.OAuthStore.
func (db *DB) ListOAuthClients(ctx context.Context) ([]mcpgate.OAuthClient, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+oauthClientColumns+` FROM oauth_clients ORDER BY issuer`)
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

// UpdateOAuthClient implements mcpgate.OAuthStore. Under READ COMMITTED a
// racing UPDATE waits for the row lock and then re-checks the comparison
// against the committed row, so exactly one of racing updates wins.
func (db *DB) UpdateOAuthClient(ctx context.Context, old, next mcpgate.OAuthClient) error {
	if next.Issuer != old.Issuer {
		return fmt.Errorf("update oauth client for %q: the issuer cannot change: %w", old.Issuer, mcpgate.ErrInvalid)
	}
	tag, err := db.pool.Exec(ctx, `UPDATE oauth_clients
		SET client_id = $1, client_secret = $2, method = $3, auth_method = $4, redirect_uri = $5, created_at = $6
		WHERE issuer = $7 AND client_id = $8 AND client_secret IS NOT DISTINCT FROM $9 AND created_at IS NOT DISTINCT FROM $10`,
		next.ClientID, next.ClientSecret, next.Method, next.AuthMethod, next.RedirectURI, ts(next.CreatedAt),
		old.Issuer, old.ClientID, old.ClientSecret, ts(old.CreatedAt))
	if err != nil {
		return fmt.Errorf("update oauth client for %q: %w", old.Issuer, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM oauth_clients WHERE issuer = $1)`, old.Issuer).Scan(&exists); err != nil {
		return fmt.Errorf("update oauth client for %q: %w", old.Issuer, err)
	}
	if !exists {
		return fmt.Errorf("oauth client for %q: %w", old.Issuer, mcpgate.ErrNotFound)
	}
	return fmt.Errorf("oauth client for %q changed since it was read: %w", old.Issuer, mcpgate.ErrConflict)
}

// DeleteOAuthClient implements mcpgate.OAuthStore.
func (db *DB) DeleteOAuthClient(ctx context.Context, issuer string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM oauth_clients WHERE issuer = $1`, issuer)
	if err != nil {
		return fmt.Errorf("delete oauth client for %q: %w", issuer, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("oauth client for %q: %w", issuer, mcpgate.ErrNotFound)
	}
	return nil
}

func scanOAuthClient(row pgx.Row) (mcpgate.OAuthClient, error) {
	var (
		c       mcpgate.OAuthClient
		created pgtype.Timestamptz
	)
	if err := row.Scan(&c.Issuer, &c.ClientID, &c.ClientSecret, &c.Method, &c.AuthMethod, &c.RedirectURI, &created); err != nil {
		return mcpgate.OAuthClient{}, err
	}
	c.CreatedAt = fromTS(created)
	return c, nil
}

const authRequestColumns = `state_hash, server, user_name, issuer, client_id, code_verifier, redirect_uri, resource, scopes, created_at, expires_at`

// CreateAuthRequest implements mcpgate.OAuthStore. Errors do not echo the
// state hash: it names a pending authorization.
func (db *DB) CreateAuthRequest(ctx context.Context, r mcpgate.AuthRequest) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO auth_requests (`+authRequestColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		r.StateHash, r.Server, r.User, r.Issuer, r.ClientID, r.CodeVerifier, r.RedirectURI, r.Resource, nonNil(r.Scopes),
		ts(r.CreatedAt), ts(r.ExpiresAt))
	if hasCode(err, uniqueViolation) {
		return fmt.Errorf("auth request: state exists: %w", mcpgate.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create auth request: %w", err)
	}
	return nil
}

// TakeAuthRequest implements mcpgate.OAuthStore: one DELETE … RETURNING. A
// racing take waits for the row lock and then finds the row gone, so
// exactly one gets it.
func (db *DB) TakeAuthRequest(ctx context.Context, stateHash string) (mcpgate.AuthRequest, error) {
	var (
		r                mcpgate.AuthRequest
		created, expires pgtype.Timestamptz
	)
	err := db.pool.QueryRow(ctx, `DELETE FROM auth_requests WHERE state_hash = $1 RETURNING `+authRequestColumns, stateHash).
		Scan(&r.StateHash, &r.Server, &r.User, &r.Issuer, &r.ClientID, &r.CodeVerifier, &r.RedirectURI, &r.Resource, &r.Scopes, &created, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return mcpgate.AuthRequest{}, fmt.Errorf("auth request: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return mcpgate.AuthRequest{}, fmt.Errorf("take auth request: %w", err)
	}
	r.CreatedAt, r.ExpiresAt = fromTS(created), fromTS(expires)
	return r, nil
}

// ListAuthRequests implements mcpgate.OAuthStore.
func (db *DB) ListAuthRequests(ctx context.Context) ([]mcpgate.AuthRequest, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+authRequestColumns+` FROM auth_requests ORDER BY created_at, state_hash`)
	if err != nil {
		return nil, fmt.Errorf("list auth requests: %w", err)
	}
	defer rows.Close()
	var out []mcpgate.AuthRequest
	for rows.Next() {
		var (
			r                mcpgate.AuthRequest
			created, expires pgtype.Timestamptz
		)
		if err := rows.Scan(&r.StateHash, &r.Server, &r.User, &r.Issuer, &r.ClientID, &r.CodeVerifier, &r.RedirectURI, &r.Resource, &r.Scopes, &created, &expires); err != nil {
			return nil, fmt.Errorf("list auth requests: %w", err)
		}
		r.CreatedAt, r.ExpiresAt = fromTS(created), fromTS(expires)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list auth requests: %w", err)
	}
	return out, nil
}

// SwapAuthRequestVerifier implements mcpgate.OAuthStore.
func (db *DB) SwapAuthRequestVerifier(ctx context.Context, stateHash string, old, next []byte) error {
	var swapped, exists bool
	err := db.pool.QueryRow(ctx, `
		WITH swap AS (
			UPDATE auth_requests SET code_verifier = $3 WHERE state_hash = $1 AND code_verifier = $2 RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM swap), EXISTS (SELECT 1 FROM auth_requests WHERE state_hash = $1)`,
		stateHash, old, next).Scan(&swapped, &exists)
	switch {
	case err != nil:
		return fmt.Errorf("swap auth request verifier: %w", err)
	case swapped:
		return nil
	case !exists:
		return fmt.Errorf("auth request: %w", mcpgate.ErrNotFound)
	}
	return fmt.Errorf("auth request: verifier changed: %w", mcpgate.ErrConflict)
}

// DeleteAuthRequestsBefore implements mcpgate.OAuthStore.
func (db *DB) DeleteAuthRequestsBefore(ctx context.Context, t time.Time) (int, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM auth_requests WHERE expires_at < $1`, t)
	if err != nil {
		return 0, fmt.Errorf("delete auth requests expired before %v: %w", t, err)
	}
	return int(tag.RowsAffected()), nil
}

// nonNil returns ss, or an empty slice for nil: the array columns are NOT
// NULL and pgx sends a nil slice as NULL.
func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}
