package oauthtest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

type tokenKind int

const (
	kindAccess tokenKind = iota
	kindRefresh
)

// family is every token descended from one authorization (a code exchange or
// a client_credentials grant); revoking it revokes them all.
type family struct {
	id            string
	clientID      string
	subject       string
	scopes        []string
	resource      string
	offline       bool // refresh tokens may be issued
	revoked       bool
	refreshTokens []*token
}

type token struct {
	value      string
	kind       tokenKind
	family     *family
	scopes     []string
	generation int
	expiry     time.Time // zero: never (refresh tokens without RefreshTTL)
	revoked    bool

	// refresh tokens only
	presented int
	succeeded int
	usedAt    time.Time
	successor *tokenResponse // what the rotation answered (for RefreshReuseInterval)
}

type authCode struct {
	clientID    string
	redirectURI string // as sent on /authorize, "" if omitted
	challenge   string
	resource    string
	scopes      []string
	subject     string
	expiry      time.Time
	used        bool
	family      *family // issued from this code
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	status int
	code   string
	desc   string
	basic  bool // add a Basic challenge (client tried HTTP Basic authentication)
}

func errInvalidRequest(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: desc}
}

func errInvalidGrant(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_grant", desc: desc}
}

func errInvalidTarget(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_target", desc: desc}
}

func errInvalidScope(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_scope", desc: desc}
}

func errUnauthorizedClient(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "unauthorized_client", desc: desc}
}

func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	if e.basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauthtest"`)
	}
	body := map[string]string{"error": e.code}
	if e.desc != "" {
		body["error_description"] = e.desc
	}
	writeJSON(w, e.status, body)
}

const maxFormBytes = 1 << 20

func (a *AuthServer) handleToken(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.stats.TokenRequests++
	latency := a.latency
	a.mu.Unlock()

	if latency > 0 {
		timer := time.NewTimer(latency)
		select {
		case <-timer.C:
		case <-a.done:
			timer.Stop()
			return
		}
	}

	a.mu.Lock()
	if a.failN > 0 {
		a.failN--
		a.stats.InjectedFailures++
		a.stats.TokenErrors++
		e := &oauthError{status: a.failStatus, code: a.failCode, desc: "injected failure"}
		a.mu.Unlock()
		writeOAuthError(w, e)
		return
	}
	drop := false
	if a.dropN > 0 {
		a.dropN--
		drop = true
	}
	a.mu.Unlock()

	resp, oerr := a.processToken(r)

	a.mu.Lock()
	if oerr != nil {
		a.stats.TokenErrors++
	}
	if drop {
		a.stats.DroppedResponses++
	}
	a.mu.Unlock()

	if drop {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return
		}
		// Not hijackable (HTTP/2): abort the response instead.
		panic(http.ErrAbortHandler)
	}
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *AuthServer) processToken(r *http.Request) (*tokenResponse, *oauthError) {
	r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, errInvalidRequest("malformed form body: " + err.Error())
	}
	form := r.PostForm
	c, oerr := a.authenticateClient(r, form, a.TokenURL())
	if oerr != nil {
		return nil, oerr
	}
	switch gt := form.Get("grant_type"); gt {
	case GrantAuthorizationCode:
		return a.grantAuthorizationCode(c, form.Get("code"), form.Get("code_verifier"), form.Get("redirect_uri"), form["resource"])
	case GrantRefreshToken:
		return a.grantRefresh(c, form.Get("refresh_token"), form["resource"], form["scope"])
	case GrantClientCredentials:
		return a.grantClientCredentials(c, form["resource"], form.Get("scope"))
	case GrantJWTBearer:
		if len(a.opts.AssertionKeys) == 0 {
			return nil, &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type", desc: gt}
		}
		return a.grantJWTBearer(c, form.Get("assertion"), form["resource"], form.Get("scope"))
	case "":
		return nil, errInvalidRequest("grant_type is required")
	default:
		return nil, &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type", desc: gt}
	}
}

func (a *AuthServer) grantAuthorizationCode(c *registeredClient, code, verifier, redirectURI string, resource []string) (*tokenResponse, *oauthError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ac := a.codes[code]
	if code == "" || ac == nil {
		return nil, errInvalidGrant("unknown authorization code")
	}
	if ac.clientID != c.ID {
		return nil, errInvalidGrant("authorization code was issued to another client")
	}
	if ac.used {
		// RFC 6749 §4.1.2: revoke what the code already produced.
		a.stats.CodeReuses++
		if ac.family != nil {
			ac.family.revoked = true
		}
		return nil, errInvalidGrant("authorization code already used")
	}
	if !time.Now().Before(ac.expiry) {
		return nil, errInvalidGrant("authorization code expired")
	}
	if !validVerifier(verifier) {
		return nil, errInvalidGrant("code_verifier missing or malformed")
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(ac.challenge)) != 1 {
		return nil, errInvalidGrant("PKCE verification failed")
	}
	if ac.redirectURI != "" && redirectURI != ac.redirectURI {
		return nil, errInvalidGrant("redirect_uri does not match the authorization request")
	}
	if oerr := a.checkResource(resource, ac.resource); oerr != nil {
		return nil, oerr
	}
	ac.used = true // single use; failed attempts (wrong verifier …) do not consume it
	f := a.newFamily(c.ID, ac.subject, ac.scopes, ac.resource)
	ac.family = f
	a.stats.AuthCodeGrants++
	return a.issue(f, ac.scopes, 0), nil
}

