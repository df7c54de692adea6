package registry_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/registry"
	"github.com/mcpgate/mcpgate/internal/seal"
	"github.com/mcpgate/mcpgate/internal/store/sqlite"
)

func newRegistry(t *testing.T) (*registry.Registry, *sqlite.DB) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "reg.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := seal.NewKeyring(seal.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return registry.New(st, keys, nil), st
}

func pemBlock(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func ecKey(t *testing.T, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pkcs8(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PRIVATE KEY", der)
}

func TestOAuthClientSettings(t *testing.T) {
	ec := ecKey(t, elliptic.P256())
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   registry.Input
		want registry.OAuthClient
	}{{
		name: "nothing configured",
		in:   registry.Input{},
		want: registry.OAuthClient{},
	}, {
		name: "secret, method from metadata, scopes",
		in:   registry.Input{OAuthClientID: "cid", OAuthClientSecret: "s3cret", OAuthScopes: []string{"read", "offline_access"}},
		want: registry.OAuthClient{ID: "cid", Secret: "s3cret", Scopes: []string{"read", "offline_access"}},
	}, {
		name: "client_secret_post",
		in:   registry.Input{OAuthClientID: "cid", OAuthClientSecret: "s3cret", OAuthAuthMethod: "client_secret_post"},
		want: registry.OAuthClient{ID: "cid", Secret: "s3cret", AuthMethod: "client_secret_post"},
	}, {
		name: "public pre-registered client",
		in:   registry.Input{OAuthClientID: "cid", OAuthAuthMethod: "none"},
		want: registry.OAuthClient{ID: "cid", AuthMethod: "none"},
	}, {
		name: "EC P-256 key in PKCS #8",
		in:   registry.Input{OAuthClientID: "cid", OAuthAuthMethod: "private_key_jwt", OAuthPrivateKey: pkcs8(t, ec)},
		want: registry.OAuthClient{ID: "cid", Secret: pkcs8(t, ec), AuthMethod: "private_key_jwt"},
	}, {
		name: "EC key in SEC 1, method implied by the key",
		in:   registry.Input{OAuthClientID: "cid", OAuthPrivateKey: pemBlock("EC PRIVATE KEY", sec1), OAuthScopes: []string{"api"}},
		want: registry.OAuthClient{ID: "cid", Secret: pemBlock("EC PRIVATE KEY", sec1), AuthMethod: "private_key_jwt", Scopes: []string{"api"}},
	}, {
		name: "RSA key in PKCS #1",
		in:   registry.Input{OAuthClientID: "cid", OAuthPrivateKey: pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))},
		want: registry.OAuthClient{ID: "cid", Secret: pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), AuthMethod: "private_key_jwt"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, st := newRegistry(t)
			in := tt.in
			in.Name, in.URL = "up", "https://up.example/mcp"
			if _, err := reg.Add(t.Context(), in); err != nil {
				t.Fatalf("Add: %v", err)
			}
			got, err := reg.OAuthClient(t.Context(), "up")
			if err != nil {
				t.Fatalf("OAuthClient: %v", err)
			}
			if d := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("OAuthClient (-want +got):\n%s", d)
			}
			stored, err := st.GetServer(t.Context(), "up")
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.Secret != "" && bytes.Contains(stored.OAuthClientSecret, []byte(tt.want.Secret)) {
				t.Errorf("the store holds the secret in clear")
			}
			if stored.OAuthAuthMethod != tt.want.AuthMethod || !cmp.Equal(stored.OAuthScopes, tt.want.Scopes, cmpopts.EquateEmpty()) {
				t.Errorf("stored method %q, scopes %q; want %q, %q", stored.OAuthAuthMethod, stored.OAuthScopes, tt.want.AuthMethod, tt.want.Scopes)
			}
		})
	}
}

