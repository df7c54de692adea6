package oauthtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

func TestMetadata(t *testing.T) {
	for _, path := range []string{"", "/tenant1"} {
		t.Run("path="+path, func(t *testing.T) {
			as := NewAuthServer(t, AuthServerOptions{IssuerPath: path, ClientIDMetadataDocuments: true})
			if as.Issuer() != as.URL()+path {
				t.Fatalf("issuer %q", as.Issuer())
			}
			// The Go SDK's discovery (path insertion, issuer check, PKCE check).
			m, err := auth.GetAuthServerMetadata(testCtx(t), as.Issuer(), nil)
			if err != nil || m == nil {
				t.Fatalf("GetAuthServerMetadata: %v, %v", m, err)
			}
			if m.Issuer != as.Issuer() || m.TokenEndpoint != as.Issuer()+"/token" ||
				m.AuthorizationEndpoint != as.Issuer()+"/authorize" || m.RegistrationEndpoint != as.Issuer()+"/register" ||
				m.RevocationEndpoint != as.Issuer()+"/revoke" {
				t.Errorf("endpoints: %+v", m)
			}
			if !slices.Equal(m.CodeChallengeMethodsSupported, []string{"S256"}) ||
				!m.AuthorizationResponseIssParameterSupported || !m.ClientIDMetadataDocumentSupported ||
				!slices.Contains(m.TokenEndpointAuthMethodsSupported, "private_key_jwt") ||
				!slices.Contains(m.GrantTypesSupported, "client_credentials") ||
				!slices.Equal(m.ScopesSupported, DefaultScopes) {
				t.Errorf("metadata: %+v", m)
			}
			if as.MetadataURL() != as.URL()+"/.well-known/oauth-authorization-server"+path {
				t.Errorf("MetadataURL %s", as.MetadataURL())
			}
			// Not served at the un-inserted location when the issuer has a path.
			if path != "" {
				resp, err := http.Get(as.URL() + "/.well-known/oauth-authorization-server")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("root metadata: %d", resp.StatusCode)
				}
			}
		})
	}

	t.Run("no PKCE advertised is refused by a compliant client", func(t *testing.T) {
		as := NewAuthServer(t, AuthServerOptions{OmitPKCEMetadata: true})
		if _, err := auth.GetAuthServerMetadata(testCtx(t), as.Issuer(), nil); err == nil {
			t.Fatal("SDK accepted an AS without code_challenge_methods_supported")
		}
	})

	t.Run("OIDC only", func(t *testing.T) {
		as := NewAuthServer(t, AuthServerOptions{IssuerPath: "/t", NoOAuthMetadata: true, OpenIDConfiguration: true})
		m, err := auth.GetAuthServerMetadata(testCtx(t), as.Issuer(), nil)
		if err != nil || m == nil || m.Issuer != as.Issuer() {
			t.Fatalf("OIDC discovery: %+v, %v", m, err)
		}
		resp, err := http.Get(as.Issuer() + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || as.Stats().MetadataRequests != 2 {
			t.Fatalf("path-appended OIDC: %d, %+v", resp.StatusCode, as.Stats())
		}
	})

	t.Run("EditMetadata", func(t *testing.T) {
		as := NewAuthServer(t, AuthServerOptions{EditMetadata: func(m *oauthex.AuthServerMeta) { m.Issuer = "https://evil.example" }})
		if _, err := auth.GetAuthServerMetadata(testCtx(t), as.Issuer(), nil); err == nil {
			t.Fatal("issuer mismatch not detected")
		}
	})
}

