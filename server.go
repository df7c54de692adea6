package mcpgate

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Server is an upstream MCP server reachable over Streamable HTTP.
// Secret values (header values, the OAuth client secret) are held sealed:
// the store never sees them in clear.
type Server struct {
	Name string
	URL  string
	// Headers are static headers added to every upstream request, values sealed.
	Headers []Header
	// OAuthClientID and OAuthClientSecret are an optional pre-registered
	// OAuth client for the upstream's authorization server; the secret is
	// sealed. When OAuthAuthMethod is private_key_jwt, OAuthClientSecret holds
	// the client's PEM private key (EC P-256 or RSA), sealed the same way.
	OAuthClientID     string
	OAuthClientSecret []byte
	// OAuthAuthMethod is how the pre-registered client authenticates at the
	// token endpoint: "" (chosen from the authorization server's metadata),
	// or one of the AuthMethod constants.
	OAuthAuthMethod string
	// OAuthScopes are the scopes to request when connecting; empty means
	// those the server or its authorization server advertise.
	OAuthScopes []string
	// Source says who manages the entry: "api" (CLI/admin API) or "config"
	// (declared in the configuration file and reconciled at start).
	Source    string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version increases on every update; stores use it for compare-and-swap.
	Version int64
}

// Header is one static upstream header; Value is sealed.
type Header struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// Token endpoint authentication methods (RFC 7591 section 2,
// token_endpoint_auth_method).
const (
	AuthMethodNone              = "none"
	AuthMethodClientSecretBasic = "client_secret_basic"
	AuthMethodClientSecretPost  = "client_secret_post"
	AuthMethodPrivateKeyJWT     = "private_key_jwt"
)

// Server sources.
const (
	SourceAPI    = "api"
	SourceConfig = "config"
)

var serverNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidateServerName reports whether name can appear as /mcp/<name>.
func ValidateServerName(name string) error {
	if !serverNameRE.MatchString(name) {
		return Invalidf("server name %q: use 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// ValidateServerURL checks that raw is an absolute http(s) URL without
// credentials or fragment.
func ValidateServerURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return Invalidf("server url %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Invalidf("server url %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return Invalidf("server url %q: missing host", raw)
	}
	if u.User != nil {
		return Invalidf("server url %q: credentials in the URL are not allowed; use a sealed header", raw)
	}
	if u.Fragment != "" {
		return Invalidf("server url %q: fragments are not allowed", raw)
	}
	return nil
}

// forbiddenHeaders may not be configured as static upstream headers: they are
// owned by HTTP itself or by the MCP transport.
var forbiddenHeaders = map[string]bool{
	"host": true, "content-length": true, "content-type": true, "connection": true,
	"transfer-encoding": true, "te": true, "upgrade": true, "accept": true,
	"mcp-session-id": true, "mcp-protocol-version": true, "mcp-method": true,
	"mcp-name": true, "last-event-id": true, "cookie": true,
}

// ValidateHeaderName checks a static header name.
func ValidateHeaderName(name string) error {
	if name == "" {
		return Invalidf("header name is empty")
	}
	for _, r := range name {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return Invalidf("header name %q contains an invalid character", name)
		}
	}
	l := strings.ToLower(name)
	if forbiddenHeaders[l] || strings.HasPrefix(l, "mcp-param-") {
		return Invalidf("header %q is managed by the gateway and cannot be set", name)
	}
	return nil
}

// Validate checks the parts of s a caller controls.
func (s Server) Validate() error {
	if err := ValidateServerName(s.Name); err != nil {
		return err
	}
	if err := ValidateServerURL(s.URL); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, h := range s.Headers {
		if err := ValidateHeaderName(h.Name); err != nil {
			return err
		}
		k := strings.ToLower(h.Name)
		if seen[k] {
			return Invalidf("header %q given twice", h.Name)
		}
		seen[k] = true
	}
	if err := s.validateOAuth(); err != nil {
		return err
	}
	if s.Source != SourceAPI && s.Source != SourceConfig {
		return fmt.Errorf("server %q: unknown source %q: %w", s.Name, s.Source, ErrInvalid)
	}
	return nil
}

// validateOAuth checks the pre-registered client settings hang together.
func (s Server) validateOAuth() error {
	hasSecret := len(s.OAuthClientSecret) > 0
	switch s.OAuthAuthMethod {
	case "":
	case AuthMethodNone:
		if hasSecret {
			return Invalidf("oauth auth method %q: a public client has no secret", s.OAuthAuthMethod)
		}
	case AuthMethodClientSecretBasic, AuthMethodClientSecretPost:
		if !hasSecret {
			return Invalidf("oauth auth method %q needs a client secret", s.OAuthAuthMethod)
		}
	case AuthMethodPrivateKeyJWT:
		if !hasSecret {
			return Invalidf("oauth auth method %q needs a private key", s.OAuthAuthMethod)
		}
	default:
		return Invalidf("oauth auth method %q: use none, client_secret_basic, client_secret_post or private_key_jwt", s.OAuthAuthMethod)
	}
	if s.OAuthAuthMethod != "" && s.OAuthClientID == "" {
		return Invalidf("oauth auth method %q needs an OAuth client id", s.OAuthAuthMethod)
	}
	for _, sc := range s.OAuthScopes {
		if err := validateScope(sc); err != nil {
			return err
		}
	}
	return nil
}

// validateScope checks one scope-token (RFC 6749 section 3.3): printable
// ASCII except space, '"' and '\'.
func validateScope(sc string) error {
	if sc == "" {
		return Invalidf("oauth scope is empty")
	}
	for _, r := range sc {
		if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
			return Invalidf("oauth scope %q: scopes are printable ASCII without spaces, quotes or backslashes", sc)
		}
	}
	return nil
}
