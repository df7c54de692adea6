package oauth

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/mcpgate/mcpgate"
)

// Revoke deletes a connection and its tokens, then asks the provider to
// revoke them (RFC 7009) when it advertises a revocation endpoint. The
// connection is gone even if the provider cannot be reached; that failure is
// returned for the record.
func (m *Manager) Revoke(ctx context.Context, id string) (mcpgate.Connection, error) {
	c, err := m.cfg.Store.GetConnection(ctx, id)
	if err != nil {
		return mcpgate.Connection{}, connNotFound(id, err)
	}
	if err := m.cfg.Store.DeleteConnection(ctx, id); err != nil {
		return mcpgate.Connection{}, connNotFound(id, err)
	}
	m.forgetServer(c.Server)
	return c, m.revokeAtProvider(ctx, c)
}

// RemoveAll deletes every connection of server (if not "") or of user (if
// not ""), revoking their tokens at the provider.
func (m *Manager) RemoveAll(ctx context.Context, server, user string) ([]mcpgate.Connection, error) {
	removed, err := m.cfg.Store.DeleteConnectionsOf(ctx, server, user)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, c := range removed {
		m.forgetServer(c.Server)
		if err := m.revokeAtProvider(ctx, c); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return removed, firstErr
}

// Forget drops cached state for server after its connections were removed
// by other means (for example the server itself was deleted).
func (m *Manager) Forget(server string) { m.forgetServer(server) }

func (m *Manager) revokeAtProvider(ctx context.Context, c mcpgate.Connection) error {
	asm, err := m.authServer(ctx, c.Issuer)
	if err != nil || asm == nil || asm.RevocationEndpoint == "" {
		return nil // nothing advertised: deleting our copy is all we can do
	}
	cl, err := m.clientFor(ctx, c.Server, asm)
	if err != nil {
		return err
	}
	// Revoking the refresh token ends the whole grant at most providers;
	// the access token is revoked too for those that track it separately.
	for _, t := range []struct {
		sealed []byte
		aad    []byte
		hint   string
	}{{c.RefreshToken, refreshAAD(c), "refresh_token"}, {c.AccessToken, accessAAD(c), "access_token"}} {
		if len(t.sealed) == 0 {
			continue
		}
		tok, err := m.cfg.Sealer.Open(t.sealed, t.aad)
		if err != nil {
			return fmt.Errorf("open token to revoke: %w", err)
		}
		req, err := m.tokenHTTPRequest(ctx, asm.RevocationEndpoint, cl, asm.Issuer,
			url.Values{"token": {string(tok)}, "token_type_hint": {t.hint}})
		if err != nil {
			return err
		}
		resp, err := m.cfg.HTTPClient.Do(req)
		if err != nil {
			return fmt.Errorf("revoke at provider: %w", err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("revoke at provider: HTTP %d", resp.StatusCode)
		}
	}
	return nil
}

func connNotFound(id string, err error) error {
	if err != nil && isNotFound(err) {
		return mcpgate.Errorf(mcpgate.ErrNotFound, "connection %q does not exist", id)
	}
	return err
}
