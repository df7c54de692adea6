package oauthtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func register(t *testing.T, as *AuthServer, meta any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noRedirect.Post(as.RegistrationURL(), "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestDynamicClientRegistrationThenAuthorize(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})

	t.Run("public native client via the Go SDK", func(t *testing.T) {
		reg, err := oauthex.RegisterClient(testCtx(t), as.RegistrationURL(), &oauthex.ClientRegistrationMetadata{
			RedirectURIs:            []string{redirectURI},
			TokenEndpointAuthMethod: "none",
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ClientName:              "mcpgate test",
			ApplicationType:         "native",
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if reg.ClientID == "" || reg.ClientSecret != "" || reg.TokenEndpointAuthMethod != "none" || reg.ClientIDIssuedAt.IsZero() {
			t.Fatalf("%+v", reg)
		}
		c, ok := as.RegisteredClient(reg.ClientID)
		if !ok || c.ApplicationType != "native" || c.Name != "mcpgate test" {
			t.Fatalf("%+v", c)
		}
		cfg := &oauth2.Config{ClientID: reg.ClientID, Endpoint: as.Endpoint(), RedirectURL: redirectURI}
		tok := exchange(t, as, cfg, "http://127.0.0.1:1/mcp")
		if _, err := refresh(t, cfg, tok.RefreshToken); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("confidential client gets a secret", func(t *testing.T) {
		status, body := register(t, as, map[string]any{"redirect_uris": []string{redirectURI}})
		if status != http.StatusCreated || body["token_endpoint_auth_method"] != "client_secret_basic" ||
			body["client_secret"] == nil || body["client_secret_expires_at"] != 0.0 {
			t.Fatalf("%d %v", status, body)
		}
		cfg := &oauth2.Config{ClientID: body["client_id"].(string), ClientSecret: body["client_secret"].(string),
			Endpoint: as.Endpoint(), RedirectURL: redirectURI}
		exchange(t, as, cfg, "")
		cfg.ClientSecret = "wrong"
		code, v := authorize(t, as, cfg, "")
		_, err := cfg.Exchange(testCtx(t), code, oauth2.VerifierOption(v))
		wantErrorCode(t, err, "invalid_client")
	})

	t.Run("private_key_jwt with jwks as object and as string", func(t *testing.T) {
		for _, asString := range []bool{false, true} {
			key, jwks := NewES256Key()
			var j any = jwks
			if asString {
				j = string(jwks)
			}
			status, body := register(t, as, map[string]any{
				"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt", "jwks": j,
			})
			if status != http.StatusCreated || body["client_secret"] != nil {
				t.Fatalf("%d %v", status, body)
			}
			id := body["client_id"].(string)
			assertion, err := SignClientAssertion(key, id, as.TokenURL())
			if err != nil {
				t.Fatal(err)
			}
			cc := clientcredentials.Config{ClientID: id, TokenURL: as.TokenURL(), AuthStyle: oauth2.AuthStyleInParams,
				EndpointParams: url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}}
			if _, err := cc.Token(testCtx(t)); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("invalid metadata", func(t *testing.T) {
		for name, tc := range map[string]struct {
			meta map[string]any
			want string
		}{
			"unknown auth method":  {map[string]any{"redirect_uris": []string{redirectURI}, "token_endpoint_auth_method": "tls_client_auth"}, "invalid_client_metadata"},
			"no redirect uris":     {map[string]any{"token_endpoint_auth_method": "none"}, "invalid_redirect_uri"},
			"fragment":             {map[string]any{"redirect_uris": []string{redirectURI + "#x"}}, "invalid_redirect_uri"},
			"application_type":     {map[string]any{"redirect_uris": []string{redirectURI}, "application_type": "tv"}, "invalid_client_metadata"},
			"jwt without jwks":     {map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"},
			"unknown grant type":   {map[string]any{"redirect_uris": []string{redirectURI}, "grant_types": []string{"implicit"}}, "invalid_client_metadata"},
			"implicit responseTyp": {map[string]any{"redirect_uris": []string{redirectURI}, "response_types": []string{"token"}}, "invalid_client_metadata"},
		} {
			status, body := register(t, as, tc.meta)
			if status != http.StatusBadRequest || body["error"] != tc.want {
				t.Errorf("%s: %d %v", name, status, body)
			}
		}
	})
	if n := as.Stats().Registrations; n != 4 {
		t.Errorf("Registrations = %d, want 4", n)
	}
}

func TestRegistrationDisabled(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{DisableRegistration: true})
	if as.Metadata().RegistrationEndpoint != "" {
		t.Fatal("registration endpoint advertised")
	}
	resp, err := http.Post(as.RegistrationURL(), "application/json", bytes.NewReader([]byte(`{}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestClientIDMetadataDocument(t *testing.T) {
	docs := map[string]map[string]any{}
	var docServer *httptest.Server
	docServer = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, http.StatusOK, doc)
	}))
	t.Cleanup(docServer.Close)
	good := docServer.URL + "/client.json"
	docs["/client.json"] = map[string]any{
		"client_id": good, "client_name": "cimd client", "redirect_uris": []string{redirectURI},
		"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none",
	}
	docs["/liar.json"] = map[string]any{"client_id": docServer.URL + "/someone-else.json", "redirect_uris": []string{redirectURI}}

	as := NewAuthServer(t, AuthServerOptions{ClientIDMetadataDocuments: true})
	cfg := &oauth2.Config{ClientID: good, Endpoint: as.Endpoint(), RedirectURL: redirectURI}
	tok := exchange(t, as, cfg, "")
	if info, _ := as.Validate(tok.AccessToken); info.ClientID != good {
		t.Fatalf("%+v", info)
	}
	if c, ok := as.RegisteredClient(good); !ok || c.Name != "cimd client" {
		t.Fatalf("%+v", c)
	}
	if as.Stats().CIMDFetches < 1 {
		t.Fatal("document not fetched")
	}

	for _, id := range []string{docServer.URL + "/liar.json", docServer.URL + "/missing.json"} {
		q := url.Values{"client_id": {id}, "response_type": {"code"}, "redirect_uri": {redirectURI}}
		resp, err := noRedirect.Get(as.AuthorizationURL() + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d", id, resp.StatusCode)
		}
	}

	off := NewAuthServer(t, AuthServerOptions{})
	q := url.Values{"client_id": {good}, "response_type": {"code"}, "redirect_uri": {redirectURI}}
	resp, err := noRedirect.Get(off.AuthorizationURL() + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || off.Stats().CIMDFetches != 0 {
		t.Fatalf("CIMD disabled: status %d", resp.StatusCode)
	}
}
