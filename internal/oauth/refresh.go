package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/mcpgate/mcpgate"
)

// refresh obtains the generation after observed.Generation, exactly once
// across every process sharing the store:
//
//  1. re-read the connection; if another process already moved past the
//     observed generation, use its tokens;
//  2. otherwise take the refresh lease by compare-and-swap on Version (if
//     another process holds an unexpired lease, wait for its result);
//  3. call the token endpoint without holding any database connection,
//     renewing the lease meanwhile (holdLease);
//  4. store the new tokens (refresh token first: they are one row) with
//     Generation+1 and the lease released, before anyone uses them.
//
// A 4xx from the token endpoint marks the connection reauth_required; other
// failures keep the old tokens and release the lease for a later retry.
func (m *Manager) refresh(ctx context.Context, observed mcpgate.Connection) (mcpgate.Connection, error) {
	for {
		cur, err := m.cfg.Store.GetConnection(ctx, observed.ID)
		if err != nil {
			return mcpgate.Connection{}, storeFailed(err)
		}
		if cur.Generation > observed.Generation {
			return cur, nil // the winner's token
		}
		if cur.Generation < observed.Generation {
			// This process holds refreshed tokens the store has not
			// received yet (storeLater): the stored refresh token is spent.
			return mcpgate.Connection{}, storeFailed(fmt.Errorf("connection %s: refreshed tokens not stored yet", cur.ID))
		}
		if cur.State == mcpgate.StateReauthRequired {
			return cur, fmt.Errorf("%w: %s", mcpgate.ErrReauthRequired, cur.LastError)
		}
		now := m.now()
		if cur.LeaseOwner != "" && cur.LeaseOwner != m.cfg.ProcessID && now.Before(cur.LeaseUntil) {
			select { // another process is refreshing: wait and re-read
			case <-time.After(50 * time.Millisecond):
				continue
			case <-ctx.Done():
				return mcpgate.Connection{}, fmt.Errorf("waiting for another gateway's refresh: %w", ctx.Err())
			}
		}
		cur.LeaseOwner, cur.LeaseUntil = m.cfg.ProcessID, now.Add(m.cfg.LeaseDuration)
		leased, err := m.cfg.Store.UpdateConnection(ctx, cur)
		if errors.Is(err, mcpgate.ErrConflict) {
			continue
		}
		if err != nil {
			return mcpgate.Connection{}, storeFailed(fmt.Errorf("take refresh lease: %w", err))
		}
		return m.refreshLeased(ctx, leased)
	}
}

func (m *Manager) refreshLeased(ctx context.Context, leased mcpgate.Connection) (mcpgate.Connection, error) {
	stop := m.holdLease(ctx, leased)
	tok, err := m.providerToken(ctx, leased)
	stop() // before the final write, which no renewal may follow
	now := m.now().UTC()
	next := leased
	next.LeaseOwner, next.LeaseUntil, next.UpdatedAt = "", time.Time{}, now
	if err != nil {
		next.RefreshFailures++
		next.LastError, next.LastErrorAt = truncate(err.Error(), 300), now
		var te *TokenError
		permanent := errors.As(err, &te) && te.Permanent() || errors.Is(err, errNoRefreshToken) || errors.Is(err, ErrRegistration)
		if permanent {
			next.State, next.RefreshDueAt = mcpgate.StateReauthRequired, time.Time{}
		}
		saved, serr := m.storeAfterLease(ctx, next)
		if serr != nil {
			m.log.Warn("could not record refresh failure", "connection", leased.ID, "err", serr)
			saved = next
		}
		m.log.Warn("upstream token refresh failed", "connection", leased.ID, "server", leased.Server,
			"user", leased.User, "permanent", permanent, "err", err)
		if permanent {
			return saved, fmt.Errorf("%w: %s", mcpgate.ErrReauthRequired, next.LastError)
		}
		return saved, err
	}
	next.Generation++
	next.IssuedAt, next.ExpiresAt, next.LastRefreshAt = now, tok.ExpiresAt, now
	next.TokenType = tok.Type
	next.RefreshFailures, next.LastError, next.LastErrorAt = 0, "", time.Time{}
	if len(tok.Scopes) > 0 {
		next.Scopes = tok.Scopes
	}
	if err := m.sealTokens(&next, tok); err != nil {
		return mcpgate.Connection{}, err
	}
	next.RefreshDueAt = m.refreshPoint(next)
	saved, err := m.storeAfterLease(ctx, next)
	if err != nil && storeUnavailable(err) {
		// The provider has rotated the tokens: the old refresh token is
		// spent, so the new pair must not be lost to a store outage. This
		// process uses it at once and keeps trying to store it.
		m.log.Warn("could not store refreshed tokens; using them and retrying the write", "connection", next.ID, "err", err)
		go m.storeLater(next)
		return next, nil
	}
	if err != nil {
		return mcpgate.Connection{}, fmt.Errorf("store refreshed tokens: %w", err)
	}
	m.log.Info("upstream token refreshed", "connection", saved.ID, "server", saved.Server, "user", saved.User,
		"generation", saved.Generation, "expires_at", saved.ExpiresAt)
	return saved, nil
}

