package mcpgate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate"
)

func TestServerValidateOAuth(t *testing.T) {
	base := mcpgate.Server{Name: "s", URL: "https://s.example/mcp", Source: mcpgate.SourceAPI}
	secret := []byte("sealed")
	tests := []struct {
		name string
		mod  func(*mcpgate.Server)
		says string // "" when valid
	}{
		{"no oauth settings", func(*mcpgate.Server) {}, ""},
		{"method left to discovery", func(s *mcpgate.Server) { s.OAuthClientID, s.OAuthClientSecret = "cid", secret }, ""},
		{"public client", func(s *mcpgate.Server) { s.OAuthClientID, s.OAuthAuthMethod = "cid", mcpgate.AuthMethodNone }, ""},
		{"client_secret_basic", func(s *mcpgate.Server) {
			s.OAuthClientID, s.OAuthClientSecret, s.OAuthAuthMethod = "cid", secret, mcpgate.AuthMethodClientSecretBasic
		}, ""},
		{"client_secret_post", func(s *mcpgate.Server) {
			s.OAuthClientID, s.OAuthClientSecret, s.OAuthAuthMethod = "cid", secret, mcpgate.AuthMethodClientSecretPost
		}, ""},
		{"private_key_jwt", func(s *mcpgate.Server) {
			s.OAuthClientID, s.OAuthClientSecret, s.OAuthAuthMethod = "cid", secret, mcpgate.AuthMethodPrivateKeyJWT
		}, ""},
		{"scopes without a client (dynamic registration)", func(s *mcpgate.Server) {
			s.OAuthScopes = []string{"read", "repo:status", "https://www.googleapis.com/auth/drive"}
		}, ""},
		{"unknown method", func(s *mcpgate.Server) { s.OAuthClientID, s.OAuthAuthMethod = "cid", "tls_client_auth" }, "use none, client_secret_basic"},
		{"method without client id", func(s *mcpgate.Server) { s.OAuthAuthMethod = mcpgate.AuthMethodNone }, "needs an OAuth client id"},
		{"public client with a secret", func(s *mcpgate.Server) {
			s.OAuthClientID, s.OAuthClientSecret, s.OAuthAuthMethod = "cid", secret, mcpgate.AuthMethodNone
		}, "has no secret"},
		{"secret method without secret", func(s *mcpgate.Server) {
			s.OAuthClientID, s.OAuthAuthMethod = "cid", mcpgate.AuthMethodClientSecretPost
		}, "needs a client secret"},
		{"private_key_jwt without key", func(s *mcpgate.Server) {
			s.OAuthClientID, s.OAuthAuthMethod = "cid", mcpgate.AuthMethodPrivateKeyJWT
		}, "needs a private key"},
		{"empty scope", func(s *mcpgate.Server) { s.OAuthScopes = []string{"read", ""} }, "scope is empty"},
		{"scope with a space", func(s *mcpgate.Server) { s.OAuthScopes = []string{"read write"} }, `scope "read write"`},
		{"scope with a quote", func(s *mcpgate.Server) { s.OAuthScopes = []string{`a"b`} }, "printable ASCII"},
		{"scope with non-ASCII", func(s *mcpgate.Server) { s.OAuthScopes = []string{"lés"} }, "printable ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.mod(&s)
			err := s.Validate()
			switch {
			case tt.says == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.says == "":
			case !errors.Is(err, mcpgate.ErrInvalid) || !strings.Contains(err.Error(), tt.says):
				t.Fatalf("Validate() = %v, want ErrInvalid saying %q", err, tt.says)
			}
		})
	}
}
