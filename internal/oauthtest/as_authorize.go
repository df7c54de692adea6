package oauthtest

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// codeTTL is how long an authorization code can be exchanged.
const codeTTL = time.Minute

// handleAuthorize is the authorization endpoint. It auto-approves as the
// current subject (or denies, see SetDenyAuthorization) and answers 302 to
// the redirect URI with code, state and iss. Errors about the client or the
// redirect URI are answered directly (400), never redirected.
func (a *AuthServer) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a.mu.Lock()
	a.stats.AuthorizeRequests++
	a.mu.Unlock()

	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, errInvalidRequest("malformed request"))
		return
	}
	q := r.Form
	c, err := a.lookupClient(r.Context(), q.Get("client_id"), true)
	if err != nil {
		writeOAuthError(w, errInvalidRequest("client_id: "+err.Error()))
		return
	}
	redirectURI := q.Get("redirect_uri")
	target := redirectURI
	switch {
	case redirectURI == "" && len(c.RedirectURIs) == 1:
		target = c.RedirectURIs[0]
	case redirectURI == "":
		writeOAuthError(w, errInvalidRequest("redirect_uri is required"))
		return
	case !slices.Contains(c.RedirectURIs, redirectURI):
		writeOAuthError(w, errInvalidRequest("redirect_uri is not registered for this client"))
		return
	}

	state := q.Get("state")
	respond := func(params url.Values) {
		u, _ := url.Parse(target) // validated at registration
		v := u.Query()
		for k, vs := range params {
			v[k] = vs
		}
		if state != "" {
			v.Set("state", state)
		}
		if !a.opts.NoIssParameter {
			v.Set("iss", a.issuer)
		}
		u.RawQuery = v.Encode()
		w.Header().Set("Location", u.String())
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusFound)
	}
	fail := func(code, desc string) {
		respond(url.Values{"error": {code}, "error_description": {desc}})
	}

	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "response_type must be code")
		return
	case !c.allowsGrant(GrantAuthorizationCode):
		fail("unauthorized_client", "client is not registered for authorization_code")
		return
	case state == "":
		fail("invalid_request", "state is required")
		return
	case q.Get("code_challenge") == "":
		fail("invalid_request", "code_challenge is required (PKCE)")
		return
	case q.Get("code_challenge_method") != "S256":
		fail("invalid_request", "code_challenge_method must be S256")
		return
	case len(q.Get("code_challenge")) != 43:
		fail("invalid_request", "code_challenge is not a base64url SHA-256 digest")
		return
	}
	resources := q["resource"]
	var resource string
	switch {
	case len(resources) > 1:
		fail("invalid_target", "more than one resource")
		return
	case len(resources) == 1 && !validResource(resources[0]):
		fail("invalid_target", "resource must be an absolute URI without fragment")
		return
	case len(resources) == 1:
		resource = resources[0]
	case a.opts.RequireResource:
		fail("invalid_target", "resource is required")
		return
	}
	scopes, oerr := a.grantScopes(q.Get("scope"))
	if oerr != nil {
		fail(oerr.code, oerr.desc)
		return
	}

	a.mu.Lock()
	if a.deny {
		a.mu.Unlock()
		fail("access_denied", "the user denied the request")
		return
	}
	code := randomString("code_")
	a.codes[code] = &authCode{
		clientID:    c.ID,
		redirectURI: redirectURI,
		challenge:   q.Get("code_challenge"),
		resource:    resource,
		scopes:      scopes,
		subject:     a.subject,
		expiry:      time.Now().Add(codeTTL),
	}
	a.mu.Unlock()
	respond(url.Values{"code": {code}})
}

// validResource checks RFC 8707 §2: an absolute URI without fragment.
func validResource(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && !strings.Contains(s, "#") && u.Host != ""
}
