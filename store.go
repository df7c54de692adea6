package mcpgate

import (
	"context"
	"time"
)

// Store is the persistence contract. Every backend passes the conformance
// suite in internal/store/storetest.
//
// Errors: ErrNotFound for a missing object, ErrConflict for a duplicate key or
// a lost compare-and-swap, both wrapped with context.
type Store interface {
	OAuthStore
	AuditStore
	RateStore
	// CreateServer inserts s (ErrConflict if the name exists). Version is set to 1.
	CreateServer(ctx context.Context, s Server) error
	GetServer(ctx context.Context, name string) (Server, error)
	// ListServers returns all servers ordered by name.
	ListServers(ctx context.Context) ([]Server, error)
	// UpdateServer replaces the server named s.Name if its stored Version
	// equals s.Version, and stores it with Version+1; otherwise ErrConflict.
	UpdateServer(ctx context.Context, s Server) (Server, error)
	// DeleteServer removes the server and the sessions and connections bound to it.
	DeleteServer(ctx context.Context, name string) error

	// CreateGrant inserts g (ErrConflict on a duplicate id or token hash).
	CreateGrant(ctx context.Context, g Grant) error
	GetGrant(ctx context.Context, id string) (Grant, error)
	GetGrantByTokenHash(ctx context.Context, tokenHash string) (Grant, error)
	// ListGrants returns all grants, newest first.
	ListGrants(ctx context.Context) ([]Grant, error)
	// UpdateGrant is compare-and-swap on Version, like UpdateServer.
	UpdateGrant(ctx context.Context, g Grant) (Grant, error)
	// TouchGrants records last use; ids that no longer exist are ignored.
	TouchGrants(ctx context.Context, lastUsed map[string]time.Time) error

	// CreateSession records a binding (ErrConflict if the id hash exists).
	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, idHash string) (Session, error)
	DeleteSession(ctx context.Context, idHash string) error
	// DeleteSessionsBefore removes bindings created before t; it returns how many.
	DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error)

	// GetMeta and PutMetaIfAbsent keep small installation facts (for example
	// a value sealed with the current key, to detect a wrong key at start).
	GetMeta(ctx context.Context, key string) (string, error)
	// PutMetaIfAbsent stores value unless key exists; it returns the stored value.
	PutMetaIfAbsent(ctx context.Context, key, value string) (string, error)
	// SetMeta stores value under key, replacing any value there (key
	// rotation rewrites sealed meta values with it).
	SetMeta(ctx context.Context, key, value string) error

	Ping(ctx context.Context) error
	Close() error
}

// OAuthStore persists upstream OAuth state. Same error conventions as Store.
type OAuthStore interface {
	// CreateConnection inserts c with Version 1 (ErrConflict if a connection
	// for the same server and user exists).
	CreateConnection(ctx context.Context, c Connection) error
	GetConnection(ctx context.Context, id string) (Connection, error)
	// FindConnection returns the connection of user at server; user "" finds
	// the shared connection.
	FindConnection(ctx context.Context, server, user string) (Connection, error)
	// ListConnections returns all connections ordered by server, then user.
	ListConnections(ctx context.Context) ([]Connection, error)
	// ListConnectionsDue returns the connections whose RefreshDueAt is set
	// and not after t, soonest first, except those needing
	// re-authorization.
	ListConnectionsDue(ctx context.Context, t time.Time) ([]Connection, error)
	// UpdateConnection is compare-and-swap on Version, like UpdateServer.
	UpdateConnection(ctx context.Context, c Connection) (Connection, error)
	DeleteConnection(ctx context.Context, id string) error
	// DeleteConnectionsOf removes every connection of server (if not "") or
	// of user (if not "") and returns them, for provider-side revocation.
	DeleteConnectionsOf(ctx context.Context, server, user string) ([]Connection, error)

	// PutOAuthClient stores a registration unless one exists for the issuer;
	// it returns the stored one (so concurrent registrations converge).
	PutOAuthClient(ctx context.Context, c OAuthClient) (OAuthClient, error)
	GetOAuthClient(ctx context.Context, issuer string) (OAuthClient, error)
	// ListOAuthClients returns all registrations ordered by issuer.
	ListOAuthClients(ctx context.Context) ([]OAuthClient, error)
	// UpdateOAuthClient replaces the registration stored for old.Issuer with
	// next (same issuer) if the stored one still has old's ClientID,
	// ClientSecret and CreatedAt: a compare-and-swap, since a registration
	// has no version and every sealed secret is unique. ErrConflict if it
	// changed, ErrNotFound if none is stored.
	UpdateOAuthClient(ctx context.Context, old, next OAuthClient) error
	DeleteOAuthClient(ctx context.Context, issuer string) error

	CreateAuthRequest(ctx context.Context, r AuthRequest) error
	// TakeAuthRequest deletes and returns the request: a state works once.
	TakeAuthRequest(ctx context.Context, stateHash string) (AuthRequest, error)
	// DeleteAuthRequestsBefore removes requests that expired before t.
	DeleteAuthRequestsBefore(ctx context.Context, t time.Time) (int, error)
	// ListAuthRequests returns the requests not taken or deleted yet.
	ListAuthRequests(ctx context.Context) ([]AuthRequest, error)
	// SwapAuthRequestVerifier replaces the request's sealed CodeVerifier
	// with next if it is still old (key rotation): ErrConflict if it
	// changed, ErrNotFound if the request is gone.
	SwapAuthRequestVerifier(ctx context.Context, stateHash string, old, next []byte) error
}
