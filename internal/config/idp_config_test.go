package config

import (
	"strings"
	"testing"
)

func TestIdentityProvider(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		env     map[string]string
		wantErr string
		want    IdentityProviderConfig
	}{
		{name: "absent"},
		{
			name: "file",
			yaml: "identity_provider:\n  token_endpoint: https://idp.example/oauth2/token\n  client_id: mcpgate\n  client_secret: {env: IDP_SECRET}\n",
			want: IdentityProviderConfig{TokenEndpoint: "https://idp.example/oauth2/token", ClientID: "mcpgate", ClientSecret: Secret{Env: "IDP_SECRET"}},
		},
		{
			name: "environment",
			env:  map[string]string{"MCPGATE_IDP_TOKEN_ENDPOINT": "https://idp.example/token", "MCPGATE_IDP_CLIENT_ID": "gw", "MCPGATE_IDP_CLIENT_SECRET": "s3"},
			want: IdentityProviderConfig{TokenEndpoint: "https://idp.example/token", ClientID: "gw", ClientSecret: Secret{Value: "s3"}},
		},
		{name: "no endpoint", yaml: "identity_provider:\n  client_id: gw\n", wantErr: "identity_provider.token_endpoint"},
		{name: "relative endpoint", yaml: "identity_provider:\n  token_endpoint: /token\n  client_id: gw\n", wantErr: "identity_provider.token_endpoint"},
		{name: "no client", yaml: "identity_provider:\n  token_endpoint: https://idp.example/token\n", wantErr: "identity_provider.client_id is required"},
		{name: "unknown key", yaml: "identity_provider:\n  issuer: https://idp.example\n", wantErr: "field issuer not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(tc.yaml, tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.IdentityProvider != tc.want {
				t.Fatalf("identity provider = %+v; want %+v", c.IdentityProvider, tc.want)
			}
		})
	}
}

func TestWorkloadIdentityTokenFile(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		want       string
		wantErr    string
	}{
		{name: "absent"},
		{name: "file", yaml: "workload_identity_token_file: /var/run/secrets/tokens/mcp\n", want: "/var/run/secrets/tokens/mcp"},
		{name: "environment", env: map[string]string{"MCPGATE_WORKLOAD_IDENTITY_TOKEN_FILE": "/run/wif/token"}, want: "/run/wif/token"},
		{name: "relative", yaml: "workload_identity_token_file: tokens/mcp\n", wantErr: "must be an absolute path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(tc.yaml, tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.WorkloadIdentityTokenFile != tc.want {
				t.Fatalf("workload_identity_token_file = %q, %v; want %q", c.WorkloadIdentityTokenFile, err, tc.want)
			}
		})
	}
}

// load decodes yaml, applies env and validates, as serve does.
func load(yaml string, env map[string]string) (Config, error) {
	c := Default()
	err := c.Decode(strings.NewReader(yaml))
	if err == nil {
		err = c.ApplyEnv(func(k string) string { return env[k] })
	}
	if err == nil {
		err = c.Validate()
	}
	return c, err
}
