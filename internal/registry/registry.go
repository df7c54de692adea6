// Package registry manages the upstream servers: it seals their secrets on
// the way into the store and keeps an immutable in-memory snapshot of the
// routable servers (URL parsed, headers unsealed) that the proxy reads on
// every request without locking or touching the store.
package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Sealer seals and opens secrets; aad binds a sealed value to its record.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Upstream is a routable server as the proxy needs it.
type Upstream struct {
	Name    string
	URL     *url.URL
	Headers http.Header // unsealed static headers
}

// Registry manages servers.
type Registry struct {
	store  mcpgate.Store
	sealer Sealer
	now    func() time.Time

	reloadMu sync.Mutex
	snap     atomic.Pointer[map[string]*Upstream]
}

// New returns a Registry with an empty snapshot; call Reload to fill it.
func New(store mcpgate.Store, sealer Sealer, now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	r := &Registry{store: store, sealer: sealer, now: now}
	r.snap.Store(&map[string]*Upstream{})
	return r
}

// Lookup returns the routable server named name, or nil.
func (r *Registry) Lookup(name string) *Upstream {
	return (*r.snap.Load())[name]
}

// Input describes a server to add or declare. Secret values are in clear here
// and sealed before storing.
type Input struct {
	Name              string
	URL               string
	Headers           map[string]string
	OAuthClientID     string
	OAuthClientSecret string
	// OAuthAuthMethod is the pre-registered client's token endpoint
	// authentication method; "" lets the authorization server's metadata
	// decide, or means private_key_jwt when OAuthPrivateKey is given.
	OAuthAuthMethod string
	// OAuthScopes are the scopes to request; empty means discover them.
	OAuthScopes []string
	// OAuthPrivateKey is a PEM private key (EC P-256 or RSA) for
	// private_key_jwt, sealed into Server.OAuthClientSecret. It excludes
	// OAuthClientSecret.
	OAuthPrivateKey string
	Source          string
}

func headerAAD(server, header string) []byte {
	return []byte("server/" + server + "/header/" + strings.ToLower(header))
}

func clientSecretAAD(server string) []byte {
	return []byte("server/" + server + "/oauth_client_secret")
}

func (r *Registry) build(in Input) (mcpgate.Server, error) {
	if in.Source == "" {
		in.Source = mcpgate.SourceAPI
	}
	s := mcpgate.Server{
		Name:            in.Name,
		URL:             in.URL,
		OAuthClientID:   in.OAuthClientID,
		OAuthAuthMethod: in.OAuthAuthMethod,
		OAuthScopes:     slices.Clone(in.OAuthScopes),
		Source:          in.Source,
	}
	for _, name := range slices.Sorted(maps.Keys(in.Headers)) {
		if err := mcpgate.ValidateHeaderName(name); err != nil {
			return s, err
		}
		v := in.Headers[name]
		if strings.ContainsAny(v, "\r\n\x00") {
			return s, mcpgate.Invalidf("header %q: value contains a control character", name)
		}
		sealed, err := r.sealer.Seal([]byte(v), headerAAD(in.Name, name))
		if err != nil {
			return s, fmt.Errorf("seal header %q: %w", name, err)
		}
		s.Headers = append(s.Headers, mcpgate.Header{Name: http.CanonicalHeaderKey(name), Value: sealed})
	}
	secret, err := clientSecret(&s, in)
	if err != nil {
		return s, err
	}
	if secret != "" {
		sealed, err := r.sealer.Seal([]byte(secret), clientSecretAAD(in.Name))
		if err != nil {
			return s, fmt.Errorf("seal client secret: %w", err)
		}
		s.OAuthClientSecret = sealed
	}
	return s, s.Validate()
}

// Add creates a server (ErrConflict if the name is taken).
func (r *Registry) Add(ctx context.Context, in Input) (mcpgate.Server, error) {
	s, err := r.build(in)
	if err != nil {
		return mcpgate.Server{}, err
	}
	now := r.now().UTC().Truncate(time.Millisecond)
	s.CreatedAt, s.UpdatedAt, s.Version = now, now, 1
	if err := r.store.CreateServer(ctx, s); err != nil {
		if errors.Is(err, mcpgate.ErrConflict) {
			return mcpgate.Server{}, mcpgate.Errorf(mcpgate.ErrConflict, "server %q already exists", s.Name)
		}
		return mcpgate.Server{}, err
	}
	return s, r.Reload(ctx)
}

// Get returns the stored server.
func (r *Registry) Get(ctx context.Context, name string) (mcpgate.Server, error) {
	s, err := r.store.GetServer(ctx, name)
	return s, notFound(name, err)
}

func notFound(name string, err error) error {
	if errors.Is(err, mcpgate.ErrNotFound) {
		return mcpgate.Errorf(mcpgate.ErrNotFound, "server %q does not exist", name)
	}
	return err
}

// List returns the stored servers ordered by name.
func (r *Registry) List(ctx context.Context) ([]mcpgate.Server, error) {
	return r.store.ListServers(ctx)
}

// Remove deletes a server and its session bindings.
func (r *Registry) Remove(ctx context.Context, name string) error {
	if err := r.store.DeleteServer(ctx, name); err != nil {
		return notFound(name, err)
	}
	return r.Reload(ctx)
}

