package oauthtest

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestRefreshRotates(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})
	cfg := publicConfig(as, "read")
	tok := exchange(t, as, cfg, "http://127.0.0.1:1/mcp")
	rt := tok.RefreshToken
	for gen := 1; gen <= 3; gen++ {
		next, err := refresh(t, cfg, rt) // x/oauth2 sends no resource: allowed without RequireResource
		if err != nil {
			t.Fatalf("refresh %d: %v", gen, err)
		}
		if next.RefreshToken == "" || next.RefreshToken == rt || next.AccessToken == tok.AccessToken {
			t.Fatalf("refresh %d did not rotate: %+v", gen, next)
		}
		info, ok := as.Validate(next.AccessToken)
		if !ok || info.Generation != gen || info.Resource != "http://127.0.0.1:1/mcp" {
			t.Fatalf("generation %d: %+v %v", gen, info, ok)
		}
		rt, tok = next.RefreshToken, next
	}
	st := as.Stats()
	if st.Refreshes != 3 || st.ReuseDetections != 0 {
		t.Fatalf("stats %+v", st)
	}
	per := as.RefreshesPerGeneration()
	if len(per) != 3 {
		t.Fatalf("RefreshesPerGeneration %v", per)
	}
	for k, n := range per {
		if n != 1 {
			t.Errorf("%s presented %d times", k, n)
		}
	}
	uses := as.RefreshTokenUses()
	if len(uses) != 4 || uses[3].Generation != 3 || uses[3].Presented != 0 || uses[0].Succeeded != 1 {
		t.Errorf("uses %+v", uses)
	}
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})
	cfg := publicConfig(as)
	t0 := exchange(t, as, cfg, "")
	t1, err := refresh(t, cfg, t0.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := refresh(t, cfg, t1.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := as.Validate(t2.AccessToken)

	// Another client's family is untouched by the reuse.
	other := exchange(t, as, cfg, "")

	_, err = refresh(t, cfg, t0.RefreshToken) // already rotated
	wantErrorCode(t, err, "invalid_grant")
	if _, ok := as.Validate(t2.AccessToken); ok {
		t.Error("newest access token survived reuse detection")
	}
	if _, err := refresh(t, cfg, t2.RefreshToken); errorCode(err) != "invalid_grant" {
		t.Errorf("newest refresh token survived reuse detection: %v", err)
	}
	if !as.FamilyRevoked(info.Family) {
		t.Error("family not revoked")
	}
	if _, ok := as.Validate(other.AccessToken); !ok {
		t.Error("an unrelated family was revoked")
	}
	st := as.Stats()
	if st.ReuseDetections != 1 || st.Refreshes != 2 {
		t.Fatalf("stats %+v", st)
	}
	if per := as.RefreshesPerGeneration(); per[info.Family+"/0"] != 2 || per[info.Family+"/1"] != 1 || per[info.Family+"/2"] != 1 {
		t.Fatalf("per generation %v", per)
	}
}

func TestRefreshReuseInterval(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{RefreshReuseInterval: time.Minute})
	cfg := publicConfig(as)
	t0 := exchange(t, as, cfg, "")
	t1, err := refresh(t, cfg, t0.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	again, err := refresh(t, cfg, t0.RefreshToken)
	if err != nil || again.RefreshToken != t1.RefreshToken || again.AccessToken != t1.AccessToken {
		t.Fatalf("grace re-presentation: %+v, %v", again, err)
	}
	if st := as.Stats(); st.ReuseDetections != 0 || st.Refreshes != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRefreshResource(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{RequireResource: true})
	cfg := publicConfig(as)
	const resource = "http://127.0.0.1:1/mcp"
	tok := exchange(t, as, cfg, resource)

	// x/oauth2's refresher does not send resource (REFERENCE §2): refused.
	_, err := refresh(t, cfg, tok.RefreshToken)
	wantErrorCode(t, err, "invalid_target")

	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {cfg.ClientID}}
	form.Set("resource", "http://127.0.0.1:2/mcp")
	if status, body := postForm(t, as.TokenURL(), form, "", ""); status != 400 || body["error"] != "invalid_target" {
		t.Fatalf("wrong resource: %d %v", status, body)
	}
	// Failed attempts do not consume the refresh token.
	form.Set("resource", resource)
	status, body := postForm(t, as.TokenURL(), form, "", "")
	if status != 200 || body["refresh_token"] == nil {
		t.Fatalf("refresh with resource: %d %v", status, body)
	}
	if st := as.Stats(); st.ReuseDetections != 0 || st.Refreshes != 1 || st.TokenErrors != 2 {
		t.Fatalf("stats %+v", st)
	}
	// Scope may narrow, never widen.
	form.Set("refresh_token", body["refresh_token"].(string))
	form.Set("scope", "admin")
	if status, body := postForm(t, as.TokenURL(), form, "", ""); status != 400 || body["error"] != "invalid_scope" {
		t.Fatalf("widened scope: %d %v", status, body)
	}
}

