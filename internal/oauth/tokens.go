package oauth

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Credential is the upstream token for one call, and where it came from.
type Credential struct {
	Token string
	// TokenType is Bearer, or DPoP for a sender-constrained token that must
	// go out as "Authorization: DPoP …" with a proof (see DPoPProof).
	TokenType    string
	ConnectionID string
	Server       string
	User         string // "" when the shared connection was used
	Generation   int64
}

// ConnectionError says why a call cannot be authorized upstream; Kind is
// mcpgate.ErrNotConnected, mcpgate.ErrReauthRequired or ErrRefreshFailing.
type ConnectionError struct {
	Kind   error
	Server string
	User   string
	Detail string
}

func (e *ConnectionError) Error() string {
	msg := e.Kind.Error()
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

func (e *ConnectionError) Unwrap() error { return e.Kind }

// ErrRefreshFailing: the token expired and refreshing it keeps failing for a
// reason that may pass (the provider is down or slow).
var ErrRefreshFailing = errors.New("the upstream token expired and its refresh is failing; try again shortly")

const (
	missingTTL = 30 * time.Second // re-check the store for a connection made elsewhere (the change feed tells sooner)
	reloadTTL  = 30 * time.Second // re-read a known connection for changes made elsewhere (likewise)
	// refreshTimeout bounds one refresh flight: waiting for another
	// process's refresh, discovery, the token request (itself at most 10 s)
	// and storing the result. The lease is renewed meanwhile, so it need not
	// cover this.
	refreshTimeout = 20 * time.Second
)

// entry is the in-process view of one connection.
type entry struct {
	key       connKey
	mu        sync.Mutex
	loadedAt  time.Time
	missing   bool
	conn      mcpgate.Connection
	access    string
	refreshAt time.Time
	flight    *flight
	retryAt   time.Time
	failures  int
	lastUsed  time.Time
	evicted   bool // dropped from Manager.entries: look the key up again
}

type flight struct {
	done chan struct{}
	err  error
}

func (m *Manager) entryFor(k connKey) *entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[k]
	if e == nil {
		e = &entry{key: k}
		m.entries[k] = e
	}
	return e
}

// lockedEntry returns the live entry of k with its mutex held. An entry
// evicted between the lookup and the lock is looked up again, so that no
// two entries of one connection (and so no two refresh flights) coexist.
func (m *Manager) lockedEntry(k connKey) *entry {
	for {
		e := m.entryFor(k)
		e.mu.Lock()
		if !e.evicted {
			return e
		}
		e.mu.Unlock()
	}
}

// evictIdleAfter is how long an entry, and the unsealed access token in it,
// stays in memory without being used or refreshed here. Evicted connections
// are read from the store again on their next call.
const evictIdleAfter = 15 * time.Minute

// evictIdle drops the entries idle for evictIdleAfter, except those with a
// refresh in flight or backing off (their state lives in the entry).
func (m *Manager) evictIdle(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, e := range m.entries {
		// An entry locked now is in use (perhaps loading from the store):
		// not idle, and not to be waited for while m.mu stalls every call.
		if !e.mu.TryLock() {
			continue
		}
		last := e.loadedAt
		if e.lastUsed.After(last) {
			last = e.lastUsed
		}
		if e.flight == nil && now.Sub(last) > evictIdleAfter && !now.Before(e.retryAt) {
			e.evicted, e.access, e.conn = true, "", mcpgate.Connection{}
			delete(m.entries, k)
		}
		e.mu.Unlock()
	}
}

// CachedConnections is the number of connections whose access token this
// process holds in memory, unsealed.
func (m *Manager) CachedConnections() int {
	n := 0
	for _, e := range m.snapshot() {
		e.mu.Lock()
		if e.access != "" {
			n++
		}
		e.mu.Unlock()
	}
	return n
}

// snapshot returns the entries, so that they can be locked one by one
// without holding m.mu (an entry's lock may be held across a store read).
func (m *Manager) snapshot() []*entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*entry, 0, len(m.entries))
	for _, e := range m.entries {
		out = append(out, e)
	}
	return out
}

