package adminapi

import "time"

// Connection is the public view of an upstream OAuth connection. Token
// values are never returned.
type Connection struct {
	ID     string `json:"id"`
	Server string `json:"server"`
	// User is empty for the server's shared connection.
	User            string     `json:"user"`
	Shared          bool       `json:"shared"`
	State           string     `json:"state"` // connected, reauth_required, step_up_required
	GrantType       string     `json:"grant_type"`
	Issuer          string     `json:"issuer"`
	ClientID        string     `json:"client_id"`
	Scopes          []string   `json:"scopes"`
	StepUpScopes    []string   `json:"step_up_scopes,omitempty"`
	HasRefreshToken bool       `json:"has_refresh_token"`
	ExpiresAt       *time.Time `json:"access_token_expires_at"`
	Generation      int64      `json:"generation"`
	LastRefreshAt   *time.Time `json:"last_refresh_at"`
	LastUsedAt      *time.Time `json:"last_used_at"`
	RefreshFailures int        `json:"refresh_failures"`
	LastError       string     `json:"last_error,omitempty"`
	LastErrorAt     *time.Time `json:"last_error_at"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

// ConnectionList is the answer to GET /connections.
type ConnectionList struct {
	Connections []Connection `json:"connections"`
}

// ConnectRequest starts a connection (POST /connections). With
// ClientCredentials, Assertion, IDToken or WorkloadIdentity the gateway obtains the
// connection at once, with no browser (201 Connection); otherwise it
// answers 202 ConnectStarted and the user opens AuthorizationURL.
type ConnectRequest struct {
	Server            string `json:"server"`
	User              string `json:"user,omitempty"`
	Shared            bool   `json:"shared,omitempty"`
	ClientCredentials bool   `json:"client_credentials,omitempty"`
	// Assertion is a JWT the server's authorization server trusts, such
	// as a workload identity token, for the JWT-bearer grant.
	Assertion string `json:"assertion,omitempty"`
	// IDToken is the user's ID token from the configured enterprise
	// identity provider (enterprise-managed authorization).
	IDToken string `json:"id_token,omitempty"`
	// WorkloadIdentity makes the shared connection with the gateway's own
	// workload identity token (workload_identity_token_file in its
	// config), read again for each new access token.
	WorkloadIdentity bool `json:"workload_identity,omitempty"`
}

// ConnectStarted carries the URL the user must open to authorize.
type ConnectStarted struct {
	AuthorizationURL string    `json:"authorization_url"`
	ExpiresAt        time.Time `json:"expires_at"`
}

// RevokeResult reports a revocation (DELETE /connections/{id}).
type RevokeResult struct {
	Connection Connection `json:"connection"`
	// ProviderError is set when the provider's revocation endpoint could not
	// be reached; the gateway's copy of the tokens is deleted regardless.
	ProviderError string `json:"provider_error,omitempty"`
}

// UserRemoval reports DELETE /users/{user}: the user's connections are
// removed (and revoked at the providers) and their grants revoked.
type UserRemoval struct {
	User               string   `json:"user"`
	RemovedConnections []string `json:"removed_connections"`
	RevokedGrants      []string `json:"revoked_grants"`
	ProviderError      string   `json:"provider_error,omitempty"`
}

// KeyRotation reports POST /keys/rotate: every sealed value re-wrapped under
// the primary key.
type KeyRotation struct {
	PrimaryKeyID string `json:"primary_key_id"`
	Rewrapped    int    `json:"rewrapped"`
}