func TestNoRefreshTokens(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{NoRefreshTokens: true})
	tok := exchange(t, as, publicConfig(as), "")
	if tok.AccessToken == "" || tok.RefreshToken != "" {
		t.Fatalf("%+v", tok)
	}
	if len(as.RefreshTokenUses()) != 0 {
		t.Fatal("refresh token recorded")
	}
}

func TestRefreshRequiresOfflineAccess(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{RefreshRequiresOfflineAccess: true})
	if tok := exchange(t, as, publicConfig(as, "read"), ""); tok.RefreshToken != "" {
		t.Fatal("refresh token without offline_access")
	}
	if tok := exchange(t, as, publicConfig(as, "read", "offline_access"), ""); tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}
}

func TestOmitExpiresIn(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{OmitExpiresIn: true, AccessTTL: time.Minute})
	tok := exchange(t, as, publicConfig(as), "")
	if !tok.Expiry.IsZero() {
		t.Fatalf("expiry %v", tok.Expiry)
	}
	if info, ok := as.Validate(tok.AccessToken); !ok || time.Until(info.Expiry) > time.Minute {
		t.Fatalf("%+v", info)
	}
}

func TestClientCredentials(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})
	cc := []string{GrantClientCredentials}
	as.RegisterClient(Client{ID: "basic", Secret: "s1", GrantTypes: cc})
	as.RegisterClient(Client{ID: "post", Secret: "s2", TokenEndpointAuthMethod: AuthMethodClientSecretPost, GrantTypes: cc})
	as.RegisterClient(Client{ID: "codeonly", Secret: "s3", GrantTypes: []string{GrantAuthorizationCode}})
	as.RegisterClient(Client{ID: "pub", RedirectURIs: []string{redirectURI}})
	key, jwks := NewES256Key()
	as.RegisterClient(Client{ID: "jwt", JWKS: jwks, GrantTypes: cc})

	ctx := testCtx(t)
	token := func(c clientcredentials.Config) (*oauth2.Token, error) {
		c.TokenURL = as.TokenURL()
		return c.Token(ctx)
	}
	t.Run("client_secret_basic", func(t *testing.T) {
		tok, err := token(clientcredentials.Config{ClientID: "basic", ClientSecret: "s1", Scopes: []string{"read"},
			AuthStyle: oauth2.AuthStyleInHeader, EndpointParams: url.Values{"resource": {"http://127.0.0.1:1/mcp"}}})
		if err != nil {
			t.Fatal(err)
		}
		info, ok := as.Validate(tok.AccessToken)
		if !ok || info.ClientID != "basic" || info.Subject != "basic" || info.Resource != "http://127.0.0.1:1/mcp" || tok.RefreshToken != "" {
			t.Fatalf("%+v %v %+v", info, ok, tok)
		}
		_, err = token(clientcredentials.Config{ClientID: "basic", ClientSecret: "s1", AuthStyle: oauth2.AuthStyleInParams})
		wantErrorCode(t, err, "invalid_client") // registered for basic, used post
		_, err = token(clientcredentials.Config{ClientID: "basic", ClientSecret: "wrong", AuthStyle: oauth2.AuthStyleInHeader})
		wantErrorCode(t, err, "invalid_client")
	})
	t.Run("client_secret_post", func(t *testing.T) {
		if _, err := token(clientcredentials.Config{ClientID: "post", ClientSecret: "s2", AuthStyle: oauth2.AuthStyleInParams}); err != nil {
			t.Fatal(err)
		}
		_, err := token(clientcredentials.Config{ClientID: "post", ClientSecret: "s2", AuthStyle: oauth2.AuthStyleInHeader})
		wantErrorCode(t, err, "invalid_client")
		// Auto-detection falls back from header to params.
		if _, err := token(clientcredentials.Config{ClientID: "post", ClientSecret: "s2"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("private_key_jwt", func(t *testing.T) {
		assertion := func(k *ecdsa.PrivateKey, claims map[string]any) clientcredentials.Config {
			var a string
			var err error
			if claims == nil {
				a, err = SignClientAssertion(key, "jwt", as.TokenURL())
			} else {
				a, err = signJWT(k, claims)
			}
			if err != nil {
				t.Fatal(err)
			}
			return clientcredentials.Config{ClientID: "jwt", AuthStyle: oauth2.AuthStyleInParams, EndpointParams: url.Values{
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {a},
			}}
		}
		good := assertion(key, nil)
		tok, err := token(good)
		if err != nil {
			t.Fatal(err)
		}
		if info, _ := as.Validate(tok.AccessToken); info.ClientID != "jwt" {
			t.Fatalf("%+v", info)
		}
		_, err = token(good) // same jti
		wantErrorCode(t, err, "invalid_client")

		other, _ := NewES256Key()
		now := time.Now().Unix()
		claims := func(edit func(map[string]any)) map[string]any {
			c := map[string]any{"iss": "jwt", "sub": "jwt", "aud": as.TokenURL(), "exp": now + 60, "jti": randomString("")}
			edit(c)
			return c
		}
		for name, cfg := range map[string]clientcredentials.Config{
			"bad signature": assertion(other, claims(func(map[string]any) {})),
			"wrong aud":     assertion(key, claims(func(c map[string]any) { c["aud"] = "https://elsewhere.example/token" })),
			"expired":       assertion(key, claims(func(c map[string]any) { c["exp"] = now - 60 })),
			"no exp":        assertion(key, claims(func(c map[string]any) { delete(c, "exp") })),
			"wrong iss":     assertion(key, claims(func(c map[string]any) { c["iss"] = "basic" })),
		} {
			_, err := token(cfg)
			if errorCode(err) != "invalid_client" {
				t.Errorf("%s: %v", name, err)
			}
		}
		// Signatures that do not verify although the kid names the registered key.
		valid, err := SignClientAssertion(key, "jwt", as.TokenURL())
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(valid, ".")
		forged, _ := json.Marshal(claims(func(c map[string]any) { c["sub"], c["iss"] = "jwt", "jwt" }))
		otherSig, _ := signJWT(other, claims(func(map[string]any) {}))
		for name, a := range map[string]string{
			"tampered payload":  parts[0] + "." + b64(forged) + "." + parts[2],
			"foreign signature": parts[0] + "." + parts[1] + "." + strings.Split(otherSig, ".")[2],
		} {
			_, err := token(clientcredentials.Config{ClientID: "jwt", AuthStyle: oauth2.AuthStyleInParams, EndpointParams: url.Values{
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {a},
			}})
			if errorCode(err) != "invalid_client" {
				t.Errorf("%s: %v", name, err)
			}
		}
		// aud may be the issuer, or an array.
		if _, err := token(assertion(key, claims(func(c map[string]any) { c["aud"] = []string{"x", as.Issuer()} }))); err != nil {
			t.Errorf("aud=[issuer]: %v", err)
		}
		// A secret is no substitute for the assertion.
		_, err = token(clientcredentials.Config{ClientID: "jwt", ClientSecret: "guess", AuthStyle: oauth2.AuthStyleInParams})
		wantErrorCode(t, err, "invalid_client")
	})
	t.Run("grant not allowed", func(t *testing.T) {
		_, err := token(clientcredentials.Config{ClientID: "codeonly", ClientSecret: "s3", AuthStyle: oauth2.AuthStyleInHeader})
		wantErrorCode(t, err, "unauthorized_client")
		_, err = token(clientcredentials.Config{ClientID: "pub", AuthStyle: oauth2.AuthStyleInParams})
		wantErrorCode(t, err, "unauthorized_client")
	})
	if st := as.Stats(); st.ClientCredentialGrants != 5 {
		t.Errorf("ClientCredentialGrants = %d, want 5", st.ClientCredentialGrants)
	}
}

func TestRevocation(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})
	cfg := publicConfig(as)
	revoke := func(tok string) int {
		status, _ := postForm(t, as.RevocationURL(), url.Values{"token": {tok}, "client_id": {cfg.ClientID}}, "", "")
		return status
	}
	t0 := exchange(t, as, cfg, "")
	t1, err := refresh(t, cfg, t0.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if revoke(t1.AccessToken) != 200 {
		t.Fatal("revoke access token")
	}
	if _, ok := as.Validate(t1.AccessToken); ok {
		t.Fatal("revoked access token valid")
	}
	if _, ok := as.Validate(t0.AccessToken); !ok {
		t.Fatal("revoking one access token revoked another")
	}
	if revoke(t1.RefreshToken) != 200 {
		t.Fatal("revoke refresh token")
	}
	if _, ok := as.Validate(t0.AccessToken); ok {
		t.Fatal("revoking a refresh token left its family valid")
	}
	_, err = refresh(t, cfg, t1.RefreshToken)
	wantErrorCode(t, err, "invalid_grant")
	if revoke("unknown") != 200 {
		t.Fatal("unknown token: RFC 7009 answers 200")
	}
	if st := as.Stats(); st.Revocations != 2 || st.ReuseDetections != 0 {
		t.Fatalf("stats %+v", st)
	}

	// Another client cannot revoke the token; a confidential client must authenticate.
	as.RegisterClient(Client{ID: "conf", Secret: "pw", RedirectURIs: []string{redirectURI}})
	t2 := exchange(t, as, cfg, "")
	if status, body := postForm(t, as.RevocationURL(), url.Values{"token": {t2.AccessToken}}, "conf", "pw"); status != 400 {
		t.Fatalf("cross-client revoke: %d %v", status, body)
	}
	if status, _ := postForm(t, as.RevocationURL(), url.Values{"token": {t2.AccessToken}}, "conf", "bad"); status != 401 {
		t.Fatalf("bad credentials: %d", status)
	}
	if _, ok := as.Validate(t2.AccessToken); !ok {
		t.Fatal("token revoked by another client")
	}
}

func TestRevokeAllAndExpire(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})
	cfg := publicConfig(as)
	a, b := exchange(t, as, cfg, ""), exchange(t, as, cfg, "")
	as.ExpireAccessTokens()
	if _, ok := as.Validate(a.AccessToken); ok {
		t.Fatal("ExpireAccessTokens")
	}
	if _, err := refresh(t, cfg, b.RefreshToken); err != nil {
		t.Fatalf("refresh after expiry: %v", err)
	}
	as.RevokeAll()
	_, err := refresh(t, cfg, a.RefreshToken)
	wantErrorCode(t, err, "invalid_grant")
	if as.Stats().ReuseDetections != 0 {
		t.Fatal("a revoked (unused) token counted as reuse")
	}
}