// forgetServer marks every cached connection to server stale, so that a
// connection made or removed is seen on the next call. Entries are kept, not
// deleted: a refresh in flight stays the only one for its connection.
func (m *Manager) forgetServer(server string) {
	for _, e := range m.snapshot() {
		if e.key.server == server || server == "" {
			e.mu.Lock()
			e.loadedAt = time.Time{}
			e.mu.Unlock()
		}
	}
}

// Invalidate marks the cached connection of user at server stale (another
// process changed it).
func (m *Manager) Invalidate(server, user string) {
	m.mu.Lock()
	e := m.entries[connKey{server, user}]
	m.mu.Unlock()
	if e != nil {
		e.mu.Lock()
		e.loadedAt = time.Time{}
		e.mu.Unlock()
	}
}

// InvalidateAll marks every cached connection stale.
func (m *Manager) InvalidateAll() { m.forgetServer("") }

// Token returns the access token to send to server for user: the user's own
// connection, else the server's shared one. A zero Credential and nil error
// mean there is no connection: the call goes out without a token.
func (m *Manager) Token(ctx context.Context, server, user string) (Credential, error) {
	users := []string{user}
	if user != "" {
		users = append(users, "")
	}
	for _, u := range users {
		cred, ok, err := m.tokenFrom(ctx, m.lockedEntry(connKey{server, u}))
		if err != nil || ok {
			return cred, err
		}
	}
	return Credential{}, nil
}

// tokenFrom is Token for one entry, which the caller has locked.
func (m *Manager) tokenFrom(ctx context.Context, e *entry) (Credential, bool, error) {
	now := m.now()
	stale := e.loadedAt.IsZero() ||
		e.missing && now.Sub(e.loadedAt) > missingTTL ||
		!e.missing && e.flight == nil && now.Sub(e.loadedAt) > reloadTTL
	if stale {
		if err := m.load(ctx, e, now); err != nil {
			e.mu.Unlock()
			return Credential{}, false, err
		}
	}
	if e.missing {
		e.mu.Unlock()
		return Credential{}, false, nil
	}
	if e.conn.State == mcpgate.StateReauthRequired {
		err := m.connErr(e, mcpgate.ErrReauthRequired, e.conn.LastError)
		e.mu.Unlock()
		return Credential{}, false, err
	}
	e.lastUsed = now
	if e.access != "" && !m.expiring(e.conn, now) {
		if canRefresh(e.conn) && !e.refreshAt.IsZero() && !now.Before(e.refreshAt) && e.flight == nil && !now.Before(e.retryAt) {
			m.startFlight(e) // ahead of expiry, in the background
		}
		cred := credOf(e)
		e.mu.Unlock()
		return cred, true, nil
	}
	// Expired or about to: this call waits for the refresh.
	f := e.flight
	if f == nil {
		if now.Before(e.retryAt) {
			err := m.connErr(e, ErrRefreshFailing, e.conn.LastError)
			e.mu.Unlock()
			return Credential{}, false, err
		}
		f = m.startFlight(e)
	}
	e.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return Credential{}, false, ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if f.err != nil {
		var ce *ConnectionError
		if errors.As(f.err, &ce) {
			return Credential{}, false, ce
		}
		if errors.Is(f.err, mcpgate.ErrNotFound) {
			return Credential{}, false, nil
		}
		if isStoreError(f.err) {
			return Credential{}, false, f.err
		}
		if errors.Is(f.err, mcpgate.ErrReauthRequired) {
			return Credential{}, false, m.connErr(e, mcpgate.ErrReauthRequired, e.conn.LastError)
		}
		return Credential{}, false, m.connErr(e, ErrRefreshFailing, e.conn.LastError)
	}
	return credOf(e), true, nil
}

func credOf(e *entry) Credential {
	return Credential{Token: e.access, TokenType: e.conn.TokenType, ConnectionID: e.conn.ID, Server: e.conn.Server, User: e.conn.User, Generation: e.conn.Generation}
}

func (m *Manager) connErr(e *entry, kind error, detail string) *ConnectionError {
	return &ConnectionError{Kind: kind, Server: e.key.server, User: e.key.user, Detail: detail}
}