// storeAfterLease writes next over the leased row. Only the lease holder
// changes tokens, but other fields (last use) may have moved: on a conflict
// it re-reads and retries as long as the row is still ours and of the same
// generation.
func (m *Manager) storeAfterLease(ctx context.Context, next mcpgate.Connection) (mcpgate.Connection, error) {
	for range 5 {
		saved, err := m.cfg.Store.UpdateConnection(ctx, next)
		if !errors.Is(err, mcpgate.ErrConflict) {
			return saved, err
		}
		cur, rerr := m.cfg.Store.GetConnection(ctx, next.ID)
		if rerr != nil {
			return mcpgate.Connection{}, rerr
		}
		if cur.LeaseOwner != m.cfg.ProcessID {
			return mcpgate.Connection{}, fmt.Errorf("%w: %s's lease passed to another process (it was not renewed within %s)", errLeaseLost, next.ID, m.cfg.LeaseDuration)
		}
		next.Version, next.LastUsedAt = cur.Version, cur.LastUsedAt
	}
	return mcpgate.Connection{}, fmt.Errorf("store connection %s: %w", next.ID, mcpgate.ErrConflict)
}

// holdLease renews leased's refresh lease every LeaseDuration/3 while the
// token request runs. The lease can thus be short: a holder that dies stops
// renewing it, and the others take over within LeaseDuration. stop ends the
// heartbeat and waits for it, so nothing renews the lease after the final
// write. A renewal that stop cuts short may still reach the database, but it
// is a compare-and-swap on the Version it read, a leased row of the same
// generation: it either lands before the final write (which then conflicts,
// re-reads and retries) or fails.
func (m *Manager) holdLease(ctx context.Context, leased mcpgate.Connection) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(max(m.cfg.LeaseDuration/3, time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			held, err := m.renewLease(ctx, leased)
			if err != nil && ctx.Err() == nil {
				// Next tick tries again; if the store stays away, the
				// lease lapses on its own.
				m.log.Debug("could not renew the refresh lease", "connection", leased.ID, "err", err)
			}
			if !held {
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// renewLease moves the lease on leased's row to now+LeaseDuration. It
// reports false once the lease is no longer this process's to renew: another
// process took it over (ours lapsed), the generation moved on, or the row is
// gone.
func (m *Manager) renewLease(ctx context.Context, leased mcpgate.Connection) (bool, error) {
	for range 3 { // a conflict is another write to the row (last use): re-read
		cur, err := m.cfg.Store.GetConnection(ctx, leased.ID)
		if err != nil {
			return !errors.Is(err, mcpgate.ErrNotFound), fmt.Errorf("renew refresh lease: %w", err)
		}
		if cur.LeaseOwner != m.cfg.ProcessID || cur.Generation != leased.Generation {
			return false, nil
		}
		cur.LeaseUntil = m.now().Add(m.cfg.LeaseDuration)
		_, err = m.cfg.Store.UpdateConnection(ctx, cur)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, mcpgate.ErrConflict) {
			return !errors.Is(err, mcpgate.ErrNotFound), fmt.Errorf("renew refresh lease: %w", err)
		}
	}
	return true, fmt.Errorf("renew refresh lease of %s: %w", leased.ID, mcpgate.ErrConflict)
}

// storeUnavailable reports whether a write failed for want of the store,
// as opposed to being refused (a conflict, a lost lease, a missing row).
func storeUnavailable(err error) bool {
	return !errors.Is(err, mcpgate.ErrConflict) && !errors.Is(err, mcpgate.ErrNotFound) && !errors.Is(err, errLeaseLost)
}

var errLeaseLost = errors.New("refresh lease lost")

// storeLaterFor bounds how long refreshed tokens are kept trying to be
// stored after a store outage; the wait between tries is at most
// storeLaterMaxWait.
const (
	storeLaterFor     = 10 * time.Minute
	storeLaterMaxWait = 2 * time.Second
)

// storeLater retries writing refreshed tokens that could not be stored,
// until the write succeeds, the row has moved on without them, or
// storeLaterFor has passed.
func (m *Manager) storeLater(next mcpgate.Connection) {
	ctx, cancel := context.WithTimeout(context.Background(), storeLaterFor)
	defer cancel()
	wait := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			m.log.Error("refreshed tokens were never stored: the connection may need re-authorization", "connection", next.ID, "server", next.Server, "user", next.User)
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, storeLaterMaxWait)
		saved, err := m.storeAfterLease(ctx, next)
		if err == nil {
			m.log.Info("refreshed tokens stored after a store outage", "connection", saved.ID, "generation", saved.Generation)
			return
		}
		if !storeUnavailable(err) {
			m.log.Error("refreshed tokens could not be stored: the connection may need re-authorization", "connection", next.ID, "server", next.Server, "user", next.User, "err", err)
			return
		}
	}
}