func TestAuthorizationCodeFlow(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{AccessTTL: 2 * time.Second, RequireResource: true})
	cfg := publicConfig(as, "read", "write")
	const resource = "http://127.0.0.1:1/mcp"
	before := time.Now()
	tok := exchange(t, as, cfg, resource)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("token %+v", tok)
	}
	if exp := tok.Expiry.Sub(before); exp < time.Second || exp > 4*time.Second {
		t.Errorf("expiry in %v, want ≈2s", exp)
	}
	if tok.Extra("scope") != "read write" {
		t.Errorf("scope %v", tok.Extra("scope"))
	}
	info, ok := as.Validate(tok.AccessToken)
	if !ok || info.ClientID != "public-client" || info.Subject != "test-user" || info.Resource != resource ||
		!slices.Equal(info.Scopes, []string{"read", "write"}) || info.Family == "" || info.Generation != 0 {
		t.Fatalf("Validate = %+v, %v", info, ok)
	}
	if _, ok := as.Validate(tok.RefreshToken); ok {
		t.Error("a refresh token validated as an access token")
	}
	if st := as.Stats(); st.AuthCodeGrants != 1 || st.TokenRequests != 1 || st.AuthorizeRequests != 1 {
		t.Errorf("stats %+v", st)
	}
	// Access tokens expire.
	time.Sleep(2100 * time.Millisecond)
	if _, ok := as.Validate(tok.AccessToken); ok {
		t.Error("expired access token still valid")
	}
}

func TestPKCEWrongVerifierRefused(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})
	cfg := publicConfig(as)
	code, _ := authorize(t, as, cfg, "")
	_, err := cfg.Exchange(testCtx(t), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	wantErrorCode(t, err, "invalid_grant")
	code, _ = authorize(t, as, cfg, "")
	_, err = cfg.Exchange(testCtx(t), code) // no verifier at all
	wantErrorCode(t, err, "invalid_grant")
	if as.Stats().AuthCodeGrants != 0 {
		t.Fatal("a grant succeeded")
	}
}

func TestCodeReuseRefused(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})
	cfg := publicConfig(as)
	code, verifier := authorize(t, as, cfg, "")
	tok, err := cfg.Exchange(testCtx(t), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Exchange(testCtx(t), code, oauth2.VerifierOption(verifier))
	wantErrorCode(t, err, "invalid_grant")
	// RFC 6749 §4.1.2: what the code produced is revoked.
	if _, ok := as.Validate(tok.AccessToken); ok {
		t.Error("tokens from a replayed code stay valid")
	}
	if st := as.Stats(); st.CodeReuses != 1 || st.AuthCodeGrants != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestTokenRequestMustMatchAuthorization(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})
	as.RegisterClient(Client{ID: "c", RedirectURIs: []string{redirectURI, "http://127.0.0.1:9/other"}})
	cfg := &oauth2.Config{ClientID: "c", Endpoint: as.Endpoint(), RedirectURL: redirectURI}

	t.Run("resource", func(t *testing.T) {
		code, v := authorize(t, as, cfg, "http://127.0.0.1:1/mcp")
		_, err := cfg.Exchange(testCtx(t), code, oauth2.VerifierOption(v), oauth2.SetAuthURLParam("resource", "http://127.0.0.1:2/mcp"))
		wantErrorCode(t, err, "invalid_target")
	})
	t.Run("resource absent at authorize", func(t *testing.T) {
		code, v := authorize(t, as, cfg, "")
		_, err := cfg.Exchange(testCtx(t), code, oauth2.VerifierOption(v), oauth2.SetAuthURLParam("resource", "http://127.0.0.1:2/mcp"))
		wantErrorCode(t, err, "invalid_target")
	})
	t.Run("resource may be omitted on exchange", func(t *testing.T) {
		code, v := authorize(t, as, cfg, "http://127.0.0.1:1/mcp")
		tok, err := cfg.Exchange(testCtx(t), code, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		if info, _ := as.Validate(tok.AccessToken); info.Resource != "http://127.0.0.1:1/mcp" {
			t.Fatalf("resource %q", info.Resource)
		}
	})
	t.Run("redirect_uri", func(t *testing.T) {
		code, v := authorize(t, as, cfg, "")
		other := *cfg
		other.RedirectURL = "http://127.0.0.1:9/other"
		_, err := other.Exchange(testCtx(t), code, oauth2.VerifierOption(v))
		wantErrorCode(t, err, "invalid_grant")
	})
	t.Run("another client", func(t *testing.T) {
		as.RegisterClient(Client{ID: "c2", RedirectURIs: []string{redirectURI}})
		code, v := authorize(t, as, cfg, "")
		other := *cfg
		other.ClientID = "c2"
		_, err := other.Exchange(testCtx(t), code, oauth2.VerifierOption(v))
		wantErrorCode(t, err, "invalid_grant")
	})
}

