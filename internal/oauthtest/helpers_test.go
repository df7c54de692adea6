package oauthtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const redirectURI = "http://127.0.0.1:9/callback"

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Timeout: 10 * time.Second})
}

// noRedirect is a client that reads Location instead of following it.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// publicConfig pre-registers a public client and returns its x/oauth2 config.
func publicConfig(as *AuthServer, scopes ...string) *oauth2.Config {
	as.RegisterClient(Client{ID: "public-client", RedirectURIs: []string{redirectURI}})
	return &oauth2.Config{
		ClientID:    "public-client",
		Endpoint:    as.Endpoint(),
		RedirectURL: redirectURI,
		Scopes:      scopes,
	}
}

// authorizeResponse GETs the authorization URL and returns the redirect's query.
func authorizeResponse(t *testing.T, authURL string) url.Values {
	t.Helper()
	resp, err := noRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorize: status %d (%s), want 302", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc.String(), redirectURI) && !strings.HasPrefix(loc.String(), "http://127.0.0.1:9/") {
		t.Fatalf("redirected to %s", loc)
	}
	return loc.Query()
}

// authorize runs the authorization request and returns the code and verifier.
func authorize(t *testing.T, as *AuthServer, cfg *oauth2.Config, resource string) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", resource))
	}
	q := authorizeResponse(t, cfg.AuthCodeURL("st4te", opts...))
	if e := q.Get("error"); e != "" {
		t.Fatalf("authorize: error=%s (%s)", e, q.Get("error_description"))
	}
	if q.Get("state") != "st4te" {
		t.Fatalf("state = %q", q.Get("state"))
	}
	if q.Get("iss") != as.Issuer() {
		t.Fatalf("iss = %q, want %q", q.Get("iss"), as.Issuer())
	}
	return q.Get("code"), verifier
}

// exchange runs the code flow end to end.
func exchange(t *testing.T, as *AuthServer, cfg *oauth2.Config, resource string) *oauth2.Token {
	t.Helper()
	code, verifier := authorize(t, as, cfg, resource)
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}
	if resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", resource))
	}
	tok, err := cfg.Exchange(testCtx(t), code, opts...)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// errorCode returns the OAuth error code of an x/oauth2 error ("" if none).
func errorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// refresh presents a refresh token (x/oauth2's refresher; it sends no resource).
func refresh(t *testing.T, cfg *oauth2.Config, rt string) (*oauth2.Token, error) {
	t.Helper()
	return cfg.TokenSource(testCtx(t), &oauth2.Token{RefreshToken: rt}).Token()
}

// postToken posts a raw form to the token endpoint.
func postForm(t *testing.T, endpoint string, form url.Values, user, pass string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func wantErrorCode(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want error %s", want)
	}
	if got := errorCode(err); got != want {
		t.Fatalf("error = %v (code %q), want %s", err, got, want)
	}
}
