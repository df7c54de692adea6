// Package config loads the gateway configuration from a YAML file, MCPGATE_*
// environment variables and flags, in that order of increasing precedence.
// Decoding is strict: an unknown key is an error that names it. Validate has
// no side effects; nothing here touches the network or the data directory.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole gateway configuration. Field comments are the reference
// documentation of each key.
type Config struct {
	// Addr is the listen address of the gateway (MCPGATE_ADDR, --addr).
	Addr string `yaml:"addr"`
	// PublicURL is the URL clients use to reach the gateway, e.g.
	// https://gw.example.com (MCPGATE_PUBLIC_URL). Defaults to http://<addr>.
	PublicURL string `yaml:"public_url"`
	// DataDir holds the SQLite database, the sealing key file and the
	// bootstrap admin token (MCPGATE_DATA_DIR, --data-dir).
	DataDir string `yaml:"data_dir"`
	// Store selects the storage backend.
	Store StoreConfig `yaml:"store"`
	// AdminToken is the admin API token (MCPGATE_ADMIN_TOKEN). When unset, a
	// token is generated on first start and written to <data_dir>/admin-token.
	AdminToken Secret `yaml:"admin_token"`
	// SealKey is the base64 master key that seals upstream secrets
	// (MCPGATE_SEAL_KEY). SealKeyFile names a file holding it instead
	// (MCPGATE_SEAL_KEY_FILE). With neither, <data_dir>/seal.key is used,
	// created on first start.
	SealKey     Secret `yaml:"seal_key"`
	SealKeyFile string `yaml:"seal_key_file"`
	// PolicyFile is a YAML file of per-tool and per-argument rules
	// (MCPGATE_POLICY_FILE). It is reloaded when it changes, on SIGHUP and on
	// "mcpgate policy reload". Empty: every call is allowed.
	PolicyFile string `yaml:"policy_file"`
	// Policy holds the rules inline instead (same format as a policy file);
	// inline rules change only with a restart.
	Policy yaml.Node `yaml:"policy"`
	// EgressAllow lists CIDRs the gateway may dial besides public addresses
	// (MCPGATE_EGRESS_ALLOW, comma separated). Private, loopback and
	// link-local ranges are refused by default.
	EgressAllow []string `yaml:"egress_allow"`
	// AllowedOrigins lists browser origins (scheme://host[:port]) allowed to
	// call /mcp besides the public URL's own origin.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// MaxBodyBytes limits a client request body (default 4 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// UpstreamTimeout bounds the wait for an upstream's response headers
	// (default 120s). Streams, once started, are not cut by it.
	UpstreamTimeout time.Duration `yaml:"upstream_timeout"`
	// ShutdownTimeout bounds the drain of in-flight requests and streams on
	// SIGTERM (default 15s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Log configures logging.
	Log LogConfig `yaml:"log"`
	// Audit configures the decision log.
	Audit AuditConfig `yaml:"audit"`
	// Servers are upstream servers managed declaratively; they are created or
	// updated at start and marked source=config.
	Servers []ServerConfig `yaml:"servers"`
	// IdentityProvider is the enterprise identity provider for
	// enterprise-managed authorization: "mcpgate connect --id-token-file"
	// exchanges a user's ID token there for an ID-JAG.
	IdentityProvider IdentityProviderConfig `yaml:"identity_provider"`
	// WorkloadIdentityTokenFile is where this gateway's workload identity
	// token is kept up to date by its platform (a Kubernetes projected
	// service account token, for example). "mcpgate connect --shared
	// --workload-identity" connections present the file's current token
	// with the JWT-bearer grant, read again for each new access token
	// (MCPGATE_WORKLOAD_IDENTITY_TOKEN_FILE).
	WorkloadIdentityTokenFile string `yaml:"workload_identity_token_file"`
}