// checkResource checks the resource parameters of a token request against
// the resource bound to the grant ("" if none).
func (a *AuthServer) checkResource(resource []string, bound string) *oauthError {
	switch {
	case len(resource) > 1:
		return errInvalidTarget("more than one resource")
	case len(resource) == 1 && resource[0] != bound:
		return errInvalidTarget("resource does not match the authorization")
	case len(resource) == 0 && a.opts.RequireResource:
		return errInvalidTarget("resource is required")
	}
	return nil
}

func (a *AuthServer) grantRefresh(c *registeredClient, value string, resource, scope []string) (*tokenResponse, *oauthError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tokens[value]
	if value == "" || t == nil || t.kind != kindRefresh {
		return nil, errInvalidGrant("unknown refresh token")
	}
	f := t.family
	if f.clientID != c.ID {
		return nil, errInvalidGrant("refresh token was issued to another client")
	}
	t.presented++
	if t.succeeded > 0 {
		if g := a.opts.RefreshReuseInterval; g > 0 && time.Since(t.usedAt) <= g && !f.revoked && !t.revoked {
			resp := *t.successor
			return &resp, nil
		}
		a.stats.ReuseDetections++
		f.revoked = true
		return nil, errInvalidGrant("refresh token reuse detected: token family revoked")
	}
	if t.revoked || f.revoked {
		return nil, errInvalidGrant("refresh token revoked")
	}
	if !t.expiry.IsZero() && !time.Now().Before(t.expiry) {
		return nil, errInvalidGrant("refresh token expired")
	}
	if oerr := a.checkResource(resource, f.resource); oerr != nil {
		return nil, oerr
	}
	scopes := t.scopes
	if len(scope) > 0 {
		scopes = strings.Fields(strings.Join(scope, " "))
		for _, s := range scopes {
			if !slices.Contains(f.scopes, s) {
				return nil, errInvalidScope("scope " + s + " exceeds the original grant")
			}
		}
	}
	t.succeeded++
	t.usedAt = time.Now()
	resp := a.issue(f, scopes, t.generation+1)
	t.successor = resp
	a.stats.Refreshes++
	return resp, nil
}

