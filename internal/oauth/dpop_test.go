package oauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mcpgate/mcpgate/internal/oauth"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
)

// dpopServer is an authorization server and protected MCP server in one
// that wants DPoP (RFC 9449): it advertises ES256 proofs, requires a proof
// with its nonce at the token endpoint and issues DPoP tokens.
type dpopServer struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	tokenCalls []url.Values // token requests that were answered with a token
	challenged int          // use_dpop_nonce answers
	keys       map[string]bool
}

const asNonce = "as-nonce-1"

func newDPoPServer(t *testing.T) *dpopServer {
	d := &dpopServer{t: t, keys: map[string]bool{}}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	return d
}

// state returns what the server saw so far.
func (d *dpopServer) state() (tokenCalls []url.Values, challenged int, keys map[string]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	keys = map[string]bool{}
	for k := range d.keys {
		keys[k] = true
	}
	return append([]url.Values(nil), d.tokenCalls...), d.challenged, keys
}

func (d *dpopServer) serve(w http.ResponseWriter, r *http.Request) {
	base := d.srv.URL
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/.well-known/oauth-protected-resource/mcp":
		json.NewEncoder(w).Encode(map[string]any{"resource": base + "/mcp", "authorization_servers": []string{base}})
	case "/.well-known/oauth-authorization-server":
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": base, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
			"response_types_supported": []string{"code"}, "code_challenge_methods_supported": []string{"S256"},
			"token_endpoint_auth_methods_supported":          []string{"none"},
			"authorization_response_iss_parameter_supported": true,
			"dpop_signing_alg_values_supported":              []string{"ES256"},
		})
	case "/authorize":
		q := r.URL.Query()
		to, _ := url.Parse(q.Get("redirect_uri"))
		to.RawQuery = url.Values{"code": {"code-1"}, "state": {q.Get("state")}, "iss": {base}}.Encode()
		http.Redirect(w, r, to.String(), http.StatusFound)
	case "/token":
		r.ParseForm()
		claims, jwk, err := verifyProof(r.Header.Get("DPoP"))
		if err != nil || claims["htm"] != "POST" || claims["htu"] != base+"/token" || claims["ath"] != nil {
			d.t.Errorf("token request proof: %v %v", err, claims)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_dpop_proof"}`)
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if claims["nonce"] != asNonce {
			d.challenged++
			w.Header().Set("DPoP-Nonce", asNonce)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"use_dpop_nonce"}`)
			return
		}
		d.keys[jwk] = true
		d.tokenCalls = append(d.tokenCalls, r.PostForm)
		n := len(d.tokenCalls)
		fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"DPoP","refresh_token":"rt-%d","expires_in":3600}`, n, n)
	default:
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP resource_metadata="%s/.well-known/oauth-protected-resource/mcp"`, base))
		w.WriteHeader(http.StatusUnauthorized)
	}
}

// verifyProof checks a DPoP proof's form and ES256 signature and returns its
// claims and its key (as JSON).
func verifyProof(proof string) (map[string]any, string, error) {
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return nil, "", fmt.Errorf("not a JWS: %q", proof)
	}
	var header struct {
		Typ string            `json:"typ"`
		Alg string            `json:"alg"`
		JWK map[string]string `json:"jwk"`
	}
	var claims map[string]any
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	c, _ := base64.RawURLEncoding.DecodeString(parts[1])
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if json.Unmarshal(h, &header) != nil || json.Unmarshal(c, &claims) != nil {
		return nil, "", fmt.Errorf("undecodable proof")
	}
	if header.Typ != "dpop+jwt" || header.Alg != "ES256" || header.JWK["kty"] != "EC" || header.JWK["d"] != "" {
		return nil, "", fmt.Errorf("header %+v", header)
	}
	x, _ := base64.RawURLEncoding.DecodeString(header.JWK["x"])
	y, _ := base64.RawURLEncoding.DecodeString(header.JWK["y"])
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil || len(sig) != 64 {
		return nil, "", fmt.Errorf("key or signature: %v", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, "", fmt.Errorf("bad signature")
	}
	if claims["jti"] == nil || claims["iat"] == nil {
		return nil, "", fmt.Errorf("claims %v", claims)
	}
	jwk, _ := json.Marshal(header.JWK)
	return claims, string(jwk), nil
}

// An authorization server that takes DPoP proofs gets them on every token
// request (nonce challenge retried once), its DPoP tokens are accepted and
// kept as such through refresh, and the proofs for the upstream bind the
// token (ath) and carry the resource server's nonce. Every process uses the
// one key kept in the store.
func TestDPoPBoundTokens(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
	d := newDPoPServer(t)
	f.addServer("dpop", d.srv.URL+"/mcp")
	f.pre["dpop"] = oauth.PreRegistered{ClientID: "client-1"}
	ctx := context.Background()

	started, err := f.mgr.Start(ctx, "dpop", "alice")
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.mgr.Complete(ctx, f.authorize(started.AuthorizationURL))
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	if calls, challenged, _ := d.state(); c.TokenType != "DPoP" || challenged != 1 || len(calls) != 1 {
		t.Fatalf("token type %q, nonce challenges %d, tokens %d", c.TokenType, challenged, len(calls))
	}
	cred, err := f.mgr.Token(ctx, "dpop", "alice")
	if err != nil || cred.Token != "at-1" || cred.TokenType != "DPoP" {
		t.Fatalf("credential %+v %v", cred, err)
	}

	target := d.srv.URL + "/mcp"
	proofFor := func(m *oauth.Manager, cred oauth.Credential) (map[string]any, string) {
		t.Helper()
		p, err := m.DPoPProof(ctx, cred, "POST", target+"?q=1#f")
		if err != nil {
			t.Fatal(err)
		}
		claims, jwk, err := verifyProof(p)
		if err != nil {
			t.Fatal(err)
		}
		ath := sha256.Sum256([]byte(cred.Token))
		if claims["htm"] != "POST" || claims["htu"] != target || claims["ath"] != base64.RawURLEncoding.EncodeToString(ath[:]) {
			t.Fatalf("resource proof claims: %v", claims)
		}
		return claims, jwk
	}
	first, jwk := proofFor(f.mgr, cred)
	if _, _, keys := d.state(); first["nonce"] != nil || !keys[jwk] {
		t.Fatalf("first resource proof: nonce %v, same key as at the token endpoint: %v", first["nonce"], keys[jwk])
	}
	f.mgr.DPoPNonce(target, "rs-nonce-1")
	if again, _ := proofFor(f.mgr, cred); again["nonce"] != "rs-nonce-1" || again["jti"] == first["jti"] {
		t.Fatalf("after a nonce: %v (first jti %v)", again, first["jti"])
	}

	// A refresh (here after a 401) also proves possession and stays DPoP.
	if err := f.mgr.Rejected(ctx, cred); err != nil {
		t.Fatal(err)
	}
	cred2, err := f.mgr.Token(ctx, "dpop", "alice")
	if err != nil || cred2.Token != "at-2" || cred2.TokenType != "DPoP" {
		t.Fatalf("after refresh: %+v %v", cred2, err)
	}
	if calls, _, _ := d.state(); len(calls) != 2 || calls[1].Get("grant_type") != "refresh_token" || calls[1].Get("refresh_token") != "rt-1" {
		t.Fatalf("token requests: %v", calls)
	}

	// Another gateway process on the same store proves with the same key.
	if _, jwk2 := proofFor(f.newManager("proc-2"), cred2); jwk2 != jwk {
		t.Fatalf("a second process uses another DPoP key")
	}
}
