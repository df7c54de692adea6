package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcpgate/mcpgate"
)

// AuthRequestTTL bounds how long an authorization may take.
const AuthRequestTTL = 10 * time.Minute

// Started is an authorization waiting for the user.
type Started struct {
	AuthorizationURL string
	ExpiresAt        time.Time
}

// Start begins the authorization of user ("" for the shared connection) at
// server and returns the URL the user must open.
func (m *Manager) Start(ctx context.Context, server, user string) (Started, error) {
	srv, err := m.cfg.Store.GetServer(ctx, server)
	if err != nil {
		return Started{}, notFoundServer(server, err)
	}
	// Discovery starts from the challenge of the call the user made, if the
	// proxy saw one (see Challenged), else from a probe.
	d, err := m.discoverWith(ctx, srv.URL, m.recentChallenge(server, user))
	if err != nil {
		return Started{}, err
	}
	c, err := m.clientFor(ctx, server, d.AS)
	if err != nil {
		return Started{}, err
	}
	scopes := m.scopesFor(ctx, server, user, d)

	var raw [32]byte
	rand.Read(raw[:])
	state := base64.RawURLEncoding.EncodeToString(raw[:])
	verifier := oauth2.GenerateVerifier()
	now := m.now().UTC()
	req := mcpgate.AuthRequest{
		StateHash: hashState(state), Server: server, User: user,
		Issuer: d.AS.Issuer, ClientID: c.ID, RedirectURI: m.CallbackURL(),
		Resource: d.Resource, Scopes: scopes,
		CreatedAt: now, ExpiresAt: now.Add(AuthRequestTTL),
	}
	if req.CodeVerifier, err = m.cfg.Sealer.Seal([]byte(verifier), verifierAAD(req.StateHash)); err != nil {
		return Started{}, err
	}
	if err := m.cfg.Store.CreateAuthRequest(ctx, req); err != nil {
		return Started{}, fmt.Errorf("record authorization request: %w", err)
	}
	cfg := oauth2.Config{
		ClientID:    c.ID,
		Endpoint:    oauth2.Endpoint{AuthURL: d.AS.AuthorizationEndpoint},
		RedirectURL: m.CallbackURL(),
		Scopes:      scopes,
	}
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", d.Resource))
	return Started{AuthorizationURL: authURL, ExpiresAt: req.ExpiresAt}, nil
}

// scopesFor is the challenge's or metadata's scopes, united with what an
// existing connection holds or needs for step-up, plus offline_access when
// the authorization server advertises it.
func (m *Manager) scopesFor(ctx context.Context, server, user string, d *discovery) []string {
	scopes := slices.Clone(d.Scopes)
	if pre, err := m.preRegistered(ctx, server); err == nil && len(pre.Scopes) > 0 {
		scopes = slices.Clone(pre.Scopes)
	}
	if old, err := m.cfg.Store.FindConnection(ctx, server, user); err == nil {
		scopes = union(scopes, old.Scopes, old.StepUpScopes)
	}
	if slices.Contains(d.AS.ScopesSupported, "offline_access") {
		scopes = union(scopes, []string{"offline_access"})
	}
	return scopes
}

func (m *Manager) preRegistered(ctx context.Context, server string) (PreRegistered, error) {
	if m.cfg.Credentials == nil {
		return PreRegistered{}, nil
	}
	return m.cfg.Credentials.OAuthClient(ctx, server)
}

