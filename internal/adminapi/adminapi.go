// Package adminapi holds the JSON shapes of the admin API, shared by the
// server (internal/httpapi) and the client (internal/adminclient) so the two
// cannot drift apart. It contains types only.
//
// Endpoints (all under /api/v1, all need Authorization: Bearer <admin token>):
//
//	GET    /servers              → ServerList
//	POST   /servers              CreateServerRequest → 201 Server
//	GET    /servers/{name}       → Server
//	DELETE /servers/{name}       → 204
//	GET    /grants               → GrantList
//	POST   /grants               CreateGrantRequest → 201 CreatedGrant
//	GET    /grants/{id}          → Grant
//	POST   /grants/{id}/revoke   → 200 Grant (idempotent)
//	GET    /connections          → ConnectionList
//	POST   /connections          ConnectRequest → 202 ConnectStarted, or 201 Connection (client credentials)
//	GET    /connections/{id}     → Connection
//	DELETE /connections/{id}     → 200 RevokeResult
//	DELETE /users/{user}         → 200 UserRemoval
//	POST   /keys/rotate          → 200 KeyRotation
//	GET    /policy               → PolicyStatus
//	POST   /policy/reload        → 200 PolicyStatus, or 400 naming the line and column
//	POST   /policy/test          PolicyTestRequest → 200 PolicyDecision
//	GET    /audit                → AuditList (query: server, user, decision, since, until, before_id, limit)
//
// Errors are {"error": {"code": "...", "message": "..."}} with a matching status.
package adminapi

import "time"

// Server is the public view of an upstream server. Secret values are never
// returned: only header names and whether a client secret is set.
type Server struct {
	Name                 string    `json:"name"`
	URL                  string    `json:"url"`
	Headers              []string  `json:"headers"`
	OAuthClientID        string    `json:"oauth_client_id,omitempty"`
	HasOAuthClientSecret bool      `json:"has_oauth_client_secret"` // also true for a private_key_jwt key
	OAuthAuthMethod      string    `json:"oauth_auth_method,omitempty"`
	OAuthScopes          []string  `json:"oauth_scopes,omitempty"`
	Source               string    `json:"source"`
	CreatedAt            time.Time `json:"created_at"`
	UpdatedAt            time.Time `json:"updated_at"`
}

// ServerList is the answer to GET /servers.
type ServerList struct {
	Servers []Server `json:"servers"`
}

// CreateServerRequest adds an upstream server. Header values, the client
// secret and the private key are sealed before they are stored.
type CreateServerRequest struct {
	Name              string            `json:"name"`
	URL               string            `json:"url"`
	Headers           map[string]string `json:"headers,omitempty"`
	OAuthClientID     string            `json:"oauth_client_id,omitempty"`
	OAuthClientSecret string            `json:"oauth_client_secret,omitempty"`
	// OAuthAuthMethod is none, client_secret_basic, client_secret_post or
	// private_key_jwt; empty lets the authorization server's metadata decide
	// (or means private_key_jwt when OAuthPrivateKey is set).
	OAuthAuthMethod string `json:"oauth_auth_method,omitempty"`
	// OAuthScopes are the scopes to request; empty means discover them.
	OAuthScopes []string `json:"oauth_scopes,omitempty"`
	// OAuthPrivateKey is a PEM private key (EC P-256 or RSA) for
	// private_key_jwt, instead of OAuthClientSecret. It is never returned.
	OAuthPrivateKey string `json:"oauth_private_key,omitempty"`
}

// Grant is the public view of a grant; the token is never returned after creation.
type Grant struct {
	ID         string     `json:"id"`
	User       string     `json:"user"`
	Servers    []string   `json:"servers"`
	Label      string     `json:"label,omitempty"`
	Status     string     `json:"status"` // active, expired or revoked
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// Grant statuses.
const (
	GrantActive  = "active"
	GrantExpired = "expired"
	GrantRevoked = "revoked"
)

// GrantList is the answer to GET /grants.
type GrantList struct {
	Grants []Grant `json:"grants"`
}

// CreateGrantRequest creates a grant. TTL is a Go duration ("24h", "90m");
// empty means the grant does not expire.
type CreateGrantRequest struct {
	User    string   `json:"user"`
	Servers []string `json:"servers"`
	TTL     string   `json:"ttl,omitempty"`
	Label   string   `json:"label,omitempty"`
}

// CreatedGrant is the only response that carries the token.
type CreatedGrant struct {
	Grant
	Token string `json:"token"`
}

// ErrorBody is the body of every admin API error.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong in words safe to show a user.
type ErrorDetail struct {
	Code    string `json:"code"` // not_found, conflict, invalid, unauthorized, too_large, internal
	Message string `json:"message"`
}
