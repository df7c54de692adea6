package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/config"
)

func ecKeyPEM(t *testing.T) string {
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

const appAdminToken = "app-admin-token-0123456789"

// bootApp starts a gateway in-process on a free port with cfg's data dir
// and seal key and points the CLI at it. stop stops it; it is also called
// when the test ends.
func bootApp(t *testing.T, cfg config.Config) (a *App, stop func()) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	cfg.AdminToken = config.Secret{Value: appAdminToken}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := NewApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatalf("NewApp: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("gateway did not stop")
		}
	}
	t.Cleanup(stop)
	t.Setenv("MCPGATE_URL", "http://"+a.Addr())
	t.Setenv("MCPGATE_ADMIN_TOKEN", appAdminToken)
	return a, stop
}

// squeeze collapses runs of spaces, so table output can be matched
// whatever its column widths.
func squeeze(s string) string {
	return regexp.MustCompile(` {2,}`).ReplaceAllString(s, " ")
}

func TestServerAddOAuthFlags(t *testing.T) {
	key := ecKeyPEM(t)
	keyFile := writeFile(t, "key.pem", key)
	secretFile := writeFile(t, "secret", "file-secret\n")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantReq    *adminapi.CreateServerRequest
		wantStderr string
	}{{
		name: "private key, method and scopes",
		args: []string{"server", "add", "gh", "--url", "https://x/mcp", "--oauth-client-id", "cid",
			"--oauth-auth-method", "private_key_jwt", "--oauth-private-key-file", keyFile,
			"--oauth-scope", "read", "--oauth-scope", "write:org"},
		wantReq: &adminapi.CreateServerRequest{Name: "gh", URL: "https://x/mcp", OAuthClientID: "cid",
			OAuthAuthMethod: "private_key_jwt", OAuthPrivateKey: strings.TrimRight(key, "\n"), OAuthScopes: []string{"read", "write:org"}},
	}, {
		name: "secret with an explicit method",
		args: []string{"server", "add", "gh", "--url", "https://x/mcp", "--oauth-client-id", "cid",
			"--oauth-client-secret-file", secretFile, "--oauth-auth-method", "client_secret_post"},
		wantReq: &adminapi.CreateServerRequest{Name: "gh", URL: "https://x/mcp", OAuthClientID: "cid",
			OAuthClientSecret: "file-secret", OAuthAuthMethod: "client_secret_post"},
	}, {
		name:    "scopes alone",
		args:    []string{"server", "add", "gh", "--url", "https://x/mcp", "--oauth-scope", "repo"},
		wantReq: &adminapi.CreateServerRequest{Name: "gh", URL: "https://x/mcp", OAuthScopes: []string{"repo"}},
	}, {
		name: "key and secret",
		args: []string{"server", "add", "gh", "--url", "https://x/mcp", "--oauth-client-id", "cid",
			"--oauth-private-key-file", keyFile, "--oauth-client-secret-file", secretFile},
		wantCode:   2,
		wantStderr: "use --oauth-private-key-file or an OAuth client secret, not both",
	}, {
		name:       "key without client id",
		args:       []string{"server", "add", "gh", "--url", "https://x/mcp", "--oauth-private-key-file", keyFile},
		wantCode:   2,
		wantStderr: "an OAuth private key needs --oauth-client-id",
	}, {
		name:       "key file missing",
		args:       []string{"server", "add", "gh", "--url", "https://x/mcp", "--oauth-client-id", "cid", "--oauth-private-key-file", "/nonexistent/key.pem"},
		wantCode:   1,
		wantStderr: "OAuth private key: secret file:",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gateway(t)
			r := runCLI(t, "", tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.wantStderr)
			}
			if strings.Contains(r.stderr+r.stdout, "PRIVATE KEY") {
				t.Errorf("output shows the key:\n%s%s", r.stdout, r.stderr)
			}
			got, created := f.CreateServerRequest("gh")
			switch {
			case tt.wantReq == nil && created:
				t.Errorf("server created with %+v, want none", got)
			case tt.wantReq != nil && !reflect.DeepEqual(got, *tt.wantReq):
				t.Errorf("request = %+v\nwant      %+v", got, *tt.wantReq)
			}
		})
	}
}