// storeError is a refresh that failed before reaching the provider because
// the gateway's own store did (e.g. PostgreSQL unreachable). It is no
// reason to back off from the provider nor to tell the caller that the
// connection's refresh is failing: the caller gets a plain error (the proxy
// answers 503 "try again" without the store's details, which name hosts and
// database users), and the next call tries again.
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// storeFailed marks err as a store failure; a missing row is not one.
func storeFailed(err error) error {
	if errors.Is(err, mcpgate.ErrNotFound) {
		return err
	}
	return &storeError{err}
}

func isStoreError(err error) bool {
	var se *storeError
	return errors.As(err, &se)
}

var errNoRefreshToken = errors.New("the authorization server issued no refresh token, so the connection must be re-authorized when its access token expires")

// providerToken asks the token endpoint for the next token of c.
func (m *Manager) providerToken(ctx context.Context, c mcpgate.Connection) (token, error) {
	asm, err := m.authServerOrDefaults(ctx, c.Issuer)
	if err != nil {
		return token{}, err
	}
	cl, err := m.clientFor(ctx, c.Server, asm)
	if err != nil {
		return token{}, err
	}
	if cl.ID != c.ClientID {
		return token{}, fmt.Errorf("%w: the server's OAuth client changed from %q to %q", ErrRegistration, c.ClientID, cl.ID)
	}
	var form url.Values
	switch {
	case directGrant(c.GrantType):
		credential := ""
		if len(c.GrantCredential) > 0 {
			b, err := m.cfg.Sealer.Open(c.GrantCredential, grantCredentialAAD(c))
			if err != nil {
				return token{}, fmt.Errorf("open grant credential: %w", err)
			}
			credential = string(b)
		}
		if form, err = m.grantForm(ctx, c, credential, asm); err != nil {
			return token{}, err
		}
	case len(c.RefreshToken) > 0:
		rt, err := m.cfg.Sealer.Open(c.RefreshToken, refreshAAD(c))
		if err != nil {
			return token{}, fmt.Errorf("open refresh token: %w", err)
		}
		form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {string(rt)}}
		if c.Resource != "" {
			form.Set("resource", c.Resource)
		}
	default:
		return token{}, errNoRefreshToken
	}
	release := m.acquireIssuer(ctx, c.Issuer)
	defer release()
	return m.requestToken(ctx, asm.TokenEndpoint, cl, asm.Issuer, form)
}

func joinScopes(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}
