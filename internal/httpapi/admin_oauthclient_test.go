package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/oauth"
)

func ecPrivateKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// adminRaw calls the admin API and returns the status and the raw body.
func (g *gateway) adminRaw(method, path string, in any) (int, string) {
	g.t.Helper()
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest(method, g.srv.URL+path, strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestAdminServerOAuthClient: a server's pre-registered client settings go in
// through the admin API, come back in its view (the key never does), and
// reach the OAuth manager.
func TestAdminServerOAuthClient(t *testing.T) {
	forEachStore(t, func(t *testing.T, pg bool) {
		gw := newGateway(t, gatewayOptions{postgres: pg})
		key := ecPrivateKeyPEM(t)
		keyBody := strings.Split(key, "\n")[2] // a line of the key's base64

		tests := []struct {
			name  string
			req   adminapi.CreateServerRequest
			view  adminapi.Server
			creds oauth.PreRegistered
		}{{
			name: "private_key_jwt with scopes",
			req: adminapi.CreateServerRequest{Name: "jwt", URL: "https://jwt.example/mcp", OAuthClientID: "cid",
				OAuthAuthMethod: "private_key_jwt", OAuthPrivateKey: key, OAuthScopes: []string{"read", "write"}},
			view: adminapi.Server{Name: "jwt", URL: "https://jwt.example/mcp", Headers: []string{}, OAuthClientID: "cid",
				HasOAuthClientSecret: true, OAuthAuthMethod: "private_key_jwt", OAuthScopes: []string{"read", "write"}, Source: "api"},
			creds: oauth.PreRegistered{ClientID: "cid", Secret: key, AuthMethod: "private_key_jwt", Scopes: []string{"read", "write"}},
		}, {
			name: "key implies private_key_jwt",
			req:  adminapi.CreateServerRequest{Name: "implied", URL: "https://i.example/mcp", OAuthClientID: "cid", OAuthPrivateKey: key},
			view: adminapi.Server{Name: "implied", URL: "https://i.example/mcp", Headers: []string{}, OAuthClientID: "cid",
				HasOAuthClientSecret: true, OAuthAuthMethod: "private_key_jwt", Source: "api"},
			creds: oauth.PreRegistered{ClientID: "cid", Secret: key, AuthMethod: "private_key_jwt"},
		}, {
			name: "client_secret_post",
			req: adminapi.CreateServerRequest{Name: "post", URL: "https://p.example/mcp", OAuthClientID: "cid",
				OAuthClientSecret: "s3cret-value", OAuthAuthMethod: "client_secret_post"},
			view: adminapi.Server{Name: "post", URL: "https://p.example/mcp", Headers: []string{}, OAuthClientID: "cid",
				HasOAuthClientSecret: true, OAuthAuthMethod: "client_secret_post", Source: "api"},
			creds: oauth.PreRegistered{ClientID: "cid", Secret: "s3cret-value", AuthMethod: "client_secret_post"},
		}, {
			name:  "scopes only, client registered dynamically",
			req:   adminapi.CreateServerRequest{Name: "scopes", URL: "https://s.example/mcp", OAuthScopes: []string{"repo"}},
			view:  adminapi.Server{Name: "scopes", URL: "https://s.example/mcp", Headers: []string{}, OAuthScopes: []string{"repo"}, Source: "api"},
			creds: oauth.PreRegistered{Scopes: []string{"repo"}},
		}}
		ignoreTimes := cmpopts.IgnoreFields(adminapi.Server{}, "CreatedAt", "UpdatedAt")
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, body := gw.adminRaw("POST", "/api/v1/servers", tt.req)
				if code != http.StatusCreated {
					t.Fatalf("create: status %d: %s", code, body)
				}
				var created adminapi.Server
				if err := json.Unmarshal([]byte(body), &created); err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(tt.view, created, ignoreTimes); d != "" {
					t.Errorf("created view (-want +got):\n%s", d)
				}
				var got adminapi.Server
				gw.admin("GET", "/api/v1/servers/"+tt.req.Name, nil, &got)
				if d := cmp.Diff(tt.view, got, ignoreTimes); d != "" {
					t.Errorf("GET view (-want +got):\n%s", d)
				}
				_, list := gw.adminRaw("GET", "/api/v1/servers", nil)
				for _, resp := range []string{body, list} {
					if strings.Contains(resp, keyBody) || strings.Contains(resp, "PRIVATE KEY") || strings.Contains(resp, "s3cret-value") {
						t.Errorf("the admin API returned a secret: %s", resp)
					}
				}
				creds, err := regCreds{gw.handler.Registry}.OAuthClient(context.Background(), tt.req.Name)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(tt.creds, creds, cmpopts.EquateEmpty()); d != "" {
					t.Errorf("credentials handed to the OAuth manager (-want +got):\n%s", d)
				}
			})
		}
	})
}

func TestAdminServerOAuthClientErrors(t *testing.T) {
	gw := newGateway(t, gatewayOptions{})
	key := ecPrivateKeyPEM(t)
	const material = "U0VDUkVUS0VZTUFURVJJQUxT"
	badKey := "-----BEGIN PRIVATE KEY-----\n" + material + "\n-----END PRIVATE KEY-----\n"
	tests := []struct {
		name string
		req  adminapi.CreateServerRequest
		says string
	}{
		{"secret and key", adminapi.CreateServerRequest{OAuthClientID: "cid", OAuthClientSecret: "s", OAuthPrivateKey: key}, "not both"},
		{"key that does not parse", adminapi.CreateServerRequest{OAuthClientID: "cid", OAuthPrivateKey: badKey}, "not a valid PKCS #8 private key"},
		{"key that is not PEM", adminapi.CreateServerRequest{OAuthClientID: "cid", OAuthPrivateKey: material}, "not PEM"},
		{"key with a secret method", adminapi.CreateServerRequest{OAuthClientID: "cid", OAuthPrivateKey: key, OAuthAuthMethod: "client_secret_basic"}, "only used with auth method private_key_jwt"},
		{"secret with private_key_jwt", adminapi.CreateServerRequest{OAuthClientID: "cid", OAuthClientSecret: material, OAuthAuthMethod: "private_key_jwt"}, "takes a private key"},
		{"unknown method", adminapi.CreateServerRequest{OAuthClientID: "cid", OAuthAuthMethod: "magic"}, `oauth auth method "magic"`},
		{"method without client", adminapi.CreateServerRequest{OAuthAuthMethod: "none"}, "needs an OAuth client id"},
		{"bad scope", adminapi.CreateServerRequest{OAuthScopes: []string{"a b"}}, `oauth scope "a b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.Name, req.URL = "bad", "https://bad.example/mcp"
			code, body := gw.adminRaw("POST", "/api/v1/servers", req)
			var e adminapi.ErrorBody
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("status %d, body %s: %v", code, body, err)
			}
			if code != http.StatusBadRequest || e.Error.Code != "invalid" || !strings.Contains(e.Error.Message, tt.says) {
				t.Errorf("status %d, error %+v; want 400 invalid saying %q", code, e.Error, tt.says)
			}
			if strings.Contains(body, material) || strings.Contains(body, strings.Split(key, "\n")[2]) {
				t.Errorf("the error echoes key material: %s", body)
			}
			if strings.Contains(gw.logText(), material) {
				t.Errorf("the log holds key material")
			}
		})
	}
	if code := gw.admin("GET", "/api/v1/servers/bad", nil, nil); code != http.StatusNotFound {
		t.Errorf("a rejected server exists: GET status %d", code)
	}
}