func TestPrintServerOAuth(t *testing.T) {
	tests := []struct {
		name string
		s    adminapi.Server
		want []string
	}{{
		name: "private_key_jwt",
		s: adminapi.Server{Name: "a", OAuthClientID: "cid", HasOAuthClientSecret: true,
			OAuthAuthMethod: "private_key_jwt", OAuthScopes: []string{"read", "write"}},
		want: []string{"OAuth private key: set\n", "OAuth auth method: private_key_jwt\n", "OAuth scopes: read write\n"},
	}, {
		name: "method from metadata",
		s:    adminapi.Server{Name: "a", OAuthClientID: "cid", HasOAuthClientSecret: true},
		want: []string{"OAuth client secret: set\n", "OAuth auth method: from the authorization server's metadata\n", "OAuth scopes: discovered\n"},
	}, {
		name: "no client",
		s:    adminapi.Server{Name: "a"},
		want: []string{"OAuth client secret: not set\n", "OAuth auth method: -\n"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := printServer(&b, tt.s); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(squeeze(b.String()), w) {
					t.Errorf("printServer:\n%s\nwant a line %q", b.String(), w)
				}
			}
		})
	}
	for s, want := range map[*adminapi.Server]string{
		{OAuthClientID: "cid", OAuthAuthMethod: "private_key_jwt"}: "cid (private_key_jwt)",
		{OAuthClientID: "cid"}: "cid",
		{}:                     "-",
	} {
		if got := oauthClientCell(*s); got != want {
			t.Errorf("oauthClientCell(%+v) = %q, want %q", *s, got, want)
		}
	}
}

// TestServerOAuthAgainstGateway: the flags reach a real gateway, which keeps
// the key sealed and shows only the method.
func TestServerOAuthAgainstGateway(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	bootApp(t, cfg)
	key := ecKeyPEM(t)
	keyFile := writeFile(t, "key.pem", key)
	out := mustRun(t, "server", "add", "corp", "--url", "https://corp.example/mcp", "--oauth-client-id", "cid",
		"--oauth-private-key-file", keyFile, "--oauth-scope", "read", "--oauth-scope", "write", "-o", "json")
	var s adminapi.Server
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("server add -o json: %v\n%s", err, out)
	}
	if s.OAuthAuthMethod != "private_key_jwt" || !reflect.DeepEqual(s.OAuthScopes, []string{"read", "write"}) || !s.HasOAuthClientSecret {
		t.Errorf("server add = %+v", s)
	}
	get := mustRun(t, "server", "get", "corp")
	for _, w := range []string{"OAuth private key: set\n", "OAuth auth method: private_key_jwt\n", "OAuth scopes: read write\n"} {
		if !strings.Contains(squeeze(get), w) {
			t.Errorf("server get:\n%s\nwant a line %q", get, w)
		}
	}
	if list := mustRun(t, "server", "list"); !strings.Contains(list, "cid (private_key_jwt)") {
		t.Errorf("server list:\n%s", list)
	}
	for _, o := range []string{out, get, mustRun(t, "server", "list", "-o", "json")} {
		if strings.Contains(o, "PRIVATE KEY") || strings.Contains(o, strings.Split(key, "\n")[1]) {
			t.Errorf("the CLI shows the key:\n%s", o)
		}
	}
	r := runCLI(t, "", "server", "add", "bad", "--url", "https://bad.example/mcp", "--oauth-client-id", "cid",
		"--oauth-private-key-file", writeFile(t, "bad.pem", "not a key"))
	if r.code != 1 || !strings.Contains(r.stderr, "not PEM") {
		t.Errorf("bad key: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestDeclaredServersOAuth: the config's oauth block reaches the registry.
func TestDeclaredServersOAuth(t *testing.T) {
	key := ecKeyPEM(t)
	t.Setenv("CORP_KEY", key)
	cfg := config.Config{Servers: []config.ServerConfig{{
		Name: "corp", URL: "https://corp.example/mcp",
		OAuth: &config.OAuthClientConfig{ClientID: "cid", AuthMethod: "private_key_jwt",
			Scopes: []string{"read"}, PrivateKey: config.Secret{Env: "CORP_KEY"}},
	}}}
	got, err := declaredServers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].OAuthPrivateKey != key || got[0].OAuthAuthMethod != "private_key_jwt" ||
		!reflect.DeepEqual(got[0].OAuthScopes, []string{"read"}) || got[0].OAuthClientSecret != "" {
		t.Errorf("declaredServers = %+v", got)
	}
	cfg.Servers[0].OAuth.PrivateKey = config.Secret{Env: "MCPGATE_TEST_UNSET"}
	if _, err := declaredServers(cfg); err == nil || !strings.Contains(err.Error(), `server "corp" oauth private key`) {
		t.Errorf("declaredServers(unset key) = %v", err)
	}
}