func TestOAuthClientSettingsRejected(t *testing.T) {
	ed25519Key := func() any {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}()
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	// Key material that must never reach an error message.
	const marker = "TOPSECRETKEYMATERIAL"
	corrupt := pemBlock("PRIVATE KEY", []byte(marker+marker))
	good := pkcs8(t, ecKey(t, elliptic.P256()))
	tests := []struct {
		name string
		in   registry.Input
		says string
	}{
		{"secret and key", registry.Input{OAuthClientID: "cid", OAuthClientSecret: "s", OAuthPrivateKey: good}, "not both"},
		{"secret with private_key_jwt", registry.Input{OAuthClientID: "cid", OAuthClientSecret: marker, OAuthAuthMethod: "private_key_jwt"}, "takes a private key, not a client secret"},
		{"key with another method", registry.Input{OAuthClientID: "cid", OAuthPrivateKey: good, OAuthAuthMethod: "client_secret_basic"}, "only used with auth method private_key_jwt"},
		{"key without client id", registry.Input{OAuthPrivateKey: good}, "needs an OAuth client id"},
		{"not PEM", registry.Input{OAuthClientID: "cid", OAuthPrivateKey: marker}, "not PEM"},
		{"corrupt PKCS #8", registry.Input{OAuthClientID: "cid", OAuthPrivateKey: corrupt}, "not a valid PKCS #8 private key"},
		{"corrupt SEC 1", registry.Input{OAuthClientID: "cid", OAuthPrivateKey: pemBlock("EC PRIVATE KEY", []byte(marker))}, "not a valid SEC 1 EC private key"},
		{"certificate", registry.Input{OAuthClientID: "cid", OAuthPrivateKey: pemBlock("CERTIFICATE", []byte(marker))}, `PEM block is "CERTIFICATE"`},
		{"encrypted key", registry.Input{OAuthClientID: "cid", OAuthPrivateKey: pemBlock("ENCRYPTED PRIVATE KEY", []byte(marker))}, "unencrypted"},
		{"P-384", registry.Input{OAuthClientID: "cid", OAuthPrivateKey: pkcs8(t, ecKey(t, elliptic.P384()))}, "P-384 is not supported, use P-256"},
		{"Ed25519", registry.Input{OAuthClientID: "cid", OAuthPrivateKey: pkcs8(t, ed25519Key)}, "use EC P-256 or RSA"},
		{"short RSA", registry.Input{OAuthClientID: "cid", OAuthPrivateKey: pkcs8(t, smallRSA)}, "1024 bits is too short"},
		{"unknown method", registry.Input{OAuthClientID: "cid", OAuthAuthMethod: "client_secret_jwt"}, "use none, client_secret_basic"},
		{"bad scope", registry.Input{OAuthScopes: []string{"read write"}}, "oauth scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, _ := newRegistry(t)
			in := tt.in
			in.Name, in.URL = "up", "https://up.example/mcp"
			_, err := reg.Add(t.Context(), in)
			if !errors.Is(err, mcpgate.ErrInvalid) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("Add = %v, want ErrInvalid saying %q", err, tt.says)
			}
			if strings.Contains(err.Error(), marker) || strings.Contains(err.Error(), good[40:60]) {
				t.Errorf("error echoes the key or secret: %v", err)
			}
			if all, _ := reg.List(t.Context()); len(all) != 0 {
				t.Errorf("a rejected server was stored: %+v", all)
			}
			// Declare checks the same way.
			if err := reg.Declare(t.Context(), []registry.Input{in}); !errors.Is(err, mcpgate.ErrInvalid) {
				t.Errorf("Declare = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestDeclareOAuthSettings: config-declared servers carry the settings, and
// a re-declaration replaces them.
func TestDeclareOAuthSettings(t *testing.T) {
	reg, _ := newRegistry(t)
	key := pkcs8(t, ecKey(t, elliptic.P256()))
	first := registry.Input{Name: "up", URL: "https://up.example/mcp", OAuthClientID: "cid", OAuthPrivateKey: key, OAuthScopes: []string{"a"}}
	if err := reg.Declare(t.Context(), []registry.Input{first}); err != nil {
		t.Fatalf("Declare: %v", err)
	}
	got, err := reg.OAuthClient(t.Context(), "up")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(registry.OAuthClient{ID: "cid", Secret: key, AuthMethod: "private_key_jwt", Scopes: []string{"a"}}, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("after Declare (-want +got):\n%s", d)
	}
	second := registry.Input{Name: "up", URL: "https://up.example/mcp", OAuthClientID: "cid2", OAuthClientSecret: "s", OAuthAuthMethod: "client_secret_basic"}
	if err := reg.Declare(t.Context(), []registry.Input{second}); err != nil {
		t.Fatalf("Declare again: %v", err)
	}
	got, err = reg.OAuthClient(t.Context(), "up")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(registry.OAuthClient{ID: "cid2", Secret: "s", AuthMethod: "client_secret_basic"}, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("after re-Declare (-want +got):\n%s", d)
	}
	if _, err := reg.OAuthClient(t.Context(), "nope"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("OAuthClient(unknown) = %v, want ErrNotFound", err)
	}
}
