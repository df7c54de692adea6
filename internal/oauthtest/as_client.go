package oauthtest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Client is an OAuth client registration.
type Client struct {
	ID     string
	Secret string // for client_secret_basic / client_secret_post
	// RedirectURIs are matched exactly on /authorize.
	RedirectURIs []string
	// TokenEndpointAuthMethod is one of the AuthMethod constants. Empty means
	// private_key_jwt if JWKS is set, client_secret_basic if Secret is set,
	// else none.
	TokenEndpointAuthMethod string
	// GrantTypes restricts the grants the client may use. Empty means any for
	// RegisterClient, and ["authorization_code"] (RFC 7591's default) for DCR.
	// The refresh_token grant is always allowed for tokens issued to the client.
	GrantTypes []string
	// JWKS is the client's public JSON Web Key Set (for private_key_jwt), e.g.
	// from [NewES256Key].
	JWKS            json.RawMessage
	ApplicationType string // "web" or "native"
	Name            string
}

type registeredClient struct {
	Client
	keys []publicJWK
	cimd bool // from a client ID metadata document
}

func (c *registeredClient) allowsGrant(g string) bool {
	return len(c.GrantTypes) == 0 || slices.Contains(c.GrantTypes, g)
}

// RegisterClient pre-registers a client (fails the test on invalid input).
func (a *AuthServer) RegisterClient(c Client) {
	a.t.Helper()
	rc, err := newRegisteredClient(c)
	if err != nil {
		a.t.Fatalf("oauthtest: RegisterClient(%q): %v", c.ID, err)
	}
	if c.ID == "" {
		a.t.Fatalf("oauthtest: RegisterClient: empty client ID")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clients[c.ID] = rc
}

// RegisteredClient returns a client registered by any means (pre-registered,
// DCR, or a fetched client ID metadata document).
func (a *AuthServer) RegisteredClient(id string) (Client, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.clients[id]
	if c == nil {
		return Client{}, false
	}
	return c.Client, true
}

func newRegisteredClient(c Client) (*registeredClient, error) {
	if c.TokenEndpointAuthMethod == "" {
		switch {
		case len(c.JWKS) > 0:
			c.TokenEndpointAuthMethod = AuthMethodPrivateKeyJWT
		case c.Secret != "":
			c.TokenEndpointAuthMethod = AuthMethodClientSecretBasic
		default:
			c.TokenEndpointAuthMethod = AuthMethodNone
		}
	}
	rc := &registeredClient{Client: c}
	switch c.TokenEndpointAuthMethod {
	case AuthMethodNone:
	case AuthMethodClientSecretBasic, AuthMethodClientSecretPost:
		if c.Secret == "" {
			return nil, fmt.Errorf("%s needs a secret", c.TokenEndpointAuthMethod)
		}
	case AuthMethodPrivateKeyJWT:
		keys, err := parseJWKS(c.JWKS)
		if err != nil {
			return nil, err
		}
		rc.keys = keys
	default:
		return nil, fmt.Errorf("unsupported token_endpoint_auth_method %q", c.TokenEndpointAuthMethod)
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains([]string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantJWTBearer}, g) {
			return nil, fmt.Errorf("unsupported grant type %q", g)
		}
	}
	for _, u := range c.RedirectURIs {
		if !validRedirectURI(u) {
			return nil, fmt.Errorf("invalid redirect URI %q", u)
		}
	}
	return rc, nil
}

func validRedirectURI(s string) bool {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Fragment != "" {
		return false
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		return u.Host != ""
	}
	return true // private-use scheme of a native app
}

