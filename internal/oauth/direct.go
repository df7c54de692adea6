package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Grants that need no browser: the gateway asks the token endpoint itself,
// for the first access token and for every later one (Connection.GrantType).
const (
	grantClientCredentials = "client_credentials"
	// grantJWTBearer presents a JWT the authorization server trusts, such
	// as a workload identity token (RFC 7523, MCP's workload identity
	// federation extension).
	grantJWTBearer = "jwt_bearer"
	// grantIDJAG exchanges the user's ID token at the enterprise identity
	// provider for an identity assertion authorization grant (ID-JAG) and
	// presents that (MCP's enterprise-managed authorization extension).
	grantIDJAG = "id_jag"
	// grantWorkloadIdentity presents the gateway's own workload identity
	// token with the JWT-bearer grant, read from
	// Config.WorkloadIdentityTokenFile for each new access token, so that a
	// token the platform rotates is never presented stale.
	grantWorkloadIdentity = "workload_identity"

	jwtBearerGrantType  = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	tokenExchangeGrant  = "urn:ietf:params:oauth:grant-type:token-exchange"
	idTokenType         = "urn:ietf:params:oauth:token-type:id_token"
	idJAGTokenType      = "urn:ietf:params:oauth:token-type:id-jag"
	maxGrantCredentials = 16 << 10 // bytes; a JWT is far smaller
)

// IdentityProvider is the enterprise identity provider that issues ID-JAGs
// for enterprise-managed authorization.
type IdentityProvider struct {
	// TokenEndpoint is where ID tokens are exchanged (RFC 8693).
	TokenEndpoint string
	// ClientID and ClientSecret identify the gateway at the identity
	// provider; without a secret it identifies itself as a public client.
	ClientID     string
	ClientSecret string
}

func directGrant(grantType string) bool {
	switch grantType {
	case grantClientCredentials, grantJWTBearer, grantIDJAG, grantWorkloadIdentity:
		return true
	}
	return false
}

// ConnectAssertion obtains the connection of (server, user), or the shared
// one when user is "", with the JWT-bearer grant: assertion is a JWT the
// server's authorization server trusts, for example a workload identity
// token. The gateway keeps it sealed and presents it again for each new
// access token; once it has expired the connection needs a new one.
func (m *Manager) ConnectAssertion(ctx context.Context, server, user, assertion string) (mcpgate.Connection, error) {
	if err := checkCredential("assertion", assertion); err != nil {
		return mcpgate.Connection{}, err
	}
	return m.connectDirect(ctx, server, user, grantJWTBearer, assertion)
}

// ConnectWorkloadIdentity obtains the server's shared connection with the
// gateway's workload identity token (Config.WorkloadIdentityTokenFile) and
// the JWT-bearer grant. Nothing of the token is stored: the file is read
// again for each new access token.
func (m *Manager) ConnectWorkloadIdentity(ctx context.Context, server string) (mcpgate.Connection, error) {
	assertion, err := m.workloadIdentityToken()
	if err != nil {
		return mcpgate.Connection{}, fmt.Errorf("%w: %w", mcpgate.ErrInvalid, err)
	}
	return m.connectDirect(ctx, server, "", grantWorkloadIdentity, assertion)
}

