package oauthtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

// Token endpoint client authentication methods (RFC 7591 §2).
const (
	AuthMethodNone              = "none"
	AuthMethodClientSecretBasic = "client_secret_basic"
	AuthMethodClientSecretPost  = "client_secret_post"
	AuthMethodPrivateKeyJWT     = "private_key_jwt"
)

// Grant types the fake authorization server implements.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	// GrantJWTBearer is RFC 7523's assertion grant, offered when
	// AuthServerOptions.AssertionKeys is set.
	GrantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// DefaultScopes is what an AuthServer supports when AuthServerOptions.Scopes is empty.
var DefaultScopes = []string{"read", "write", "admin", "offline_access"}

// AuthServerOptions configures an [AuthServer]. The zero value is a strict,
// well-behaved OAuth 2.1 server with one-hour access tokens and rotating
// refresh tokens.
type AuthServerOptions struct {
	// IssuerPath gives the issuer a path ("/tenant1"): the issuer is URL()+IssuerPath,
	// endpoints live under it, and the RFC 8414 document is served at
	// /.well-known/oauth-authorization-server{IssuerPath}.
	IssuerPath string

	// AccessTTL is the access-token lifetime (default 1h). Use seconds-short values
	// to exercise refresh; note that golang.org/x/oauth2 treats tokens that expire
	// within 10s as already expired.
	AccessTTL time.Duration
	// RefreshTTL bounds a refresh token's lifetime (0 = no expiry).
	RefreshTTL time.Duration
	// OmitExpiresIn leaves expires_in out of token responses.
	OmitExpiresIn bool
	// NoRefreshTokens makes the server never issue refresh tokens.
	NoRefreshTokens bool
	// RefreshRequiresOfflineAccess issues refresh tokens only to grants that
	// include the offline_access scope (as many OIDC providers do).
	RefreshRequiresOfflineAccess bool
	// RefreshReuseInterval is a grace period: re-presenting an already rotated
	// refresh token within it returns the same successor tokens instead of
	// triggering reuse detection (like Okta's or Auth0's leeway). 0 = strict.
	RefreshReuseInterval time.Duration

	// RequireResource makes the RFC 8707 resource parameter mandatory on
	// authorize, code exchange, refresh and client_credentials (invalid_target).
	RequireResource bool

	// Scopes is scopes_supported (default [DefaultScopes]); requesting any
	// other scope fails with invalid_scope.
	Scopes []string
	// ScopesWhenOmitted are granted when a request carries no scope (default none).
	ScopesWhenOmitted []string

	// OmitPKCEMetadata leaves code_challenge_methods_supported out of the
	// metadata (an MCP client must then refuse the server). PKCE is still required.
	OmitPKCEMetadata bool
	// NoIssParameter omits the RFC 9207 iss parameter from authorization
	// responses and authorization_response_iss_parameter_supported from metadata.
	NoIssParameter bool
	// ClientIDMetadataDocuments enables client ID metadata documents (CIMD):
	// an http(s) URL client_id is fetched and used as the client's metadata.
	ClientIDMetadataDocuments bool
	// DisableRegistration turns off dynamic client registration (/register
	// answers 404 and the metadata has no registration_endpoint).
	DisableRegistration bool
	// OpenIDConfiguration also serves the metadata at
	// /.well-known/openid-configuration{path} and {path}/.well-known/openid-configuration.
	OpenIDConfiguration bool
	// NoOAuthMetadata stops serving the RFC 8414 document (combine with
	// OpenIDConfiguration to test the discovery fallback).
	NoOAuthMetadata bool
	// EditMetadata, if set, edits every metadata document before it is served
	// (e.g. a wrong issuer, missing endpoints).
	EditMetadata func(*oauthex.AuthServerMeta)

	// DenyAuthorization makes /authorize answer error=access_denied (see also
	// [AuthServer.SetDenyAuthorization]).
	DenyAuthorization bool
	// Subject is the user every authorization is approved as (default
	// "test-user"; see [AuthServer.SetSubject]).
	Subject string

	// AssertionKeys is the JWKS of a trusted assertion issuer (a workload
	// identity issuer, or an enterprise identity provider signing ID-JAGs):
	// with it the server takes the JWT-bearer grant for ES256 assertions
	// signed by those keys, naming the issuer or the token endpoint in aud,
	// unexpired. The assertion's sub is the grant's subject; no refresh
	// token is issued.
	AssertionKeys json.RawMessage

	// HTTPClient fetches client ID metadata documents and jwks_uri documents
	// (default: a client with a 5s timeout).
	HTTPClient *http.Client
}

// AuthServer is a fake OAuth 2.1 authorization server. All methods are safe
// for concurrent use.
type AuthServer struct {
	t      testing.TB
	srv    *httptest.Server
	opts   AuthServerOptions
	path   string
	issuer string
	client *http.Client
	done   <-chan struct{} // closed when the server shuts down

	mu          sync.Mutex
	clients     map[string]*registeredClient
	codes       map[string]*authCode
	tokens      map[string]*token
	families    map[string]*family
	familyOrder []*family
	jtis        map[string]time.Time
	stats       Stats
	seq         int
	subject     string
	deny        bool
	accessTTL   time.Duration
	failN       int
	failStatus  int
	failCode    string
	dropN       int
	latency     time.Duration
}

