package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"

	"github.com/mcpgate/mcpgate"
)

// Sessions keeps the session → grant bindings in the store, with a cache in
// front so that requests on a known session do not touch the store.
type Sessions struct {
	store mcpgate.Store

	mu    sync.RWMutex
	cache map[string]mcpgate.Session
}

// NewSessions returns a binding table backed by store.
func NewSessions(store mcpgate.Store) *Sessions {
	return &Sessions{store: store, cache: map[string]mcpgate.Session{}}
}

// HashSessionID is how session ids are kept: the gateway never needs them back.
func HashSessionID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// Lookup returns the binding for a session id hash (ErrNotFound if none).
func (s *Sessions) Lookup(ctx context.Context, idHash string) (mcpgate.Session, error) {
	s.mu.RLock()
	b, ok := s.cache[idHash]
	s.mu.RUnlock()
	if ok {
		return b, nil
	}
	b, err := s.store.GetSession(ctx, idHash)
	if err != nil {
		return mcpgate.Session{}, err
	}
	s.remember(b)
	return b, nil
}

// Bind records a new binding.
func (s *Sessions) Bind(ctx context.Context, b mcpgate.Session) error {
	if err := s.store.CreateSession(ctx, b); err != nil {
		return err
	}
	s.remember(b)
	return nil
}

// Forget removes a binding, e.g. after DELETE or an upstream 404.
func (s *Sessions) Forget(ctx context.Context, idHash string) error {
	s.mu.Lock()
	delete(s.cache, idHash)
	s.mu.Unlock()
	err := s.store.DeleteSession(ctx, idHash)
	if err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// Drop removes a binding from the cache only (it changed elsewhere).
func (s *Sessions) Drop(idHash string) {
	s.mu.Lock()
	delete(s.cache, idHash)
	s.mu.Unlock()
}

// DropAll empties the cache.
func (s *Sessions) DropAll() {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
}

// ForgetServer drops cached bindings of a removed server.
func (s *Sessions) ForgetServer(server string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, b := range s.cache {
		if b.Server == server {
			delete(s.cache, k)
		}
	}
}

func (s *Sessions) remember(b mcpgate.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) > 200_000 {
		clear(s.cache) // bounded memory; the store still has every binding
	}
	s.cache[b.IDHash] = b
}

func isNotFound(err error) bool { return errors.Is(err, mcpgate.ErrNotFound) }