// IdentityProviderConfig identifies the gateway at the enterprise identity
// provider.
type IdentityProviderConfig struct {
	// TokenEndpoint is the provider's token endpoint, where ID tokens are
	// exchanged (MCPGATE_IDP_TOKEN_ENDPOINT). Empty: not offered.
	TokenEndpoint string `yaml:"token_endpoint"`
	// ClientID is the gateway's client id there (MCPGATE_IDP_CLIENT_ID).
	ClientID string `yaml:"client_id"`
	// ClientSecret authenticates it (client_secret_basic); empty for a
	// public client (MCPGATE_IDP_CLIENT_SECRET).
	ClientSecret Secret `yaml:"client_secret"`
}

// StoreConfig selects the store.
type StoreConfig struct {
	// DSN is empty for the embedded SQLite database in the data dir, or a
	// postgres:// URL (MCPGATE_STORE_DSN).
	DSN Secret `yaml:"dsn"`
}

// LogConfig configures slog output.
type LogConfig struct {
	// Format is "text" (default) or "json" (MCPGATE_LOG_FORMAT).
	Format string `yaml:"format"`
	// Level is debug, info (default), warn or error (MCPGATE_LOG_LEVEL).
	Level string `yaml:"level"`
}

// ServerConfig declares one upstream server.
type ServerConfig struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Headers are static headers sent upstream; values are secrets.
	Headers map[string]Secret `yaml:"headers"`
	// OAuth is an optional pre-registered OAuth client.
	OAuth *OAuthClientConfig `yaml:"oauth"`
}

// OAuthClientConfig is a pre-registered OAuth client at the upstream's
// authorization server.
type OAuthClientConfig struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret Secret `yaml:"client_secret"`
	// AuthMethod is the token endpoint authentication method: none,
	// client_secret_basic, client_secret_post or private_key_jwt. Empty lets
	// the authorization server's metadata decide, or means private_key_jwt
	// when PrivateKey is set.
	AuthMethod string `yaml:"auth_method"`
	// Scopes are the scopes to request; empty means discover them.
	Scopes []string `yaml:"scopes"`
	// PrivateKey is a PEM private key (EC P-256 or RSA) for private_key_jwt,
	// used instead of ClientSecret; usually {file: /run/secrets/key.pem}.
	PrivateKey Secret `yaml:"private_key"`
}

// Defaults.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultDataDir         = "mcpgate-data"
	DefaultMaxBodyBytes    = 4 << 20
	DefaultUpstreamTimeout = 120 * time.Second
	DefaultShutdownTimeout = 15 * time.Second
)

// Default returns a configuration with every default filled in.
func Default() Config {
	return Config{
		Addr:            DefaultAddr,
		DataDir:         DefaultDataDir,
		MaxBodyBytes:    DefaultMaxBodyBytes,
		UpstreamTimeout: DefaultUpstreamTimeout,
		ShutdownTimeout: DefaultShutdownTimeout,
		Log:             LogConfig{Format: "text", Level: "info"},
		Audit:           AuditConfig{Retention: DefaultAuditRetention},
	}
}

// Decode reads YAML from r into c strictly: unknown keys and trailing
// documents are errors.
func (c *Config) Decode(r io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // comments only
		}
		return fmt.Errorf("config: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("config: only one YAML document is allowed")
	}
	return nil
}