func union(sets ...[]string) []string {
	var out []string
	for _, set := range sets {
		for _, s := range set {
			if s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func hashState(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// Callback errors; their text is shown to the user on the callback page.
var (
	ErrUnknownState = errors.New("this authorization link is unknown or was already used; start again with mcpgate connect")
	ErrStateExpired = errors.New("this authorization took longer than 10 minutes and expired; start again with mcpgate connect")
	ErrIssuer       = errors.New("the authorization response came from an unexpected issuer (RFC 9207); refusing it")
	ErrDenied       = errors.New("the authorization server refused the authorization")
)

// Complete finishes an authorization from the callback's query and stores the
// connection.
func (m *Manager) Complete(ctx context.Context, q url.Values) (mcpgate.Connection, error) {
	state := q.Get("state")
	if state == "" {
		return mcpgate.Connection{}, ErrUnknownState
	}
	req, err := m.cfg.Store.TakeAuthRequest(ctx, hashState(state))
	if errors.Is(err, mcpgate.ErrNotFound) {
		return mcpgate.Connection{}, ErrUnknownState
	}
	if err != nil {
		return mcpgate.Connection{}, err
	}
	if !m.now().Before(req.ExpiresAt) {
		return mcpgate.Connection{}, ErrStateExpired
	}
	if e := q.Get("error"); e != "" {
		desc := truncate(q.Get("error_description"), 200)
		return mcpgate.Connection{}, fmt.Errorf("%w: %s %s", ErrDenied, truncate(e, 60), desc)
	}
	asm, err := m.authServerOrDefaults(ctx, req.Issuer)
	if err != nil {
		return mcpgate.Connection{}, err
	}
	// RFC 9207: compare exactly, no normalisation.
	if iss, ok := q["iss"]; ok {
		if len(iss) != 1 || iss[0] != req.Issuer {
			return mcpgate.Connection{}, ErrIssuer
		}
	} else if asm.AuthorizationResponseIssParameterSupported {
		return mcpgate.Connection{}, fmt.Errorf("%w: the server promises an iss parameter and sent none", ErrIssuer)
	}
	code := q.Get("code")
	if code == "" {
		return mcpgate.Connection{}, fmt.Errorf("%w: the callback carries no code", ErrDenied)
	}
	verifier, err := m.cfg.Sealer.Open(req.CodeVerifier, verifierAAD(req.StateHash))
	if err != nil {
		return mcpgate.Connection{}, fmt.Errorf("open PKCE verifier: %w", err)
	}
	c, err := m.clientFor(ctx, req.Server, asm)
	if err != nil {
		return mcpgate.Connection{}, err
	}
	if c.ID != req.ClientID {
		return mcpgate.Connection{}, fmt.Errorf("%w: the OAuth client changed during the authorization; start again", ErrRegistration)
	}
	tok, err := m.requestToken(ctx, asm.TokenEndpoint, c, asm.Issuer, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {req.RedirectURI},
		"code_verifier": {string(verifier)},
		"resource":      {req.Resource},
	})
	if err != nil {
		return mcpgate.Connection{}, fmt.Errorf("exchange the authorization code: %w", err)
	}
	scopes := tok.Scopes
	if len(scopes) == 0 {
		scopes = req.Scopes
	}
	return m.saveConnection(ctx, "", mcpgate.Connection{
		Server: req.Server, User: req.User, Issuer: req.Issuer, ClientID: c.ID,
		GrantType: "authorization_code", Resource: req.Resource, Scopes: scopes,
	}, tok)
}

func (m *Manager) authServerOrDefaults(ctx context.Context, issuer string) (*asMeta, error) {
	asm, err := m.authServer(ctx, issuer)
	if err != nil {
		return nil, err
	}
	if asm == nil {
		asm = legacyMeta(issuer)
	}
	return asm, nil
}

// saveConnection creates or replaces the connection of (server, user) with
// fresh tokens: a new authorization starts a new token family.
// saveConnection stores c with the tokens of tok as the (server, user)
// connection, replacing any there; credential, when not empty, is sealed as
// c's GrantCredential.
func (m *Manager) saveConnection(ctx context.Context, credential string, c mcpgate.Connection, tok token) (mcpgate.Connection, error) {
	now := m.now().UTC()
	for {
		old, err := m.cfg.Store.FindConnection(ctx, c.Server, c.User)
		exists := err == nil
		if err != nil && !errors.Is(err, mcpgate.ErrNotFound) {
			return mcpgate.Connection{}, err
		}
		next := c
		next.ID, next.CreatedAt, next.Generation = mcpgate.NewID("conn_"), now, 1
		if exists {
			next.ID, next.CreatedAt, next.Version = old.ID, old.CreatedAt, old.Version
			next.Generation = old.Generation + 1
			next.LastUsedAt = old.LastUsedAt
		}
		next.State, next.UpdatedAt, next.IssuedAt, next.LastRefreshAt = mcpgate.StateConnected, now, now, time.Time{}
		next.ExpiresAt, next.TokenType = tok.ExpiresAt, tok.Type
		if err := m.sealTokens(&next, tok); err != nil {
			return mcpgate.Connection{}, err
		}
		if credential != "" {
			if next.GrantCredential, err = m.cfg.Sealer.Seal([]byte(credential), grantCredentialAAD(next)); err != nil {
				return mcpgate.Connection{}, err
			}
		}
		next.RefreshDueAt = m.refreshPoint(next)
		if exists {
			next, err = m.cfg.Store.UpdateConnection(ctx, next)
		} else {
			err = m.cfg.Store.CreateConnection(ctx, next)
			next.Version = 1
		}
		if errors.Is(err, mcpgate.ErrConflict) {
			continue // raced with a refresh or another callback; re-read
		}
		if err != nil {
			return mcpgate.Connection{}, fmt.Errorf("store connection: %w", err)
		}
		m.forgetServer(c.Server)
		return next, nil
	}
}

func (m *Manager) sealTokens(c *mcpgate.Connection, tok token) error {
	var err error
	if c.AccessToken, err = m.cfg.Sealer.Seal([]byte(tok.Access), accessAAD(*c)); err != nil {
		return err
	}
	if tok.Refresh != "" {
		if c.RefreshToken, err = m.cfg.Sealer.Seal([]byte(tok.Refresh), refreshAAD(*c)); err != nil {
			return err
		}
	}
	return nil
}

func notFoundServer(name string, err error) error {
	if errors.Is(err, mcpgate.ErrNotFound) {
		return mcpgate.Errorf(mcpgate.ErrNotFound, "server %q does not exist", name)
	}
	return err
}