// Declare makes the store match the servers declared in the configuration:
// each is created or replaced, and config-sourced servers no longer declared
// are removed. Servers added through the API are left alone, but a declared
// name that an API server already uses is an error.
func (r *Registry) Declare(ctx context.Context, declared []Input) error {
	want := map[string]bool{}
	for _, in := range declared {
		in.Source = mcpgate.SourceConfig
		want[in.Name] = true
		s, err := r.build(in)
		if err != nil {
			return fmt.Errorf("server %q: %w", in.Name, err)
		}
		if err := r.declareOne(ctx, s); err != nil {
			return err
		}
	}
	all, err := r.store.ListServers(ctx)
	if err != nil {
		return err
	}
	for _, s := range all {
		if s.Source == mcpgate.SourceConfig && !want[s.Name] {
			if err := r.store.DeleteServer(ctx, s.Name); err != nil && !errors.Is(err, mcpgate.ErrNotFound) {
				return fmt.Errorf("remove undeclared server %q: %w", s.Name, err)
			}
		}
	}
	return r.Reload(ctx)
}

// maxDeclareAttempts bounds declareOne's retries. Each lost race means
// another declarer's write went through, and each declarer writes once, so
// a declarer loses at most once per other replica starting with it.
const maxDeclareAttempts = 64

// declareOne creates or replaces one declared server. Replicas starting
// together declare the same servers at once: a lost race (the row appeared,
// or its version moved) is retried against what the winner stored, and a
// row that already holds the declaration is left as it is.
func (r *Registry) declareOne(ctx context.Context, s mcpgate.Server) error {
	var err error
	for range maxDeclareAttempts {
		var old mcpgate.Server
		old, err = r.store.GetServer(ctx, s.Name)
		now := r.now().UTC().Truncate(time.Millisecond)
		switch {
		case errors.Is(err, mcpgate.ErrNotFound):
			s.CreatedAt, s.UpdatedAt, s.Version = now, now, 1
			err = r.store.CreateServer(ctx, s)
		case err != nil:
			return fmt.Errorf("server %q: %w", s.Name, err)
		case old.Source != mcpgate.SourceConfig:
			return fmt.Errorf("server %q is declared in the config but was added through the API; remove one of them: %w", s.Name, mcpgate.ErrConflict)
		case r.sameDeclaration(old, s):
			return nil
		default:
			s.CreatedAt, s.UpdatedAt, s.Version = old.CreatedAt, now, old.Version
			_, err = r.store.UpdateServer(ctx, s)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, mcpgate.ErrConflict) {
			return fmt.Errorf("server %q: %w", s.Name, err)
		}
	}
	return fmt.Errorf("server %q: %w", s.Name, err)
}

// sameDeclaration reports whether stored holds what s declares. Sealed
// values differ with every seal, so they are compared opened.
func (r *Registry) sameDeclaration(stored, s mcpgate.Server) bool {
	if stored.URL != s.URL || stored.OAuthClientID != s.OAuthClientID || stored.OAuthAuthMethod != s.OAuthAuthMethod ||
		!slices.Equal(stored.OAuthScopes, s.OAuthScopes) || len(stored.Headers) != len(s.Headers) ||
		(len(stored.OAuthClientSecret) == 0) != (len(s.OAuthClientSecret) == 0) {
		return false
	}
	same := func(a, b []byte, aad []byte) bool {
		x, err1 := r.sealer.Open(a, aad)
		y, err2 := r.sealer.Open(b, aad)
		return err1 == nil && err2 == nil && string(x) == string(y)
	}
	for i, h := range stored.Headers {
		if h.Name != s.Headers[i].Name || !same(h.Value, s.Headers[i].Value, headerAAD(s.Name, h.Name)) {
			return false
		}
	}
	return len(s.OAuthClientSecret) == 0 || same(stored.OAuthClientSecret, s.OAuthClientSecret, clientSecretAAD(s.Name))
}

// Reload rebuilds the routing snapshot from the store.
func (r *Registry) Reload(ctx context.Context) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	all, err := r.store.ListServers(ctx)
	if err != nil {
		return fmt.Errorf("load servers: %w", err)
	}
	next := make(map[string]*Upstream, len(all))
	for _, s := range all {
		up, err := r.upstream(s)
		if err != nil {
			return err
		}
		next[s.Name] = up
	}
	r.snap.Store(&next)
	return nil
}

func (r *Registry) upstream(s mcpgate.Server) (*Upstream, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", s.Name, err)
	}
	h := http.Header{}
	for _, hd := range s.Headers {
		v, err := r.sealer.Open(hd.Value, headerAAD(s.Name, hd.Name))
		if err != nil {
			return nil, fmt.Errorf("server %q: open header %q: %w", s.Name, hd.Name, err)
		}
		h.Set(hd.Name, string(v))
	}
	return &Upstream{Name: s.Name, URL: u, Headers: h}, nil
}

// OAuthClient is a server's pre-registered OAuth client settings, secret in
// clear.
type OAuthClient struct {
	ID string
	// Secret is the client secret, or the PEM private key when AuthMethod is
	// private_key_jwt; empty for none.
	Secret     string
	AuthMethod string
	Scopes     []string
}

// OAuthClient returns the server's pre-registered OAuth client settings;
// they are zero when none is configured.
func (r *Registry) OAuthClient(ctx context.Context, name string) (OAuthClient, error) {
	s, err := r.store.GetServer(ctx, name)
	if err != nil {
		return OAuthClient{}, notFound(name, err)
	}
	c := OAuthClient{ID: s.OAuthClientID, AuthMethod: s.OAuthAuthMethod, Scopes: s.OAuthScopes}
	if len(s.OAuthClientSecret) > 0 {
		b, err := r.sealer.Open(s.OAuthClientSecret, clientSecretAAD(name))
		if err != nil {
			return OAuthClient{}, fmt.Errorf("server %q: open client secret: %w", name, err)
		}
		c.Secret = string(b)
	}
	return c, nil
}