// LoadFile decodes the file at path into c.
func (c *Config) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	if err := c.Decode(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ApplyEnv overrides c from MCPGATE_* variables found by getenv.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	set := func(key string, dst *string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	set("MCPGATE_ADDR", &c.Addr)
	set("MCPGATE_PUBLIC_URL", &c.PublicURL)
	set("MCPGATE_DATA_DIR", &c.DataDir)
	set("MCPGATE_SEAL_KEY_FILE", &c.SealKeyFile)
	set("MCPGATE_POLICY_FILE", &c.PolicyFile)
	set("MCPGATE_LOG_FORMAT", &c.Log.Format)
	set("MCPGATE_LOG_LEVEL", &c.Log.Level)
	set("MCPGATE_IDP_TOKEN_ENDPOINT", &c.IdentityProvider.TokenEndpoint)
	set("MCPGATE_IDP_CLIENT_ID", &c.IdentityProvider.ClientID)
	set("MCPGATE_WORKLOAD_IDENTITY_TOKEN_FILE", &c.WorkloadIdentityTokenFile)
	if v := getenv("MCPGATE_IDP_CLIENT_SECRET"); v != "" {
		c.IdentityProvider.ClientSecret = Secret{Value: v}
	}
	if v := getenv("MCPGATE_STORE_DSN"); v != "" {
		c.Store.DSN = Secret{Value: v}
	}
	if v := getenv("MCPGATE_ADMIN_TOKEN"); v != "" {
		c.AdminToken = Secret{Value: v}
	}
	if v := getenv("MCPGATE_SEAL_KEY"); v != "" {
		c.SealKey = Secret{Value: v}
	}
	if v := getenv("MCPGATE_EGRESS_ALLOW"); v != "" {
		c.EgressAllow = splitList(v)
	}
	if v := getenv("MCPGATE_ALLOWED_ORIGINS"); v != "" {
		c.AllowedOrigins = splitList(v)
	}
	if v := getenv("MCPGATE_MAX_BODY_BYTES"); v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("MCPGATE_MAX_BODY_BYTES=%q: not a number", v)
		}
		c.MaxBodyBytes = n
	}
	for key, dst := range map[string]*time.Duration{
		"MCPGATE_UPSTREAM_TIMEOUT": &c.UpstreamTimeout,
		"MCPGATE_SHUTDOWN_TIMEOUT": &c.ShutdownTimeout,
	} {
		if v := getenv(key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s=%q: %w", key, v, err)
			}
			*dst = d
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// EgressPrefixes parses EgressAllow.
func (c *Config) EgressPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.EgressAllow {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("egress_allow: %q is neither a CIDR nor an IP address", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Validate checks c without side effects. It fills PublicURL from Addr when empty.
func (c *Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("addr is empty"))
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("public_url %q must be an absolute http(s) URL", c.PublicURL))
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is empty"))
	}
	if dsn := c.Store.DSN.Value; dsn != "" && !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		errs = append(errs, errors.New("store.dsn must be empty (embedded SQLite) or a postgres:// URL"))
	}
	if c.PolicyFile != "" && !c.Policy.IsZero() {
		errs = append(errs, errors.New("set policy_file or an inline policy, not both"))
	}
	if c.SealKey.IsSet() && c.SealKeyFile != "" {
		errs = append(errs, errors.New("set seal_key or seal_key_file, not both"))
	}
	if _, err := c.EgressPrefixes(); err != nil {
		errs = append(errs, err)
	}
	for _, o := range c.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("allowed_origins: %q must look like https://host[:port]", o))
		}
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("max_body_bytes must be positive"))
	}
	if c.UpstreamTimeout <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("upstream_timeout and shutdown_timeout must be positive"))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format %q: use text or json", c.Log.Format))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: use debug, info, warn or error", c.Log.Level))
	}
	errs = append(errs, c.Audit.validate()...)
	if idp := c.IdentityProvider; idp.TokenEndpoint != "" || idp.ClientID != "" || idp.ClientSecret.IsSet() {
		if u, err := url.Parse(idp.TokenEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("identity_provider.token_endpoint %q must be an absolute http(s) URL", idp.TokenEndpoint))
		}
		if idp.ClientID == "" {
			errs = append(errs, errors.New("identity_provider.client_id is required"))
		}
	}
	if f := c.WorkloadIdentityTokenFile; f != "" && !filepath.IsAbs(f) {
		errs = append(errs, fmt.Errorf("workload_identity_token_file %q must be an absolute path", f))
	}
	seen := map[string]bool{}
	for i, s := range c.Servers {
		if s.Name == "" || s.URL == "" {
			errs = append(errs, fmt.Errorf("servers[%d]: name and url are required", i))
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("servers[%d]: duplicate server name %q", i, s.Name))
		}
		seen[s.Name] = true
		if o := s.OAuth; o != nil && o.ClientSecret.IsSet() && o.PrivateKey.IsSet() {
			errs = append(errs, fmt.Errorf("servers[%d].oauth: set client_secret or private_key, not both", i))
		}
	}
	return errors.Join(errs...)
}
