package main

import (
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/oauth"
)

func TestIdentityProviderWiring(t *testing.T) {
	t.Setenv("MCPGATE_TEST_IDP_SECRET", "s3cret")
	for _, tc := range []struct {
		name    string
		idp     config.IdentityProviderConfig
		want    *oauth.IdentityProvider
		wantErr string
	}{
		{name: "none"},
		{
			name: "public client",
			idp:  config.IdentityProviderConfig{TokenEndpoint: "https://idp.example/token", ClientID: "gw"},
			want: &oauth.IdentityProvider{TokenEndpoint: "https://idp.example/token", ClientID: "gw"},
		},
		{
			name: "secret from the environment",
			idp:  config.IdentityProviderConfig{TokenEndpoint: "https://idp.example/token", ClientID: "gw", ClientSecret: config.Secret{Env: "MCPGATE_TEST_IDP_SECRET"}},
			want: &oauth.IdentityProvider{TokenEndpoint: "https://idp.example/token", ClientID: "gw", ClientSecret: "s3cret"},
		},
		{
			name:    "secret variable unset",
			idp:     config.IdentityProviderConfig{TokenEndpoint: "https://idp.example/token", ClientID: "gw", ClientSecret: config.Secret{Env: "MCPGATE_TEST_IDP_NOPE"}},
			wantErr: "identity_provider.client_secret",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.IdentityProvider = tc.idp
			got, err := identityProvider(cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v; want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Fatalf("identity provider = %+v; want %+v", got, tc.want)
			}
		})
	}
}