// load reads the connection of e from the store. Called with e.mu held.
func (m *Manager) load(ctx context.Context, e *entry, now time.Time) error {
	c, err := m.cfg.Store.FindConnection(ctx, e.key.server, e.key.user)
	if errors.Is(err, mcpgate.ErrNotFound) {
		e.missing, e.loadedAt, e.conn, e.access = true, now, mcpgate.Connection{}, ""
		return nil
	}
	if err != nil {
		return fmt.Errorf("load upstream connection: %w", err)
	}
	e.missing, e.loadedAt = false, now
	if c.ID == e.conn.ID && (c.Version < e.conn.Version || c.Generation < e.conn.Generation) {
		return nil // ours is newer (just refreshed, perhaps not stored yet)
	}
	return m.adopt(e, c)
}

// adopt makes c the entry's connection. Called with e.mu held.
func (m *Manager) adopt(e *entry, c mcpgate.Connection) error {
	access := ""
	if len(c.AccessToken) > 0 {
		b, err := m.cfg.Sealer.Open(c.AccessToken, accessAAD(c))
		if err != nil {
			return fmt.Errorf("open upstream access token of %s: %w", c.ID, err)
		}
		access = string(b)
	}
	e.conn, e.access, e.missing = c, access, false
	e.refreshAt = m.refreshPoint(c)
	return nil
}

func canRefresh(c mcpgate.Connection) bool {
	return len(c.RefreshToken) > 0 || directGrant(c.GrantType)
}

// expiring reports whether c's access token is expired or too close to
// expiry to be sent.
func (m *Manager) expiring(c mcpgate.Connection, now time.Time) bool {
	if c.ExpiresAt.IsZero() {
		return false
	}
	skew := 2 * time.Second
	if life := c.ExpiresAt.Sub(c.IssuedAt); life > 0 && life/10 < skew {
		skew = life / 10
	}
	return !now.Before(c.ExpiresAt.Add(-skew))
}

// refreshPoint is when c is refreshed ahead of expiry: RefreshAt of its
// lifetime, ±5% jitter derived from its id and generation so that every
// process computes the same point and a fleet of tokens spreads out.
func (m *Manager) refreshPoint(c mcpgate.Connection) time.Time {
	if c.ExpiresAt.IsZero() || !canRefresh(c) {
		return time.Time{}
	}
	life := c.ExpiresAt.Sub(c.IssuedAt)
	if life <= 0 {
		return c.ExpiresAt
	}
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", c.ID, c.Generation)
	jitter := (float64(h.Sum32()%1000)/1000 - 0.5) * 0.1
	return c.IssuedAt.Add(time.Duration(float64(life) * (m.cfg.RefreshAt + jitter)))
}

// startFlight starts the one refresh of e. Called with e.mu held.
func (m *Manager) startFlight(e *entry) *flight {
	f := &flight{done: make(chan struct{})}
	e.flight = f
	observed := e.conn
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
		defer cancel()
		c, err := m.refresh(ctx, observed)
		e.mu.Lock()
		now := m.now()
		switch {
		case err == nil:
			if aerr := m.adopt(e, c); aerr != nil {
				err = aerr
			}
			e.loadedAt, e.retryAt, e.failures = now, time.Time{}, 0
		case errors.Is(err, mcpgate.ErrNotFound):
			e.missing, e.conn, e.access, e.loadedAt = true, mcpgate.Connection{}, "", now
		case errors.Is(err, mcpgate.ErrReauthRequired):
			e.conn.State = mcpgate.StateReauthRequired
			e.conn.LastError = c.LastError
		case isStoreError(err):
			// The provider was not asked: no backoff, the next call retries.
		default:
			e.failures++
			e.retryAt = now.Add(backoff(e.failures))
			e.conn.LastError = err.Error()
		}
		e.flight, f.err = nil, err
		e.mu.Unlock()
		close(f.done)
	}()
	return f
}

func backoff(failures int) time.Duration {
	d := time.Second << min(failures-1, 6)
	return min(d, time.Minute)
}

func isNotFound(err error) bool { return errors.Is(err, mcpgate.ErrNotFound) }