func TestFailNextToken(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})
	cfg := publicConfig(as)
	tok := exchange(t, as, cfg, "")
	as.FailNextToken(2, http.StatusInternalServerError)
	for i := 0; i < 2; i++ {
		_, err := refresh(t, cfg, tok.RefreshToken)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.Response.StatusCode != 500 || re.ErrorCode != "server_error" {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	// Injected failures happen before processing: the token is still fresh.
	next, err := refresh(t, cfg, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	as.FailNextToken(1, http.StatusBadRequest)
	_, err = refresh(t, cfg, next.RefreshToken)
	wantErrorCode(t, err, "invalid_grant")
	if _, err := refresh(t, cfg, next.RefreshToken); err != nil {
		t.Fatal(err)
	}
	st := as.Stats()
	if st.InjectedFailures != 3 || st.Refreshes != 2 || st.ReuseDetections != 0 || st.TokenErrors != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDropNextTokenResponses(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})
	cfg := publicConfig(as)
	tok := exchange(t, as, cfg, "")
	info, _ := as.Validate(tok.AccessToken)

	as.DropNextTokenResponses(1)
	_, err := refresh(t, cfg, tok.RefreshToken)
	if err == nil || errorCode(err) != "" {
		t.Fatalf("dropped response: err = %v, want a transport error", err)
	}
	st := as.Stats()
	if st.Refreshes != 1 || st.DroppedResponses != 1 {
		t.Fatalf("the request was not processed: %+v", st)
	}
	// The client never saw the rotation; retrying with the old token is reuse.
	_, err = refresh(t, cfg, tok.RefreshToken)
	wantErrorCode(t, err, "invalid_grant")
	if st := as.Stats(); st.ReuseDetections != 1 || !as.FamilyRevoked(info.Family) {
		t.Fatalf("stats %+v", st)
	}
}

func TestTokenLatency(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})
	cfg := publicConfig(as)
	tok := exchange(t, as, cfg, "")
	as.SetTokenLatency(300 * time.Millisecond)
	start := time.Now()
	next, err := refresh(t, cfg, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("answered after %v", d)
	}
	// A client that gives up still loses the rotation.
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), oauth2.HTTPClient, http.DefaultClient), 50*time.Millisecond)
	defer cancel()
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for as.Stats().Refreshes != 2 {
		if time.Now().After(deadline) {
			t.Fatal("request not processed after the client gave up")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Parallel refreshes with one token: exactly one wins, the rest are reuse and
// revoke the family — the race a gateway must single-flight away.
func TestConcurrentRefreshRace(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{})
	cfg := publicConfig(as)
	tok := exchange(t, as, cfg, "")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = refresh(t, cfg, tok.RefreshToken) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if errorCode(err) != "invalid_grant" {
			t.Errorf("unexpected error %v", err)
		}
	}
	st := as.Stats()
	if ok != 1 || st.Refreshes != 1 || st.ReuseDetections != n-1 {
		t.Fatalf("ok=%d stats %+v", ok, st)
	}
	for _, u := range as.RefreshTokenUses() {
		if u.Generation == 0 && (u.Presented != n || u.Succeeded != 1 || !u.Revoked) {
			t.Fatalf("%+v", u)
		}
	}
}

func TestMint(t *testing.T) {
	as := NewAuthServer(t, AuthServerOptions{AccessTTL: time.Minute})
	cfg := publicConfig(as)
	tok := as.Mint(cfg.ClientID, []string{"read"}, "http://127.0.0.1:1/mcp")
	info, ok := as.Validate(tok.AccessToken)
	if !ok || info.ClientID != cfg.ClientID || info.Resource != "http://127.0.0.1:1/mcp" || !tok.Expiry.Equal(info.Expiry) {
		t.Fatalf("%+v %v %+v", info, ok, tok)
	}
	next, err := refresh(t, cfg, tok.RefreshToken)
	if err != nil || next.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh of a minted token: %v", err)
	}
	if st := as.Stats(); st.TokenRequests != 1 || st.Refreshes != 1 {
		t.Fatalf("stats %+v", st)
	}
}
