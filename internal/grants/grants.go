// Package grants issues, lists, revokes and authenticates grant tokens. It
// keeps an in-process cache so that authenticating a request does not touch
// the store; changes made through this process update the cache at once, and
// entries are re-read after CacheTTL so changes made elsewhere are seen too.
package grants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
)

// CacheTTL bounds how long a cached grant is trusted without a re-read.
const CacheTTL = 30 * time.Second

// negativeTTL bounds how long an unknown (well-formed) token stays unknown
// before the store is asked again.
const negativeTTL = 5 * time.Second

// Service manages grants.
type Service struct {
	store mcpgate.Store
	now   func() time.Time
	log   *slog.Logger

	mu    sync.RWMutex
	cache map[string]cacheEntry // by token hash

	touchMu sync.Mutex
	touched map[string]time.Time // grant id → last use, not yet stored
}

type cacheEntry struct {
	grant    mcpgate.Grant
	unknown  bool
	loadedAt time.Time
}

// New returns a Service. now may be nil for time.Now.
func New(store mcpgate.Store, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now, log: log, cache: map[string]cacheEntry{}, touched: map[string]time.Time{}}
}

// CreateInput describes a new grant.
type CreateInput struct {
	User    string
	Servers []string
	TTL     time.Duration // 0: no expiry
	Label   string
}

// Create issues a grant and returns it with its token, which is not kept.
// Every named server must exist.
func (s *Service) Create(ctx context.Context, in CreateInput) (mcpgate.Grant, string, error) {
	if in.TTL < 0 {
		return mcpgate.Grant{}, "", mcpgate.Invalidf("ttl must be positive")
	}
	token, digest := mcpgate.NewGrantToken()
	now := s.now().UTC().Truncate(time.Millisecond)
	g := mcpgate.Grant{
		ID:        mcpgate.NewID("gr_"),
		User:      in.User,
		Servers:   dedupe(in.Servers),
		Label:     in.Label,
		TokenHash: digest,
		CreatedAt: now,
	}
	if in.TTL > 0 {
		g.ExpiresAt = now.Add(in.TTL)
	}
	if err := g.Validate(); err != nil {
		return mcpgate.Grant{}, "", err
	}
	for _, name := range g.Servers {
		if _, err := s.store.GetServer(ctx, name); err != nil {
			if errors.Is(err, mcpgate.ErrNotFound) {
				return mcpgate.Grant{}, "", mcpgate.Invalidf("server %q does not exist", name)
			}
			return mcpgate.Grant{}, "", err
		}
	}
	if err := s.store.CreateGrant(ctx, g); err != nil {
		return mcpgate.Grant{}, "", fmt.Errorf("create grant: %w", err)
	}
	s.mu.Lock()
	delete(s.cache, digest)
	s.mu.Unlock()
	return g, token, nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// Get returns one grant.
func (s *Service) Get(ctx context.Context, id string) (mcpgate.Grant, error) {
	g, err := s.store.GetGrant(ctx, id)
	return g, grantNotFound(id, err)
}

func grantNotFound(id string, err error) error {
	if errors.Is(err, mcpgate.ErrNotFound) {
		return mcpgate.Errorf(mcpgate.ErrNotFound, "grant %q does not exist", id)
	}
	return err
}

// List returns all grants, newest first.
func (s *Service) List(ctx context.Context) ([]mcpgate.Grant, error) {
	return s.store.ListGrants(ctx)
}

// Revoke marks the grant revoked; the next request presenting it is refused.
// Revoking a revoked grant is not an error.
func (s *Service) Revoke(ctx context.Context, id string) (mcpgate.Grant, error) {
	for {
		g, err := s.store.GetGrant(ctx, id)
		if err != nil {
			return mcpgate.Grant{}, grantNotFound(id, err)
		}
		if g.RevokedAt.IsZero() {
			g.RevokedAt = s.now().UTC().Truncate(time.Millisecond)
			g, err = s.store.UpdateGrant(ctx, g)
			if errors.Is(err, mcpgate.ErrConflict) {
				continue // a concurrent update (e.g. last-use); re-read and retry
			}
			if err != nil {
				return mcpgate.Grant{}, fmt.Errorf("revoke grant: %w", err)
			}
		}
		s.mu.Lock()
		s.cache[g.TokenHash] = cacheEntry{grant: g, loadedAt: s.now()}
		s.mu.Unlock()
		return g, nil
	}
}

// Authenticate checks token for a request to server. The error is one of the
// mcpgate.ErrGrant* reasons, or a store error.
func (s *Service) Authenticate(ctx context.Context, token, server string) (mcpgate.Grant, error) {
	if token == "" {
		return mcpgate.Grant{}, mcpgate.ErrGrantMissing
	}
	if err := mcpgate.ParseGrantToken(token); err != nil {
		return mcpgate.Grant{}, err
	}
	digest := mcpgate.HashGrantToken(token)
	now := s.now()
	g, err := s.lookup(ctx, digest, now)
	if err != nil {
		return mcpgate.Grant{}, err
	}
	if err := g.Check(server, now); err != nil {
		return g, err
	}
	s.touchMu.Lock()
	s.touched[g.ID] = now
	s.touchMu.Unlock()
	return g, nil
}

func (s *Service) lookup(ctx context.Context, digest string, now time.Time) (mcpgate.Grant, error) {
	s.mu.RLock()
	e, ok := s.cache[digest]
	s.mu.RUnlock()
	if ok {
		ttl := CacheTTL
		if e.unknown {
			ttl = negativeTTL
		}
		if now.Sub(e.loadedAt) < ttl {
			if e.unknown {
				return mcpgate.Grant{}, mcpgate.ErrGrantUnknown
			}
			return e.grant, nil
		}
	}
	g, err := s.store.GetGrantByTokenHash(ctx, digest)
	switch {
	case errors.Is(err, mcpgate.ErrNotFound):
		s.put(digest, cacheEntry{unknown: true, loadedAt: now})
		return mcpgate.Grant{}, mcpgate.ErrGrantUnknown
	case err != nil:
		return mcpgate.Grant{}, fmt.Errorf("look up grant: %w", err)
	}
	s.put(digest, cacheEntry{grant: g, loadedAt: now})
	return g, nil
}

func (s *Service) put(digest string, e cacheEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) > 100_000 {
		clear(s.cache) // bounded memory under a flood of distinct tokens
	}
	s.cache[digest] = e
}

// ForgetToken drops the cached entry of one token digest (changed elsewhere).
func (s *Service) ForgetToken(digest string) {
	s.mu.Lock()
	delete(s.cache, digest)
	s.mu.Unlock()
}

// Forget drops every cached entry, so the next requests re-read the store.
func (s *Service) Forget() {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
}

// FlushLastUsed writes pending last-use times to the store.
func (s *Service) FlushLastUsed(ctx context.Context) error {
	s.touchMu.Lock()
	pending := s.touched
	s.touched = map[string]time.Time{}
	s.touchMu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	if err := s.store.TouchGrants(ctx, pending); err != nil {
		return fmt.Errorf("record grant use: %w", err)
	}
	return nil
}

// RunFlusher records last use every interval until ctx ends, then once more.
func (s *Service) RunFlusher(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.FlushLastUsed(context.WithoutCancel(ctx)); err != nil {
				s.log.Warn("final grant last-use flush failed", "err", err)
			}
			return
		case <-t.C:
			if err := s.FlushLastUsed(ctx); err != nil {
				s.log.Warn("grant last-use flush failed", "err", err)
			}
		}
	}
}