// NewAuthServer starts an AuthServer on a loopback httptest server that is
// closed on t.Cleanup.
func NewAuthServer(t testing.TB, opts AuthServerOptions) *AuthServer {
	t.Helper()
	a := &AuthServer{
		t:         t,
		opts:      opts,
		path:      cleanPath(opts.IssuerPath),
		clients:   map[string]*registeredClient{},
		codes:     map[string]*authCode{},
		tokens:    map[string]*token{},
		families:  map[string]*family{},
		jtis:      map[string]time.Time{},
		subject:   opts.Subject,
		deny:      opts.DenyAuthorization,
		accessTTL: opts.AccessTTL,
		client:    opts.HTTPClient,
	}
	if len(a.opts.Scopes) == 0 {
		a.opts.Scopes = DefaultScopes
	}
	if a.subject == "" {
		a.subject = "test-user"
	}
	if a.accessTTL <= 0 {
		a.accessTTL = time.Hour
	}
	if a.client == nil {
		a.client = &http.Client{Timeout: 5 * time.Second}
	}

	mux := http.NewServeMux()
	if !opts.NoOAuthMetadata {
		mux.HandleFunc("GET /.well-known/oauth-authorization-server"+a.path, a.handleMetadata)
	}
	if opts.OpenIDConfiguration {
		mux.HandleFunc("GET /.well-known/openid-configuration"+a.path, a.handleMetadata)
		if a.path != "" {
			mux.HandleFunc("GET "+a.path+"/.well-known/openid-configuration", a.handleMetadata)
		}
	}
	mux.HandleFunc("GET "+a.path+"/jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"keys": []any{}})
	})
	mux.HandleFunc(a.path+"/authorize", a.handleAuthorize)
	mux.HandleFunc("POST "+a.path+"/token", a.handleToken)
	mux.HandleFunc("POST "+a.path+"/revoke", a.handleRevoke)
	if !opts.DisableRegistration {
		mux.HandleFunc("POST "+a.path+"/register", a.handleRegister)
	}

	a.srv, a.done = startServer(t, func(base string) http.Handler {
		a.issuer = base + a.path
		return mux
	})
	return a
}

// startServer starts a loopback httptest server whose handler is built from
// its base URL (so handlers never race with the URL being set), whose request
// contexts are cancelled, and connections closed, on t.Cleanup (open streams
// cannot make Close hang). The returned channel is closed on shutdown.
func startServer(t testing.TB, build func(baseURL string) http.Handler) (*httptest.Server, <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = build("http://" + srv.Listener.Addr().String())
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	t.Cleanup(func() {
		cancel()
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv, ctx.Done()
}

func cleanPath(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return "/" + p
}

// URL is the server's base URL (scheme://host:port, no path).
func (a *AuthServer) URL() string { return a.srv.URL }

// Issuer is the issuer identifier: URL() plus the optional IssuerPath.
func (a *AuthServer) Issuer() string { return a.issuer }

// MetadataURL is where the RFC 8414 document is served.
func (a *AuthServer) MetadataURL() string {
	return a.srv.URL + "/.well-known/oauth-authorization-server" + a.path
}

// AuthorizationURL is the authorization endpoint.
func (a *AuthServer) AuthorizationURL() string { return a.issuer + "/authorize" }

// TokenURL is the token endpoint.
func (a *AuthServer) TokenURL() string { return a.issuer + "/token" }

// RegistrationURL is the dynamic client registration endpoint.
func (a *AuthServer) RegistrationURL() string { return a.issuer + "/register" }

// RevocationURL is the RFC 7009 revocation endpoint.
func (a *AuthServer) RevocationURL() string { return a.issuer + "/revoke" }

// Endpoint returns the endpoints for golang.org/x/oauth2 (auth style auto-detected).
func (a *AuthServer) Endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: a.AuthorizationURL(), TokenURL: a.TokenURL()}
}

// Metadata returns the RFC 8414 document as served (after EditMetadata).
func (a *AuthServer) Metadata() *oauthex.AuthServerMeta {
	methods := []string{AuthMethodNone, AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT}
	m := &oauthex.AuthServerMeta{
		Issuer:                            a.issuer,
		AuthorizationEndpoint:             a.AuthorizationURL(),
		TokenEndpoint:                     a.TokenURL(),
		JWKSURI:                           a.issuer + "/jwks",
		ScopesSupported:                   slices.Clone(a.opts.Scopes),
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials},
		TokenEndpointAuthMethodsSupported: methods,
		TokenEndpointAuthSigningAlgValuesSupported: []string{"ES256"},
		RevocationEndpoint:                         a.RevocationURL(),
		RevocationEndpointAuthMethodsSupported:     slices.Clone(methods),
		ClientIDMetadataDocumentSupported:          a.opts.ClientIDMetadataDocuments,
		AuthorizationResponseIssParameterSupported: !a.opts.NoIssParameter,
	}
	if len(a.opts.AssertionKeys) > 0 {
		m.GrantTypesSupported = append(m.GrantTypesSupported, GrantJWTBearer)
	}
	if !a.opts.DisableRegistration {
		m.RegistrationEndpoint = a.RegistrationURL()
	}
	if !a.opts.OmitPKCEMetadata {
		m.CodeChallengeMethodsSupported = []string{"S256"}
	}
	if a.opts.EditMetadata != nil {
		a.opts.EditMetadata(m)
	}
	return m
}

func (a *AuthServer) handleMetadata(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.stats.MetadataRequests++
	a.mu.Unlock()
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, a.Metadata())
}

func randomString(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
