package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// A DPoP-bound upstream token (RFC 9449) goes out as "Authorization: DPoP"
// with a fresh proof for each request, and the upstream's use_dpop_nonce
// challenge is answered by one retry with its nonce, invisibly to the client.
func TestProxyPresentsDPoPTokensWithProofsAndNonces(t *testing.T) {
	const rsNonce = "rs-nonce-1"
	var (
		srv  *httptest.Server
		mu   sync.Mutex
		seen []map[string]any // claims of the proofs on /mcp requests
	)
	claimsOf := func(proof string) map[string]any {
		parts := strings.Split(proof, ".")
		if len(parts) != 3 {
			return nil
		}
		b, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var c map[string]any
		json.Unmarshal(b, &c)
		return c
	}
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := srv.URL
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/oauth-protected-resource/mcp":
			json.NewEncoder(w).Encode(map[string]any{"resource": base + "/mcp", "authorization_servers": []string{base}})
		case "/.well-known/oauth-authorization-server":
			json.NewEncoder(w).Encode(map[string]any{
				"issuer": base, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
				"registration_endpoint": base + "/register", "response_types_supported": []string{"code"},
				"code_challenge_methods_supported": []string{"S256"}, "token_endpoint_auth_methods_supported": []string{"none"},
				"dpop_signing_alg_values_supported": []string{"ES256"},
			})
		case "/register":
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"client_id":"client-1","token_endpoint_auth_method":"none"}`)
		case "/authorize":
			q := r.URL.Query()
			to, _ := url.Parse(q.Get("redirect_uri"))
			to.RawQuery = url.Values{"code": {"code-1"}, "state": {q.Get("state")}}.Encode()
			http.Redirect(w, r, to.String(), http.StatusFound)
		case "/token":
			if c := claimsOf(r.Header.Get("DPoP")); c == nil || c["htu"] != base+"/token" {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"error":"invalid_dpop_proof"}`)
				return
			}
			fmt.Fprint(w, `{"access_token":"at-1","token_type":"DPoP","expires_in":3600}`)
		case "/mcp":
			var msg struct {
				ID json.RawMessage `json:"id"`
			}
			json.NewDecoder(r.Body).Decode(&msg)
			if r.Header.Get("Authorization") == "" {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP resource_metadata="%s/.well-known/oauth-protected-resource/mcp"`, base))
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			c := claimsOf(r.Header.Get("DPoP"))
			mu.Lock()
			seen = append(seen, c)
			mu.Unlock()
			ath := sha256.Sum256([]byte("at-1"))
			if r.Header.Get("Authorization") != "DPoP at-1" || c == nil || c["htm"] != "POST" || c["htu"] != base+"/mcp" ||
				c["ath"] != base64.RawURLEncoding.EncodeToString(ath[:]) {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if c["nonce"] != rsNonce {
				w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
				w.Header().Set("DPoP-Nonce", rsNonce)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"tools":[]}}`, msg.ID)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	g := newGateway(t, gatewayOptions{})
	g.addServer("up", srv.URL+"/mcp", nil)
	tok := g.grant("alice", "", "up").Token
	// Connect alice: the browser's part, headlessly.
	var started struct {
		AuthorizationURL string `json:"authorization_url"`
	}
	if code := g.admin("POST", "/api/v1/connections", map[string]any{"server": "up", "user": "alice"}, &started); code != http.StatusAccepted {
		t.Fatalf("start the authorization: status %d", code)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(started.AuthorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	resp, err = http.Get(g.srv.URL + "/oauth/callback?" + loc.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}

	for i := 1; i <= 2; i++ {
		resp = g.post("up", tok, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/list","params":{}}`, i),
			map[string]string{"MCP-Protocol-Version": "2025-11-25"})
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"tools":[]`) {
			t.Fatalf("call %d through the gateway: %d %s", i, resp.StatusCode, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// First call: refused for want of the nonce, retried with it; the second
	// call carries the remembered nonce at once. Every proof is fresh.
	if len(seen) != 3 || seen[0]["nonce"] != nil || seen[1]["nonce"] != rsNonce || seen[2]["nonce"] != rsNonce {
		t.Fatalf("proofs seen upstream: %v", seen)
	}
	if seen[0]["jti"] == seen[1]["jti"] || seen[1]["jti"] == seen[2]["jti"] {
		t.Fatalf("a proof was reused: %v", seen)
	}
}
