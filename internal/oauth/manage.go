package oauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

// issuerConcurrency caps simultaneous token requests per authorization
// server, so an expiry storm does not become a burst the provider throttles.
const issuerConcurrency = 16

func (m *Manager) acquireIssuer(ctx context.Context, issuer string) func() {
	m.mu.Lock()
	if m.issuerSem == nil {
		m.issuerSem = map[string]chan struct{}{}
	}
	sem := m.issuerSem[issuer]
	if sem == nil {
		sem = make(chan struct{}, issuerConcurrency)
		m.issuerSem[issuer] = sem
	}
	m.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }
	case <-ctx.Done():
		return func() {}
	}
}

// Rejected is told that the upstream answered 401 to cred. If cred's token
// is still the current one it is refreshed (or the winner's re-read); the
// caller then retries once with Token.
func (m *Manager) Rejected(ctx context.Context, cred Credential) error {
	e := m.lockedEntry(connKey{cred.Server, cred.User})
	if e.conn.ID == cred.ConnectionID && e.conn.Generation > cred.Generation {
		e.mu.Unlock()
		return nil // already refreshed
	}
	if e.conn.ID != cred.ConnectionID {
		if err := m.load(ctx, e, m.now()); err != nil || e.missing {
			e.mu.Unlock()
			return err
		}
	}
	if !canRefresh(e.conn) {
		err := m.markReauth(ctx, e, "the upstream rejected the access token and there is no refresh token")
		e.mu.Unlock()
		return err
	}
	f := e.flight
	if f == nil {
		f = m.startFlight(e)
	}
	e.mu.Unlock()
	select {
	case <-f.done:
		return m.rejectedErr(e, f.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rejectedErr is the outcome of the refresh Rejected waited for, as Token
// reports it: a *ConnectionError when the connection must be re-authorized
// or its refresh keeps failing (so the agent is told what to do, not to try
// again), nil when the connection is gone (the retry asks Token again).
func (m *Manager) rejectedErr(e *entry, err error) error {
	var ce *ConnectionError
	switch {
	case err == nil || errors.Is(err, mcpgate.ErrNotFound):
		return nil
	case errors.As(err, &ce):
		return ce
	case isStoreError(err):
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if errors.Is(err, mcpgate.ErrReauthRequired) {
		return m.connErr(e, mcpgate.ErrReauthRequired, e.conn.LastError)
	}
	return m.connErr(e, ErrRefreshFailing, e.conn.LastError)
}

// markReauth records that c can no longer be used. Called with e.mu held.
func (m *Manager) markReauth(ctx context.Context, e *entry, reason string) error {
	for range 5 {
		c, err := m.cfg.Store.GetConnection(ctx, e.conn.ID)
		if err != nil {
			return err
		}
		c.State, c.LastError, c.LastErrorAt, c.UpdatedAt = mcpgate.StateReauthRequired, reason, m.now().UTC(), m.now().UTC()
		saved, err := m.cfg.Store.UpdateConnection(ctx, c)
		if errors.Is(err, mcpgate.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		m.adopt(e, saved)
		return m.connErr(e, mcpgate.ErrReauthRequired, reason)
	}
	return fmt.Errorf("mark connection for re-authorization: %w", mcpgate.ErrConflict)
}

// InsufficientScope records that the upstream wants more scopes (HTTP 403
// insufficient_scope): the connection is marked for step-up with the union
// of what it has and what was asked.
func (m *Manager) InsufficientScope(ctx context.Context, cred Credential, scopes []string) error {
	for range 5 {
		c, err := m.cfg.Store.GetConnection(ctx, cred.ConnectionID)
		if err != nil {
			return err
		}
		c.State = mcpgate.StateStepUpRequired
		c.StepUpScopes = union(c.Scopes, c.StepUpScopes, scopes)
		c.UpdatedAt = m.now().UTC()
		_, err = m.cfg.Store.UpdateConnection(ctx, c)
		if errors.Is(err, mcpgate.ErrConflict) {
			continue
		}
		if err == nil {
			m.forgetServer(cred.Server)
		}
		return err
	}
	return fmt.Errorf("mark connection for step-up: %w", mcpgate.ErrConflict)
}

// ConnectService obtains a shared connection for server with the
// client_credentials grant, using the server's pre-registered client.
func (m *Manager) ConnectService(ctx context.Context, server string) (mcpgate.Connection, error) {
	return m.connectDirect(ctx, server, "", grantClientCredentials, "")
}

// Run refreshes connections ahead of expiry, records last use and clears
// expired authorization requests until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	for {
		wait := m.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// sweepEvery bounds the wait between sweeps.
const sweepEvery = 5 * time.Second

// sweep starts due refreshes, records last use and returns how long to wait
// until the next sweep. It reads only the connections due within
// sweepEvery, so its cost follows the refreshes, not the connections.
func (m *Manager) sweep(ctx context.Context) time.Duration {
	next := sweepEvery
	now := m.now()
	conns, err := m.cfg.Store.ListConnectionsDue(ctx, now.Add(next))
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("connection sweep failed", "err", err)
		}
		return next
	}
	for _, c := range conns {
		e := m.lockedEntry(connKey{c.Server, c.User})
		if e.conn.ID != c.ID || c.Version > e.conn.Version {
			if err := m.adopt(e, c); err != nil {
				m.log.Warn("cannot open connection tokens", "connection", c.ID, "err", err)
				e.mu.Unlock()
				continue
			}
			e.loadedAt = now
		}
		if e.conn.State != mcpgate.StateReauthRequired && !e.refreshAt.IsZero() {
			due := e.refreshAt.Sub(now)
			leased := e.conn.LeaseOwner != "" && now.Before(e.conn.LeaseUntil)
			if due <= 0 && e.flight == nil && !leased && !now.Before(e.retryAt) {
				m.startFlight(e)
			} else if due > 0 && due < next {
				next = due
			}
		}
		e.mu.Unlock()
	}
	m.recordUses(ctx)
	m.evictIdle(now)
	if _, err := m.cfg.Store.DeleteAuthRequestsBefore(ctx, now.Add(-time.Minute)); err != nil && ctx.Err() == nil {
		m.log.Warn("clearing expired authorization requests failed", "err", err)
	}
	return max(next, 100*time.Millisecond)
}

// recordUses writes the last use of the connections used here since it was
// last written, at most once a minute each.
func (m *Manager) recordUses(ctx context.Context) {
	for _, e := range m.snapshot() {
		e.mu.Lock()
		if e.conn.ID != "" && e.lastUsed.After(e.conn.LastUsedAt.Add(time.Minute)) {
			m.recordUse(ctx, e)
		}
		e.mu.Unlock()
	}
}

// recordUse stores last use; a conflict means someone else wrote the row and
// the next sweep tries again. Called with e.mu held.
func (m *Manager) recordUse(ctx context.Context, e *entry) {
	c := e.conn
	c.LastUsedAt = e.lastUsed.UTC()
	if saved, err := m.cfg.Store.UpdateConnection(ctx, c); err == nil {
		e.conn = saved
	}
}
