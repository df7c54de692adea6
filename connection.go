package mcpgate

import (
	"errors"
	"time"
)

// Connection is the gateway's authorization at one upstream server: the
// OAuth tokens it holds for one user there, or for the server as a whole
// (a shared connection, User == ""). Token values are sealed.
type Connection struct {
	ID     string
	Server string
	User   string // "" for the server's shared connection
	State  ConnectionState

	// Issuer and ClientID name the authorization server and the OAuth client
	// the tokens were issued to; refresh and revocation go there.
	Issuer   string
	ClientID string
	// GrantType is how tokens are obtained: "authorization_code",
	// "client_credentials", "jwt_bearer" (an assertion handed over),
	// "id_jag" (enterprise-managed) or "workload_identity" (the gateway's
	// own token file, read for each new access token).
	GrantType string
	// Resource is the RFC 8707 resource indicator the tokens are for; it is
	// sent on every token request, refreshes included.
	Resource string
	Scopes   []string
	// StepUpScopes, when State is StateStepUpRequired, is the union of scopes
	// to ask for at the next authorization.
	StepUpScopes []string

	AccessToken  []byte // sealed
	RefreshToken []byte // sealed; nil when the server issued none
	// GrantCredential is what a JWT-bearer grant (RFC 7523) presents again
	// for each new access token, sealed: the assertion itself (GrantType
	// jwt_bearer, a workload identity token) or the user's identity
	// provider ID token that is exchanged for one (id_jag, enterprise-managed
	// authorization). Nil for other grants, workload_identity included. It
	// is never sent anywhere but the token endpoints it was given for.
	GrantCredential []byte
	TokenType       string
	ExpiresAt       time.Time // zero: unknown lifetime
	IssuedAt        time.Time // when the current access token was obtained
	// Generation counts token sets: it increases by one with every refresh,
	// so "exactly one refresh per generation" can be checked.
	Generation int64

	// Refresh coordination across processes: a process refreshes only while
	// it holds an unexpired lease, taken by compare-and-swap on Version.
	LeaseOwner string
	LeaseUntil time.Time

	// RefreshDueAt is when the gateway refreshes the tokens ahead of
	// expiry, kept with them so that a sweep reads only what is due. Zero:
	// never ahead of use (unknown lifetime, nothing to refresh with, or
	// re-authorization needed).
	RefreshDueAt time.Time

	LastRefreshAt   time.Time
	LastUsedAt      time.Time
	RefreshFailures int    // consecutive failures
	LastError       string // user-safe, no secrets
	LastErrorAt     time.Time

	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// ConnectionState says whether a connection can be used.
type ConnectionState string

// Connection states.
const (
	StateConnected      ConnectionState = "connected"
	StateReauthRequired ConnectionState = "reauth_required"
	StateStepUpRequired ConnectionState = "step_up_required"
)

// Shared reports whether c serves every user of its server.
func (c Connection) Shared() bool { return c.User == "" }

// Reasons a call cannot use an upstream connection; user-safe.
var (
	ErrNotConnected   = errors.New("server is not connected for this user")
	ErrReauthRequired = errors.New("the connection to the server must be re-authorized")
)

// OAuthClient is the gateway's registration as an OAuth client at one
// authorization server, reused for every connection to that issuer.
type OAuthClient struct {
	Issuer       string
	ClientID     string
	ClientSecret []byte // sealed; nil for public clients
	// Method is how the client came to exist: "preregistered", "cimd" or "dcr".
	Method string
	// AuthMethod is the token endpoint authentication method
	// (none, client_secret_basic, client_secret_post, private_key_jwt).
	AuthMethod  string
	RedirectURI string
	CreatedAt   time.Time
}

// AuthRequest is an authorization in progress: created when the user is
// sent to the authorization server, taken (once) when the callback arrives.
type AuthRequest struct {
	// StateHash is the hex SHA-256 of the state parameter.
	StateHash    string
	Server       string
	User         string // "" for a shared connection
	Issuer       string
	ClientID     string
	CodeVerifier []byte // sealed PKCE verifier
	RedirectURI  string
	Resource     string
	Scopes       []string
	CreatedAt    time.Time
	ExpiresAt    time.Time
}