// workloadIdentityToken reads the gateway's current workload identity token.
func (m *Manager) workloadIdentityToken() (string, error) {
	path := m.cfg.WorkloadIdentityTokenFile
	if path == "" {
		return "", errors.New("this gateway has no workload identity token file (workload_identity_token_file in the config)")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("workload identity token: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxGrantCredentials+1))
	if err != nil {
		return "", fmt.Errorf("workload identity token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if err := checkCredential("the workload identity token in "+path, token); err != nil {
		return "", err
	}
	return token, nil
}

// ConnectEnterprise obtains the connection of (server, user) with
// enterprise-managed authorization: the user's ID token from the identity
// provider is exchanged there for an ID-JAG, which the server's
// authorization server takes as a JWT-bearer grant. The ID token is kept
// sealed and exchanged again for each new access token while it is valid.
func (m *Manager) ConnectEnterprise(ctx context.Context, server, user, idToken string) (mcpgate.Connection, error) {
	if m.cfg.IdentityProvider == nil {
		return mcpgate.Connection{}, mcpgate.Invalidf("no enterprise identity provider is configured (identity_provider in the config)")
	}
	if user == "" {
		return mcpgate.Connection{}, mcpgate.Invalidf("an ID token is a user's: enterprise-managed connections belong to a user")
	}
	if err := checkCredential("id token", idToken); err != nil {
		return mcpgate.Connection{}, err
	}
	return m.connectDirect(ctx, server, user, grantIDJAG, idToken)
}

// checkCredential refuses what cannot be a compact JWT before anything is
// sent: three base64url parts.
func checkCredential(what, v string) error {
	if v == "" {
		return mcpgate.Invalidf("%s is empty", what)
	}
	if len(v) > maxGrantCredentials {
		return mcpgate.Invalidf("%s is longer than %d bytes", what, maxGrantCredentials)
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return mcpgate.Invalidf("%s is not a JWT (want header.payload.signature)", what)
	}
	for _, p := range parts {
		if strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return mcpgate.Invalidf("%s is not a JWT (its parts must be base64url)", what)
		}
	}
	return nil
}

// connectDirect obtains a connection with a grant that needs no browser,
// using the server's pre-registered client.
func (m *Manager) connectDirect(ctx context.Context, server, user, grantType, credential string) (mcpgate.Connection, error) {
	srv, err := m.cfg.Store.GetServer(ctx, server)
	if err != nil {
		return mcpgate.Connection{}, notFoundServer(server, err)
	}
	pre, err := m.preRegistered(ctx, server)
	if err != nil {
		return mcpgate.Connection{}, err
	}
	if pre.ClientID == "" {
		return mcpgate.Connection{}, mcpgate.Invalidf("server %q has no pre-registered OAuth client; add one with --oauth-client-id to use the %s grant", server, grantType)
	}
	d, err := m.discover(ctx, srv.URL)
	if err != nil {
		return mcpgate.Connection{}, err
	}
	cl, err := m.clientFor(ctx, server, d.AS)
	if err != nil {
		return mcpgate.Connection{}, err
	}
	scopes := d.Scopes
	if len(pre.Scopes) > 0 {
		scopes = pre.Scopes
	}
	c := mcpgate.Connection{
		Server: server, User: user, Issuer: d.AS.Issuer, ClientID: cl.ID, GrantType: grantType,
		Resource: d.Resource, Scopes: scopes,
	}
	form, err := m.grantForm(ctx, c, credential, d.AS)
	if err == nil {
		var tok token
		if tok, err = m.requestToken(ctx, d.AS.TokenEndpoint, cl, d.AS.Issuer, form); err == nil {
			if len(tok.Scopes) > 0 {
				c.Scopes = tok.Scopes
			}
			kept := credential
			if grantType == grantWorkloadIdentity {
				kept = "" // the file is the credential's home
			}
			return m.saveConnection(ctx, kept, c, tok)
		}
	}
	// A credential the caller brought and a provider refused is the
	// caller's to fix, not a gateway failure.
	var te *TokenError
	if credential != "" && errors.As(err, &te) && te.Permanent() {
		return mcpgate.Connection{}, fmt.Errorf("%w: %s grant refused: %w", mcpgate.ErrInvalid, grantType, err)
	}
	return mcpgate.Connection{}, fmt.Errorf("%s grant: %w", grantType, err)
}

// grantForm is the token request that gets c's next access token with its
// direct grant; credential is its GrantCredential, opened.
func (m *Manager) grantForm(ctx context.Context, c mcpgate.Connection, credential string, as *asMeta) (url.Values, error) {
	form := url.Values{}
	if c.Resource != "" {
		form.Set("resource", c.Resource)
	}
	if len(c.Scopes) > 0 {
		form.Set("scope", joinScopes(c.Scopes))
	}
	switch c.GrantType {
	case grantClientCredentials:
		form.Set("grant_type", "client_credentials")
	case grantJWTBearer:
		form.Set("grant_type", jwtBearerGrantType)
		form.Set("assertion", credential)
	case grantWorkloadIdentity:
		if credential == "" {
			var err error
			if credential, err = m.workloadIdentityToken(); err != nil {
				return nil, err
			}
		}
		form.Set("grant_type", jwtBearerGrantType)
		form.Set("assertion", credential)
	case grantIDJAG:
		jag, err := m.exchangeIDToken(ctx, credential, as.Issuer, c.Resource, c.Scopes)
		if err != nil {
			return nil, err
		}
		form.Set("grant_type", jwtBearerGrantType)
		form.Set("assertion", jag)
	default:
		return nil, fmt.Errorf("grant %q needs a browser", c.GrantType)
	}
	return form, nil
}

// exchangeIDToken asks the identity provider for an ID-JAG for the
// authorization server audience and resource (RFC 8693 token exchange).
func (m *Manager) exchangeIDToken(ctx context.Context, idToken, audience, resource string, scopes []string) (string, error) {
	idp := m.cfg.IdentityProvider
	if idp == nil {
		return "", &TokenError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "no enterprise identity provider is configured"}
	}
	form := url.Values{
		"grant_type":           {tokenExchangeGrant},
		"requested_token_type": {idJAGTokenType},
		"subject_token":        {idToken},
		"subject_token_type":   {idTokenType},
		"audience":             {audience},
	}
	if resource != "" {
		form.Set("resource", resource)
	}
	if len(scopes) > 0 {
		form.Set("scope", joinScopes(scopes))
	}
	cl := client{ID: idp.ClientID, Secret: idp.ClientSecret, AuthMethod: "none"}
	if idp.ClientSecret != "" {
		cl.AuthMethod = "client_secret_basic"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := m.tokenHTTPRequest(ctx, idp.TokenEndpoint, cl, idp.TokenEndpoint, form)
	if err != nil {
		return "", err
	}
	resp, err := m.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("identity provider: %w", &TokenError{Err: err})
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("identity provider: %w", &TokenError{Status: resp.StatusCode, Err: err})
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("identity provider: %w", answerError(resp.StatusCode, body))
	}
	var tr struct {
		AccessToken     string `json:"access_token"`
		IssuedTokenType string `json:"issued_token_type"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("identity provider: %w: no access_token", ErrBadTokenResponse)
	}
	if tr.IssuedTokenType != idJAGTokenType {
		return "", fmt.Errorf("identity provider: %w: issued_token_type %q, want %s", ErrBadTokenResponse, truncate(tr.IssuedTokenType, 60), idJAGTokenType)
	}
	return tr.AccessToken, nil
}
