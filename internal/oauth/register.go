package oauth

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpgate/mcpgate"
)

// client is an OAuth client ready to use at one authorization server.
type client struct {
	ID         string
	Secret     string // client secret, or PEM key for private_key_jwt
	AuthMethod string
	Method     string // preregistered, cimd, dcr
}

// ErrRegistration wraps failures to obtain a client id.
var ErrRegistration = errors.New("oauth client registration failed")

// clientFor returns the client to use with asm for server, in the order
// pre-registered → Client ID Metadata Document → dynamic registration.
// Dynamic registrations are stored per issuer and reused.
func (m *Manager) clientFor(ctx context.Context, server string, asm *oauthex.AuthServerMeta) (client, error) {
	if m.cfg.Credentials != nil {
		pre, err := m.cfg.Credentials.OAuthClient(ctx, server)
		if err != nil {
			return client{}, err
		}
		if pre.ClientID != "" {
			method := pre.AuthMethod
			if method == "" {
				method = pickAuthMethod(asm.TokenEndpointAuthMethodsSupported, pre.Secret != "")
			}
			return client{ID: pre.ClientID, Secret: pre.Secret, AuthMethod: method, Method: "preregistered"}, nil
		}
	}
	if asm.ClientIDMetadataDocumentSupported {
		return client{ID: m.ClientMetadataURL(), AuthMethod: "none", Method: "cimd"}, nil
	}
	stored, err := m.cfg.Store.GetOAuthClient(ctx, asm.Issuer)
	switch {
	case err == nil && stored.RedirectURI == m.CallbackURL():
		return m.openClient(stored)
	case err == nil:
		// Registered for another callback URL (the public URL changed): register anew.
		if err := m.cfg.Store.DeleteOAuthClient(ctx, asm.Issuer); err != nil && !errors.Is(err, mcpgate.ErrNotFound) {
			return client{}, err
		}
	case !errors.Is(err, mcpgate.ErrNotFound):
		return client{}, err
	}
	if asm.RegistrationEndpoint == "" {
		return client{}, fmt.Errorf("%w: authorization server %s supports neither client metadata documents nor dynamic registration; configure a client id for the server (mcpgate server add --oauth-client-id)", ErrRegistration, asm.Issuer)
	}
	return m.register(ctx, asm)
}

// pickAuthMethod prefers a public client when there is no secret.
func pickAuthMethod(supported []string, hasSecret bool) string {
	if !hasSecret {
		return "none"
	}
	for _, m := range []string{"client_secret_basic", "client_secret_post"} {
		if slices.Contains(supported, m) {
			return m
		}
	}
	return "client_secret_basic" // RFC 8414 default
}

func (m *Manager) register(ctx context.Context, asm *oauthex.AuthServerMeta) (client, error) {
	meta := &oauthex.ClientRegistrationMetadata{
		RedirectURIs:            []string{m.CallbackURL()},
		TokenEndpointAuthMethod: "none",
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		ClientName:              "mcpgate",
		ApplicationType:         "web",
	}
	resp, err := oauthex.RegisterClient(ctx, asm.RegistrationEndpoint, meta, m.cfg.HTTPClient)
	if err != nil {
		return client{}, fmt.Errorf("%w at %s: %v", ErrRegistration, asm.Issuer, err)
	}
	method := resp.TokenEndpointAuthMethod
	if method == "" {
		method = "none"
		if resp.ClientSecret != "" {
			method = "client_secret_basic"
		}
	}
	rec := mcpgate.OAuthClient{
		Issuer: asm.Issuer, ClientID: resp.ClientID, Method: "dcr", AuthMethod: method,
		RedirectURI: m.CallbackURL(), CreatedAt: m.now().UTC(),
	}
	if resp.ClientSecret != "" {
		if rec.ClientSecret, err = m.cfg.Sealer.Seal([]byte(resp.ClientSecret), clientSecretAAD(asm.Issuer)); err != nil {
			return client{}, err
		}
	}
	stored, err := m.cfg.Store.PutOAuthClient(ctx, rec)
	if err != nil {
		return client{}, fmt.Errorf("store client registration: %w", err)
	}
	if stored.ClientID != rec.ClientID {
		// Another process registered at the same moment: use its registration.
		return m.openClient(stored)
	}
	return client{ID: resp.ClientID, Secret: resp.ClientSecret, AuthMethod: method, Method: "dcr"}, nil
}

func (m *Manager) openClient(stored mcpgate.OAuthClient) (client, error) {
	secret := ""
	if len(stored.ClientSecret) > 0 {
		b, err := m.cfg.Sealer.Open(stored.ClientSecret, clientSecretAAD(stored.Issuer))
		if err != nil {
			return client{}, fmt.Errorf("open stored client secret: %w", err)
		}
		secret = string(b)
	}
	return client{ID: stored.ClientID, Secret: secret, AuthMethod: stored.AuthMethod, Method: stored.Method}, nil
}
