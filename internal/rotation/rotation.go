// Package rotation moves every sealed value in the store onto the keyring's
// primary master key, so that older keys can then be dropped from the key
// file.
//
// Rotating keys is: put the new key first in the key file of every gateway
// process and restart them (the old keys stay below it, decrypt-only), call
// Rotate once, then remove the old keys. Rotate goes through servers (header
// values, OAuth client secrets or private keys), connections (access and
// refresh tokens), OAuth client registrations (client secrets) and the meta
// values sealed at start (the seal check, the connect link key). Each record
// is written back with the store's compare-and-swap, re-read and retried
// when a concurrent writer wins, and left alone when it disappears. Values
// already under the primary key are not rewritten, so rotating again
// rewraps nothing.
//
// Pending authorizations (a user between the authorization server and the
// callback) are not rewrapped: their PKCE verifiers live at most ten
// minutes. Wait that long after rotating before removing an old key, or an
// authorization started before the rotation fails at its callback and must
// be started again.
//
// A process still running with the old key first keeps sealing new values
// under it; that is why the key file must be updated everywhere before
// rotating.
package rotation

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mcpgate/mcpgate"
)

// Keyring is what rotation needs of seal.Keyring.
type Keyring interface {
	PrimaryID() string
	// KeyID names the key sealed is wrapped with.
	KeyID(sealed []byte) (string, error)
	// Rewrap re-wraps sealed's data key under the primary key.
	Rewrap(sealed []byte) ([]byte, error)
}

// maxAttempts bounds how often one record is re-read after losing a
// compare-and-swap to a concurrent writer (a connection being refreshed).
const maxAttempts = 10

// Rotator rewraps the sealed values of one store.
type Rotator struct {
	store    mcpgate.Store
	keys     Keyring
	metaKeys []string
	mu       sync.Mutex // one rotation at a time in this process
}

// New returns a Rotator. metaKeys name the meta values that hold a sealed
// value in standard base64.
func New(store mcpgate.Store, keys Keyring, metaKeys ...string) *Rotator {
	return &Rotator{store: store, keys: keys, metaKeys: metaKeys}
}

// Rotate rewraps every sealed value not yet under the primary key and
// returns the primary key's id and how many values it rewrapped. Values it
// cannot rewrap (their key is not in the keyring, or they are corrupt) do not
// stop it: it goes on with the rest and then fails with ErrConflict naming
// them. Store errors stop it; what was rewrapped until then stays rewrapped.
func (r *Rotator) Rotate(ctx context.Context) (primaryID string, rewrapped int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := &pass{Rotator: r, primary: r.keys.PrimaryID()}
	for _, step := range []func(context.Context) error{p.servers, p.connections, p.oauthClients, p.authRequests, p.meta} {
		if err := step(ctx); err != nil {
			return p.primary, p.n, fmt.Errorf("key rotation (after %d values rewrapped): %w", p.n, err)
		}
	}
	if len(p.failed) > 0 {
		shown := p.failed[:min(len(p.failed), 5)]
		more := ""
		if len(p.failed) > len(shown) {
			more = fmt.Sprintf("; and %d more", len(p.failed)-len(shown))
		}
		return p.primary, p.n, mcpgate.Errorf(mcpgate.ErrConflict,
			"rewrapped %d sealed values under key %s, but %d could not be; keep the old keys until they are: %s%s",
			p.n, p.primary, len(p.failed), strings.Join(shown, "; "), more)
	}
	return p.primary, p.n, nil
}

// pass is one run of Rotate.
type pass struct {
	*Rotator
	primary string
	n       int      // values rewrapped
	failed  []string // values that could not be, user-safe
}