func (a *AuthServer) grantClientCredentials(c *registeredClient, resource []string, scope string) (*tokenResponse, *oauthError) {
	if c.TokenEndpointAuthMethod == AuthMethodNone {
		return nil, errUnauthorizedClient("public clients cannot use client_credentials")
	}
	if !c.allowsGrant(GrantClientCredentials) {
		return nil, errUnauthorizedClient("client is not registered for client_credentials")
	}
	scopes, oerr := a.grantScopes(scope)
	if oerr != nil {
		return nil, oerr
	}
	bound := ""
	if len(resource) == 1 {
		bound = resource[0]
		if !validResource(bound) {
			return nil, errInvalidTarget("resource must be an absolute URI without fragment")
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if oerr := a.checkResource(resource, bound); oerr != nil {
		return nil, oerr
	}
	f := a.newFamily(c.ID, c.ID, scopes, bound)
	f.offline = false // RFC 6749 §4.4.3: no refresh token
	a.stats.ClientCredentialGrants++
	return a.issue(f, scopes, 0), nil
}

// Mint issues tokens to a registered client as if it had just completed an
// authorization-code exchange as the current subject (a new family,
// generation 0), without an HTTP round trip — for seeding many connections.
// It does not count as a token request. The refresh token follows the
// options (absent with NoRefreshTokens).
func (a *AuthServer) Mint(clientID string, scopes []string, resource string) *oauth2.Token {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.clients[clientID] == nil {
		a.t.Fatalf("oauthtest: Mint: unknown client %q", clientID)
	}
	resp := a.issue(a.newFamily(clientID, a.subject, scopes, resource), scopes, 0)
	tok := &oauth2.Token{AccessToken: resp.AccessToken, TokenType: resp.TokenType, RefreshToken: resp.RefreshToken}
	if resp.ExpiresIn > 0 {
		tok.ExpiresIn = resp.ExpiresIn
		tok.Expiry = a.tokens[resp.AccessToken].expiry
	}
	return tok
}

// grantScopes validates a requested scope string against scopes_supported.
func (a *AuthServer) grantScopes(scope string) ([]string, *oauthError) {
	req := strings.Fields(scope)
	if len(req) == 0 {
		return slices.Clone(a.opts.ScopesWhenOmitted), nil
	}
	var out []string
	for _, s := range req {
		if !slices.Contains(a.opts.Scopes, s) {
			return nil, errInvalidScope("unsupported scope " + s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// newFamily starts a token family. a.mu must be held.
func (a *AuthServer) newFamily(clientID, subject string, scopes []string, resource string) *family {
	a.seq++
	f := &family{
		id:       "fam" + strconv.Itoa(a.seq),
		clientID: clientID,
		subject:  subject,
		scopes:   slices.Clone(scopes),
		resource: resource,
		offline:  !a.opts.NoRefreshTokens && (!a.opts.RefreshRequiresOfflineAccess || slices.Contains(scopes, "offline_access")),
	}
	a.families[f.id] = f
	a.familyOrder = append(a.familyOrder, f)
	return f
}

// issue mints an access token (and a refresh token when the family allows) of
// generation gen. a.mu must be held.
func (a *AuthServer) issue(f *family, scopes []string, gen int) *tokenResponse {
	now := time.Now()
	at := &token{
		value: randomString("at_"), kind: kindAccess, family: f,
		scopes: slices.Clone(scopes), generation: gen, expiry: now.Add(a.accessTTL),
	}
	a.tokens[at.value] = at
	resp := &tokenResponse{AccessToken: at.value, TokenType: "Bearer", Scope: strings.Join(scopes, " ")}
	if !a.opts.OmitExpiresIn {
		resp.ExpiresIn = max(1, int64((a.accessTTL+time.Second-1)/time.Second))
	}
	if f.offline {
		rt := &token{value: randomString("rt_"), kind: kindRefresh, family: f, scopes: slices.Clone(scopes), generation: gen}
		if a.opts.RefreshTTL > 0 {
			rt.expiry = now.Add(a.opts.RefreshTTL)
		}
		a.tokens[rt.value] = rt
		f.refreshTokens = append(f.refreshTokens, rt)
		resp.RefreshToken = rt.value
	}
	return resp
}

// validVerifier checks RFC 7636 §4.1: 43–128 unreserved characters.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range []byte(v) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func (a *AuthServer) handleRevoke(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, errInvalidRequest("malformed form body"))
		return
	}
	c, oerr := a.authenticateClient(r, r.PostForm, a.RevocationURL())
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	value := r.PostForm.Get("token")
	if value == "" {
		writeOAuthError(w, errInvalidRequest("token is required"))
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tokens[value]
	if t == nil {
		w.WriteHeader(http.StatusOK) // RFC 7009 §2.2: unknown tokens are not an error
		return
	}
	if t.family.clientID != c.ID {
		writeOAuthError(w, errUnauthorizedClient("token was issued to another client"))
		return
	}
	t.revoked = true
	if t.kind == kindRefresh {
		t.family.revoked = true
	}
	a.stats.Revocations++
	w.WriteHeader(http.StatusOK)
}

// grantJWTBearer takes an RFC 7523 assertion grant: an ES256 JWT signed by
// AssertionKeys, for this server, unexpired.
func (a *AuthServer) grantJWTBearer(c *registeredClient, assertion string, resource []string, scope string) (*tokenResponse, *oauthError) {
	if !c.allowsGrant(GrantJWTBearer) {
		return nil, errUnauthorizedClient("client is not registered for the JWT-bearer grant")
	}
	if assertion == "" {
		return nil, errInvalidRequest("assertion is required")
	}
	keys, err := parseJWKS(a.opts.AssertionKeys)
	if err != nil {
		return nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "AssertionKeys: " + err.Error()}
	}
	claims, err := verifyES256(assertion, keys)
	if err != nil {
		return nil, errInvalidGrant("assertion: " + err.Error())
	}
	if !slices.ContainsFunc(claims.Aud, func(aud string) bool { return aud == a.issuer || aud == a.TokenURL() }) {
		return nil, errInvalidGrant(fmt.Sprintf("assertion aud %q names neither the issuer nor the token endpoint", claims.Aud))
	}
	if claims.Exp == 0 || !time.Now().Before(time.Unix(claims.Exp, 0)) {
		return nil, errInvalidGrant("assertion expired")
	}
	if claims.Sub == "" {
		return nil, errInvalidGrant("assertion has no sub")
	}
	scopes, oerr := a.grantScopes(scope)
	if oerr != nil {
		return nil, oerr
	}
	bound := ""
	if len(resource) == 1 {
		bound = resource[0]
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if oerr := a.checkResource(resource, bound); oerr != nil {
		return nil, oerr
	}
	f := a.newFamily(c.ID, claims.Sub, scopes, bound)
	f.offline = false
	a.stats.JWTBearerGrants++
	return a.issue(f, scopes, 0), nil
}
