package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeServerOAuth(t *testing.T) {
	c, err := decode(`
servers:
  - name: corp
    url: https://corp.example/mcp
    oauth:
      client_id: cid
      auth_method: private_key_jwt
      scopes: [read, "write:org"]
      private_key: {file: /run/secrets/corp.pem}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := &OAuthClientConfig{ClientID: "cid", AuthMethod: "private_key_jwt",
		Scopes: []string{"read", "write:org"}, PrivateKey: Secret{File: "/run/secrets/corp.pem"}}
	if d := cmp.Diff(want, c.Servers[0].OAuth); d != "" {
		t.Errorf("oauth block (-want +got):\n%s", d)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	c.Servers[0].OAuth.ClientSecret = Secret{Env: "CORP_SECRET"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "servers[0].oauth: set client_secret or private_key, not both") {
		t.Errorf("Validate(secret and key) = %v", err)
	}
}