// rewrap returns sealed under the primary key, and whether that changed it.
// Empty values (nothing sealed) are left alone.
func (p *pass) rewrap(sealed []byte) ([]byte, bool, error) {
	if len(sealed) == 0 {
		return sealed, false, nil
	}
	id, err := p.keys.KeyID(sealed)
	if err != nil {
		return nil, false, err
	}
	if id == p.primary {
		return sealed, false, nil
	}
	out, err := p.keys.Rewrap(sealed)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// record rewraps one record. fix returns a copy with its sealed values
// rewrapped and how many changed (or a seal error, which is noted and the
// record skipped); write stores it by compare-and-swap against old; get
// re-reads the record after a lost swap.
func record[T any](ctx context.Context, p *pass, what string, cur T,
	fix func(T) (T, int, error),
	write func(ctx context.Context, old, next T) error,
	get func(ctx context.Context) (T, error),
) error {
	for attempt := 1; ; attempt++ {
		next, n, err := fix(cur)
		if err != nil {
			p.failed = append(p.failed, what+": "+err.Error())
			return nil
		}
		if n == 0 {
			return nil
		}
		err = write(ctx, cur, next)
		switch {
		case err == nil:
			p.n += n
			return nil
		case errors.Is(err, mcpgate.ErrNotFound):
			return nil // removed meanwhile: nothing left to rewrap
		case !errors.Is(err, mcpgate.ErrConflict):
			return fmt.Errorf("%s: %w", what, err)
		case attempt == maxAttempts:
			p.failed = append(p.failed, fmt.Sprintf("%s: changed concurrently %d times in a row; rotate again", what, maxAttempts))
			return nil
		}
		cur, err = get(ctx)
		if errors.Is(err, mcpgate.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
}

func (p *pass) servers(ctx context.Context) error {
	all, err := p.store.ListServers(ctx)
	if err != nil {
		return err
	}
	for _, s := range all {
		err := record(ctx, p, fmt.Sprintf("server %q", s.Name), s, p.fixServer,
			func(ctx context.Context, _, next mcpgate.Server) error {
				_, err := p.store.UpdateServer(ctx, next)
				return err
			},
			func(ctx context.Context) (mcpgate.Server, error) { return p.store.GetServer(ctx, s.Name) })
		if err != nil {
			return err
		}
	}
	return nil
}

// fixServer rewraps the header values and the client secret (or private
// key). Rotation is not a change of the server's settings: UpdatedAt stays.
func (p *pass) fixServer(s mcpgate.Server) (mcpgate.Server, int, error) {
	n := 0
	s.Headers = slices.Clone(s.Headers)
	for i, h := range s.Headers {
		v, changed, err := p.rewrap(h.Value)
		if err != nil {
			return s, 0, fmt.Errorf("header %q: %w", h.Name, err)
		}
		if changed {
			s.Headers[i].Value = v
			n++
		}
	}
	v, changed, err := p.rewrap(s.OAuthClientSecret)
	if err != nil {
		return s, 0, fmt.Errorf("oauth client secret: %w", err)
	}
	if changed {
		s.OAuthClientSecret = v
		n++
	}
	return s, n, nil
}

func (p *pass) connections(ctx context.Context) error {
	all, err := p.store.ListConnections(ctx)
	if err != nil {
		return err
	}
	for _, c := range all {
		what := fmt.Sprintf("connection %s (server %q, user %q)", c.ID, c.Server, c.User)
		err := record(ctx, p, what, c, p.fixConnection,
			func(ctx context.Context, _, next mcpgate.Connection) error {
				_, err := p.store.UpdateConnection(ctx, next)
				return err
			},
			func(ctx context.Context) (mcpgate.Connection, error) { return p.store.GetConnection(ctx, c.ID) })
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *pass) fixConnection(c mcpgate.Connection) (mcpgate.Connection, int, error) {
	n := 0
	for _, t := range []struct {
		name string
		v    *[]byte
	}{{"access token", &c.AccessToken}, {"refresh token", &c.RefreshToken}, {"grant credential", &c.GrantCredential}} {
		v, changed, err := p.rewrap(*t.v)
		if err != nil {
			return c, 0, fmt.Errorf("%s: %w", t.name, err)
		}
		if changed {
			*t.v = v
			n++
		}
	}
	return c, n, nil
}

func (p *pass) oauthClients(ctx context.Context) error {
	all, err := p.store.ListOAuthClients(ctx)
	if err != nil {
		return err
	}
	for _, c := range all {
		err := record(ctx, p, fmt.Sprintf("oauth client for %q", c.Issuer), c,
			func(c mcpgate.OAuthClient) (mcpgate.OAuthClient, int, error) {
				v, changed, err := p.rewrap(c.ClientSecret)
				if err != nil || !changed {
					return c, 0, err
				}
				c.ClientSecret = v
				return c, 1, nil
			},
			p.store.UpdateOAuthClient,
			func(ctx context.Context) (mcpgate.OAuthClient, error) { return p.store.GetOAuthClient(ctx, c.Issuer) })
		if err != nil {
			return err
		}
	}
	return nil
}

// authRequests rewraps the PKCE verifiers of authorizations in progress,
// so that a callback arriving after the old key is removed still works.
func (p *pass) authRequests(ctx context.Context) error {
	all, err := p.store.ListAuthRequests(ctx)
	if err != nil {
		return err
	}
	for _, r := range all {
		what := fmt.Sprintf("authorization in progress for server %q, user %q", r.Server, r.User)
		err := record(ctx, p, what, r,
			func(r mcpgate.AuthRequest) (mcpgate.AuthRequest, int, error) {
				v, changed, err := p.rewrap(r.CodeVerifier)
				if err != nil || !changed {
					return r, 0, err
				}
				r.CodeVerifier = v
				return r, 1, nil
			},
			func(ctx context.Context, old, next mcpgate.AuthRequest) error {
				return p.store.SwapAuthRequestVerifier(ctx, r.StateHash, old.CodeVerifier, next.CodeVerifier)
			},
			func(ctx context.Context) (mcpgate.AuthRequest, error) {
				// Only another rotation changes a verifier: re-read it.
				all, err := p.store.ListAuthRequests(ctx)
				if err != nil {
					return mcpgate.AuthRequest{}, err
				}
				for _, cur := range all {
					if cur.StateHash == r.StateHash {
						return cur, nil
					}
				}
				return mcpgate.AuthRequest{}, mcpgate.ErrNotFound
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// meta rewraps the meta values holding a sealed value. They are written
// once, at first start, and never change in clear, so a plain overwrite
// cannot lose a concurrent change: at worst two rotations store the same
// secret each under its own primary key.
func (p *pass) meta(ctx context.Context) error {
	for _, key := range p.metaKeys {
		stored, err := p.store.GetMeta(ctx, key)
		if errors.Is(err, mcpgate.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		sealed, err := base64.StdEncoding.DecodeString(stored)
		if err != nil {
			p.failed = append(p.failed, fmt.Sprintf("meta %q: not base64", key))
			continue
		}
		v, changed, err := p.rewrap(sealed)
		if err != nil {
			p.failed = append(p.failed, fmt.Sprintf("meta %q: %v", key, err))
			continue
		}
		if !changed {
			continue
		}
		if err := p.store.SetMeta(ctx, key, base64.StdEncoding.EncodeToString(v)); err != nil {
			return fmt.Errorf("meta %q: %w", key, err)
		}
		p.n++
	}
	return nil
}