func TestAuthorizeValidation(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{RequireResource: true})
	as.RegisterClient(Client{ID: "c", RedirectURIs: []string{redirectURI}})
	as.RegisterClient(Client{ID: "svc", Secret: "s", GrantTypes: []string{GrantClientCredentials}, RedirectURIs: []string{redirectURI}})
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	base := url.Values{
		"response_type":         {"code"},
		"client_id":             {"c"},
		"redirect_uri":          {redirectURI},
		"state":                 {"xyz"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"resource":              {"http://127.0.0.1:1/mcp"},
		"scope":                 {"read"},
	}
	with := func(k, v string) url.Values {
		q := url.Values{}
		for kk, vv := range base {
			q[kk] = vv
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	// Errors about the client or its redirect URI are never redirected.
	for name, q := range map[string]url.Values{
		"unknown client":     with("client_id", "nobody"),
		"missing client":     with("client_id", ""),
		"redirect mismatch":  with("redirect_uri", "http://127.0.0.1:9/callback/x"),
		"redirect elsewhere": with("redirect_uri", "https://attacker.example/cb"),
	} {
		resp, err := noRedirect.Get(as.AuthorizationURL() + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s: status %d, Location %q", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for name, tc := range map[string]struct {
		q    url.Values
		want string
	}{
		"no challenge":      {with("code_challenge", ""), "invalid_request"},
		"plain method":      {with("code_challenge_method", "plain"), "invalid_request"},
		"no method":         {with("code_challenge_method", ""), "invalid_request"},
		"no state":          {with("state", ""), "invalid_request"},
		"token flow":        {with("response_type", "token"), "unsupported_response_type"},
		"no resource":       {with("resource", ""), "invalid_target"},
		"relative resource": {with("resource", "/mcp"), "invalid_target"},
		"unknown scope":     {with("scope", "root"), "invalid_scope"},
		"cc-only client":    {with("client_id", "svc"), "unauthorized_client"},
	} {
		q := authorizeResponse(t, as.AuthorizationURL()+"?"+tc.q.Encode())
		if q.Get("error") != tc.want || q.Get("code") != "" || q.Get("iss") != as.Issuer() {
			t.Errorf("%s: %v, want error=%s", name, q, tc.want)
		}
		if tc.q.Get("state") != "" && q.Get("state") != "xyz" {
			t.Errorf("%s: state not echoed: %v", name, q)
		}
	}
	// Redirect URI may be omitted when exactly one is registered.
	if q := authorizeResponse(t, as.AuthorizationURL()+"?"+with("redirect_uri", "").Encode()); q.Get("code") == "" {
		t.Errorf("omitted redirect_uri: %v", q)
	}
	as.SetDenyAuthorization(true)
	if q := authorizeResponse(t, as.AuthorizationURL()+"?"+base.Encode()); q.Get("error") != "access_denied" || q.Get("state") != "xyz" {
		t.Errorf("deny: %v", q)
	}
}

func TestNoIssParameter(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{NoIssParameter: true})
	cfg := publicConfig(as)
	q := authorizeResponse(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if q.Has("iss") || q.Get("code") == "" {
		t.Fatalf("%v", q)
	}
	var m map[string]any
	resp, err := http.Get(as.MetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["authorization_response_iss_parameter_supported"]; ok {
		t.Fatalf("metadata still advertises iss: %v", m)
	}
}

func TestSubject(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})
	cfg := publicConfig(as)
	as.SetSubject("bob")
	tok := exchange(t, as, cfg, "")
	if info, _ := as.Validate(tok.AccessToken); info.Subject != "bob" {
		t.Fatalf("subject %q", info.Subject)
	}
}
