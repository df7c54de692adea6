// Package oauth is the gateway's OAuth 2.1 client toward upstream MCP
// servers. It runs the authorization flow once, centrally (discovery,
// client registration, PKCE, resource indicators, RFC 9207 issuer checks),
// keeps the resulting tokens sealed in the store, and hands the proxy a fresh
// access token for every call: refreshed ahead of expiry, single-flight per
// connection inside a process and leased by compare-and-swap across
// processes, so that exactly one refresh happens per token generation.
package oauth

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Store is what the manager needs from the store.
type Store interface {
	mcpgate.OAuthStore
	GetServer(ctx context.Context, name string) (mcpgate.Server, error)
	GetMeta(ctx context.Context, key string) (string, error)
	PutMetaIfAbsent(ctx context.Context, key, value string) (string, error)
}

// Sealer seals and opens secrets bound to their record.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// ServerCredentials returns a server's pre-registered OAuth client, if any.
type ServerCredentials interface {
	OAuthClient(ctx context.Context, server string) (PreRegistered, error)
}

// PreRegistered is an OAuth client configured by an administrator.
type PreRegistered struct {
	ClientID string
	// Secret is a client secret, or a PEM private key when AuthMethod is
	// private_key_jwt.
	Secret     string
	AuthMethod string // "" (detect), client_secret_basic, client_secret_post, private_key_jwt, none
	Scopes     []string
}

// Config configures a Manager.
type Config struct {
	Store       Store
	Sealer      Sealer
	Credentials ServerCredentials
	// HTTPClient makes every outbound OAuth request (discovery, registration,
	// token, revocation); it must refuse addresses that are not allowed.
	HTTPClient *http.Client
	// PublicURL is the gateway's external URL: the callback is
	// PublicURL/oauth/callback, the client metadata document
	// PublicURL/oauth/client-metadata.json.
	PublicURL string
	// RefreshAt is the fraction of a token's lifetime after which it is
	// refreshed ahead of expiry (default 0.75, with ±5% jitter).
	RefreshAt float64
	// LeaseDuration is how long a refresh lease lasts unless renewed
	// (default 6s). Its holder renews it every LeaseDuration/3 while the
	// token request runs, so a holder that dies (kill -9) keeps the others
	// from refreshing that connection for at most LeaseDuration.
	LeaseDuration time.Duration
	// ProcessID names this process in refresh leases.
	ProcessID string
	// LinkKey signs connect links (32 random bytes shared by all processes).
	LinkKey []byte
	// IdentityProvider is the enterprise identity provider for
	// enterprise-managed authorization (nil: not offered).
	IdentityProvider *IdentityProvider
	// WorkloadIdentityTokenFile holds this gateway's workload identity
	// token, kept current by its platform; workload_identity connections
	// read it again for each new access token.
	WorkloadIdentityTokenFile string
	Logger                    *slog.Logger
	Now                       func() time.Time
}

// Manager runs authorizations and keeps connections' tokens fresh.
type Manager struct {
	cfg Config
	now func() time.Time
	log *slog.Logger

	mu        sync.Mutex
	entries   map[connKey]*entry
	issuerSem map[string]chan struct{}

	asCacheMu sync.Mutex
	asCache   map[string]asCacheEntry

	// challenges are the upstreams' recent 401 challenges (see Challenged).
	challengesMu sync.Mutex
	challenges   map[connKey]recordedChallenge

	dpop dpopState // DPoP key and nonces (see dpop.go)
}

type connKey struct{ server, user string }

// New returns a Manager.
func New(cfg Config) *Manager {
	if cfg.RefreshAt <= 0 || cfg.RefreshAt >= 1 {
		cfg.RefreshAt = 0.75
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = 6 * time.Second
	}
	if cfg.ProcessID == "" {
		cfg.ProcessID = mcpgate.NewID("proc_")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Manager{
		cfg: cfg, now: cfg.Now, log: cfg.Logger,
		entries: map[connKey]*entry{}, asCache: map[string]asCacheEntry{},
	}
}

// CallbackURL is the redirect URI registered with authorization servers.
func (m *Manager) CallbackURL() string { return m.cfg.PublicURL + "/oauth/callback" }

// ClientMetadataURL is the gateway's Client ID Metadata Document URL.
func (m *Manager) ClientMetadataURL() string {
	return m.cfg.PublicURL + "/oauth/client-metadata.json"
}

func accessAAD(c mcpgate.Connection) []byte {
	return []byte("connection/" + c.ID + "/" + c.Server + "/" + c.User + "/access_token")
}

func refreshAAD(c mcpgate.Connection) []byte {
	return []byte("connection/" + c.ID + "/" + c.Server + "/" + c.User + "/refresh_token")
}

func grantCredentialAAD(c mcpgate.Connection) []byte {
	return []byte("connection/" + c.ID + "/" + c.Server + "/" + c.User + "/grant_credential")
}

func clientSecretAAD(issuer string) []byte { return []byte("oauth_client/" + issuer + "/secret") }

func verifierAAD(stateHash string) []byte { return []byte("auth_request/" + stateHash + "/verifier") }