// isURLClientID reports whether a client_id looks like a client ID metadata document URL.
func isURLClientID(id string) bool {
	u, err := url.Parse(id)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

var errUnknownClient = errors.New("unknown client_id")

// lookupClient finds a registered client. With CIMD enabled, a URL client_id
// is fetched when unknown, or always when refetch is set (on /authorize).
func (a *AuthServer) lookupClient(ctx context.Context, id string, refetch bool) (*registeredClient, error) {
	a.mu.Lock()
	c := a.clients[id]
	a.mu.Unlock()
	if c != nil && !(refetch && c.cimd) {
		return c, nil
	}
	if !a.opts.ClientIDMetadataDocuments || !isURLClientID(id) {
		return nil, errUnknownClient
	}
	c, err := a.fetchCIMD(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("client ID metadata document: %w", err)
	}
	a.mu.Lock()
	a.clients[id] = c
	a.mu.Unlock()
	return c, nil
}

func (a *AuthServer) fetchCIMD(ctx context.Context, id string) (*registeredClient, error) {
	a.mu.Lock()
	a.stats.CIMDFetches++
	a.mu.Unlock()
	var doc struct {
		ClientID string `json:"client_id"`
		clientMetadata
	}
	if err := a.getJSON(ctx, id, &doc); err != nil {
		return nil, err
	}
	if doc.ClientID != id {
		return nil, fmt.Errorf("client_id %q in the document differs from its URL", doc.ClientID)
	}
	if len(doc.RedirectURIs) == 0 {
		return nil, errors.New("redirect_uris missing")
	}
	switch doc.TokenEndpointAuthMethod {
	case "":
		doc.TokenEndpointAuthMethod = AuthMethodNone
	case AuthMethodClientSecretBasic, AuthMethodClientSecretPost:
		return nil, errors.New("a client ID metadata document cannot use a client secret")
	}
	c, err := doc.toClient(ctx, a)
	if err != nil {
		return nil, err
	}
	c.ID = id
	rc, err := newRegisteredClient(c)
	if err != nil {
		return nil, err
	}
	rc.cimd = true
	return rc, nil
}

func (a *AuthServer) getJSON(ctx context.Context, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// authenticateClient authenticates the client of a token or revocation
// request by its registered token_endpoint_auth_method. endpoint is the URL
// being called (an acceptable client-assertion audience besides the token
// endpoint and the issuer).
func (a *AuthServer) authenticateClient(r *http.Request, form url.Values, endpoint string) (*registeredClient, *oauthError) {
	invalid := func(basic bool, desc string) *oauthError {
		return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: desc, basic: basic}
	}
	basicID, basicSecret, hasBasic := r.BasicAuth()
	if hasBasic {
		// RFC 6749 §2.3.1: form-urlencoded before Basic encoding.
		var err1, err2 error
		basicID, err1 = url.QueryUnescape(basicID)
		basicSecret, err2 = url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, invalid(true, "malformed Basic credentials")
		}
	}
	formSecret, hasFormSecret := form.Get("client_secret"), form.Has("client_secret")
	assertionType, assertion := form.Get("client_assertion_type"), form.Get("client_assertion")
	hasAssertion := assertionType != "" || assertion != ""

	n := 0
	for _, b := range []bool{hasBasic && basicSecret != "", hasFormSecret && formSecret != "", hasAssertion} {
		if b {
			n++
		}
	}
	if n > 1 {
		return nil, errInvalidRequest("more than one client authentication method used")
	}

	id := form.Get("client_id")
	if hasBasic {
		if id != "" && id != basicID {
			return nil, invalid(true, "client_id differs from the Basic credentials")
		}
		id = basicID
	}
	var claims *assertionClaims
	if hasAssertion {
		if assertionType != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			return nil, invalid(false, "unsupported client_assertion_type")
		}
		var err error
		claims, err = peekAssertionClaims(assertion)
		if err != nil {
			return nil, invalid(false, "malformed client_assertion: "+err.Error())
		}
		if id == "" {
			id = claims.Sub
		}
	}
	if id == "" {
		return nil, invalid(hasBasic, "client authentication required")
	}
	c, err := a.lookupClient(r.Context(), id, false)
	if err != nil {
		return nil, invalid(hasBasic, err.Error())
	}

	switch c.TokenEndpointAuthMethod {
	case AuthMethodNone:
		if n > 0 {
			return nil, invalid(hasBasic, "public client presented credentials")
		}
	case AuthMethodClientSecretBasic:
		if !hasBasic || subtle.ConstantTimeCompare([]byte(basicSecret), []byte(c.Secret)) != 1 {
			return nil, invalid(true, "client_secret_basic authentication failed")
		}
	case AuthMethodClientSecretPost:
		if hasBasic || !hasFormSecret || subtle.ConstantTimeCompare([]byte(formSecret), []byte(c.Secret)) != 1 {
			return nil, invalid(hasBasic, "client_secret_post authentication failed")
		}
	case AuthMethodPrivateKeyJWT:
		if !hasAssertion {
			return nil, invalid(hasBasic, "private_key_jwt client assertion required")
		}
		if err := a.verifyClientAssertion(c, assertion, endpoint); err != nil {
			return nil, invalid(false, "client assertion rejected: "+err.Error())
		}
	default:
		return nil, invalid(hasBasic, "unsupported auth method")
	}
	return c, nil
}

// verifyClientAssertion checks an RFC 7523 client assertion: ES256 signature
// by one of the client's keys, iss = sub = client_id, aud naming the token
// endpoint, the called endpoint or the issuer, unexpired, jti not replayed.
func (a *AuthServer) verifyClientAssertion(c *registeredClient, assertion, endpoint string) error {
	claims, err := verifyES256(assertion, c.keys)
	if err != nil {
		return err
	}
	if claims.Iss != c.ID || claims.Sub != c.ID {
		return errors.New("iss and sub must be the client_id")
	}
	okAud := false
	for _, aud := range claims.Aud {
		if aud == a.TokenURL() || aud == endpoint || aud == a.issuer {
			okAud = true
		}
	}
	if !okAud {
		return fmt.Errorf("aud %q names neither the token endpoint nor the issuer", claims.Aud)
	}
	now := time.Now()
	const skew = 5 * time.Second
	if claims.Exp == 0 {
		return errors.New("exp missing")
	}
	exp := time.Unix(claims.Exp, 0)
	if !now.Before(exp.Add(skew)) {
		return errors.New("assertion expired")
	}
	if claims.Nbf != 0 && now.Add(skew).Before(time.Unix(claims.Nbf, 0)) {
		return errors.New("assertion not yet valid")
	}
	if claims.Jti != "" {
		a.mu.Lock()
		defer a.mu.Unlock()
		for k, until := range a.jtis {
			if now.After(until) {
				delete(a.jtis, k)
			}
		}
		key := c.ID + "\x00" + claims.Jti
		if _, seen := a.jtis[key]; seen {
			return errors.New("jti replayed")
		}
		a.jtis[key] = exp.Add(skew)
	}
	return nil
}
