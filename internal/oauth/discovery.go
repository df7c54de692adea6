package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// discovery is what the gateway learns about an upstream before it can
// authorize: the resource to ask tokens for, its authorization server and the
// scopes to request.
type discovery struct {
	Resource string
	AS       *oauthex.AuthServerMeta
	// Scopes from the 401 challenge, else the resource metadata.
	Scopes []string
	// Legacy is true when the server published no resource metadata and the
	// 2025-03-26 fallback (server origin as authorization server) was used.
	Legacy bool
}

// ErrDiscovery wraps every discovery failure.
var ErrDiscovery = errors.New("oauth discovery failed")

// discover probes serverURL without credentials and follows REFERENCE §2:
// resource_metadata from the 401 challenge, else the path-inserted and root
// well-known URLs; then the authorization server metadata (OAuth, then OIDC),
// whose issuer must be the one named; else the 2025-03-26 fallback.
func (m *Manager) discover(ctx context.Context, serverURL string) (*discovery, error) {
	return m.discoverWith(ctx, serverURL, nil)
}

// discoverWith is discover starting from challenges the server answered a
// real call with; without a bearer challenge among them it probes.
func (m *Manager) discoverWith(ctx context.Context, serverURL string, challenges []oauthex.Challenge) (*discovery, error) {
	if !hasBearer(challenges) {
		challenges = m.probe(ctx, serverURL)
	}
	prm := m.protectedResource(ctx, serverURL, challenges)
	d := &discovery{Resource: serverURL}
	var issuer string
	if prm != nil {
		if len(prm.AuthorizationServers) == 0 {
			return nil, fmt.Errorf("%w: the protected resource metadata names no authorization server", ErrDiscovery)
		}
		d.Resource = prm.Resource
		issuer = prm.AuthorizationServers[0]
		d.Scopes = prm.ScopesSupported
	} else {
		u, err := url.Parse(serverURL)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDiscovery, err)
		}
		issuer = u.Scheme + "://" + u.Host
		d.Legacy = true
	}
	if s := challengeParam(challenges, "scope"); s != "" {
		d.Scopes = strings.Fields(s)
	}
	asm, err := m.authServer(ctx, issuer)
	if err != nil {
		return nil, err
	}
	if asm == nil {
		asm = legacyMeta(issuer)
	}
	if !slices.Contains(asm.CodeChallengeMethodsSupported, "S256") {
		return nil, fmt.Errorf("%w: authorization server %s does not advertise PKCE S256 (code_challenge_methods_supported); refusing to authorize without PKCE", ErrDiscovery, asm.Issuer)
	}
	d.AS = asm
	return d, nil
}

// probe sends an unauthenticated initialize and returns the challenges of a
// 401 answer, if any.
func (m *Manager) probe(ctx context.Context, serverURL string) []oauthex.Challenge {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	body := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcpgate","version":"1"}}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, serverURL, bytes.NewBufferString(body))
	if err != nil {
		return nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := m.cfg.HTTPClient.Do(req)
	if err != nil {
		m.log.Debug("oauth discovery probe failed", "url", serverURL, "err", err)
		return nil
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		return nil
	}
	cs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		return nil
	}
	return cs
}

func challengeParam(cs []oauthex.Challenge, name string) string {
	for _, c := range cs {
		// A DPoP challenge (RFC 9449 §7.1) carries the same parameters.
		if (c.Scheme == "bearer" || c.Scheme == "dpop") && c.Params[name] != "" {
			return c.Params[name]
		}
	}
	return ""
}

// protectedResource fetches RFC 9728 metadata; the SDK checks that its
// resource matches the URL it was fetched for.
func (m *Manager) protectedResource(ctx context.Context, serverURL string, cs []oauthex.Challenge) *oauthex.ProtectedResourceMetadata {
	type candidate struct{ metadata, resource string }
	var cands []candidate
	if u := challengeParam(cs, "resource_metadata"); u != "" {
		cands = append(cands, candidate{u, serverURL})
	}
	if u, err := url.Parse(serverURL); err == nil {
		path := strings.TrimLeft(u.Path, "/")
		inserted := *u
		inserted.Path, inserted.RawQuery = "/.well-known/oauth-protected-resource/"+path, ""
		if path != "" {
			cands = append(cands, candidate{inserted.String(), serverURL})
		}
		root := *u
		root.Path, root.RawQuery = "/.well-known/oauth-protected-resource", ""
		origin := u.Scheme + "://" + u.Host
		cands = append(cands, candidate{root.String(), serverURL}, candidate{root.String(), origin})
	}
	for _, c := range cands {
		prm, err := oauthex.GetProtectedResourceMetadata(ctx, c.metadata, c.resource, m.cfg.HTTPClient)
		if err == nil && prm != nil {
			return prm
		}
		m.log.Debug("protected resource metadata not usable", "url", c.metadata, "err", err)
	}
	return nil
}

type asCacheEntry struct {
	meta *oauthex.AuthServerMeta
	at   time.Time
	// dpopAlgs is the metadata's dpop_signing_alg_values_supported, which
	// oauthex.AuthServerMeta does not carry.
	dpopAlgs []string
}

// authServer fetches (and caches for 5 minutes) authorization server
// metadata; nil, nil means no metadata document exists.
func (m *Manager) authServer(ctx context.Context, issuer string) (*oauthex.AuthServerMeta, error) {
	m.asCacheMu.Lock()
	e, ok := m.asCache[issuer]
	m.asCacheMu.Unlock()
	if ok && m.now().Sub(e.at) < 5*time.Minute {
		return e.meta, nil
	}
	// The document is also read for dpop_signing_alg_values_supported.
	capture := &lastJSON{next: m.cfg.HTTPClient.Transport}
	hc := *m.cfg.HTTPClient
	hc.Transport = capture
	asm, err := auth.GetAuthServerMetadata(ctx, issuer, &hc)
	if err != nil {
		return nil, fmt.Errorf("%w: authorization server metadata for %s: %v", ErrDiscovery, issuer, err)
	}
	if asm != nil && asm.Issuer != issuer {
		return nil, fmt.Errorf("%w: authorization server metadata names issuer %q, want %q", ErrDiscovery, asm.Issuer, issuer)
	}
	var dpop struct {
		Algs []string `json:"dpop_signing_alg_values_supported"`
	}
	if asm != nil {
		json.Unmarshal(capture.body, &dpop)
	}
	m.asCacheMu.Lock()
	m.asCache[issuer] = asCacheEntry{meta: asm, at: m.now(), dpopAlgs: dpop.Algs}
	m.asCacheMu.Unlock()
	return asm, nil
}

type asMeta = oauthex.AuthServerMeta

// lastJSON keeps the body of the last successful response that passed
// through it (the metadata document GetAuthServerMetadata settled on).
type lastJSON struct {
	next http.RoundTripper
	body []byte
}

func (l *lastJSON) RoundTrip(r *http.Request) (*http.Response, error) {
	next := l.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	l.body = body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// legacyMeta is the 2025-03-26 fallback for an authorization server without
// metadata: default endpoints on the issuer.
func legacyMeta(issuer string) *asMeta {
	return &asMeta{
		Issuer:                        issuer,
		AuthorizationEndpoint:         issuer + "/authorize",
		TokenEndpoint:                 issuer + "/token",
		RegistrationEndpoint:          issuer + "/register",
		CodeChallengeMethodsSupported: []string{"S256"},
	}
}
