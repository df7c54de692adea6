package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/oauth"
	"github.com/mcpgate/mcpgate/internal/registry"
	"github.com/mcpgate/mcpgate/internal/seal"
)

// serverCredentials gives the OAuth manager the pre-registered clients kept
// (sealed) with the servers.
type serverCredentials struct{ reg *registry.Registry }

func (s serverCredentials) OAuthClient(ctx context.Context, server string) (oauth.PreRegistered, error) {
	c, err := s.reg.OAuthClient(ctx, server)
	if err != nil {
		return oauth.PreRegistered{}, err
	}
	return oauth.PreRegistered{ClientID: c.ID, Secret: c.Secret, AuthMethod: c.AuthMethod, Scopes: c.Scopes}, nil
}

// connectHelp tells a user how to connect server: the CLI command an
// administrator runs, and a link the user can open.
// identityProvider is the configured enterprise identity provider, nil when
// none is.
func identityProvider(cfg config.Config) (*oauth.IdentityProvider, error) {
	c := cfg.IdentityProvider
	if c.TokenEndpoint == "" {
		return nil, nil
	}
	idp := &oauth.IdentityProvider{TokenEndpoint: c.TokenEndpoint, ClientID: c.ClientID}
	if c.ClientSecret.IsSet() {
		secret, err := c.ClientSecret.Resolve(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("identity_provider.client_secret: %w", err)
		}
		idp.ClientSecret = secret
	}
	return idp, nil
}

func (a *App) connectHelp(server, user string) (string, string) {
	who := "--user " + user
	if user == "" {
		who = "--shared"
	}
	return "mcpgate connect " + server + " " + who, a.oauth.ConnectLink(server, user)
}

// loadLinkKey returns the key that signs connect links, shared by every
// process through the store and sealed there.
func loadLinkKey(ctx context.Context, st mcpgate.Store, k *seal.Keyring) ([]byte, error) {
	const key = "connect_link_key"
	aad := []byte("meta/" + key)
	var raw [32]byte
	rand.Read(raw[:])
	sealed, err := k.Seal(raw[:], aad)
	if err != nil {
		return nil, err
	}
	stored, err := st.PutMetaIfAbsent(ctx, key, base64.StdEncoding.EncodeToString(sealed))
	if err != nil {
		return nil, fmt.Errorf("connect link key: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return nil, fmt.Errorf("connect link key: %w", err)
	}
	return k.Open(b, aad)
}
