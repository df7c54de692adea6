package policy

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"sync/atomic"
	"time"
)

// SharedRates is a store of rate windows that every replica on it shares
// (mcpgate.RateStore), so that N replicas enforce one limit together.
type SharedRates interface {
	TakeRate(ctx context.Context, key string, end time.Time, limit int) (bool, error)
	RefundRate(ctx context.Context, key string, end time.Time) error
}

// Option configures a Policy at Parse.
type Option func(*Policy)

// WithSharedRates counts rates in store instead of in the process: windows
// are aligned to the clock (a 10/m window is a calendar minute) and named by
// rule id, grant and name, so that every replica counts into the same
// window and a reload keeps the counts. While the store fails, calls are
// counted in the process (each replica then enforces the limit on its own)
// and the store is tried again after storeRetry.
func WithSharedRates(store SharedRates, log *slog.Logger) Option {
	return func(p *Policy) {
		p.shared = &sharedCounter{store: store, local: p.limiter, log: log}
	}
}

const (
	// storeTimeout bounds one shared count: a rated call waits at most this
	// long for the store before it is counted locally.
	storeTimeout = time.Second
	// storeRetry is how long counting stays local after the store failed.
	storeRetry = 5 * time.Second
)

// sharedCounter counts in a SharedRates, falling back to local.
type sharedCounter struct {
	store     SharedRates
	local     *limiter
	log       *slog.Logger
	downUntil atomic.Int64 // unix nanoseconds; the store is not tried before
}

// take counts one call for (r, grant, name), like limiter.take.
func (s *sharedCounter) take(r *rule, grant, name string, now time.Time) (token, time.Duration, error) {
	if now.UnixNano() < s.downUntil.Load() {
		return s.local.take(rateKey{r.index, grant, name}, r.rate, now)
	}
	end := now.Truncate(r.rate.Per).Add(r.rate.Per)
	key := windowKey(r.id, grant, name)
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	ok, err := s.store.TakeRate(ctx, key, end, r.rate.N)
	if err != nil {
		s.downUntil.Store(now.Add(storeRetry).UnixNano())
		if s.log != nil {
			s.log.Warn("rate store unavailable; counting rates in this replica only", "retry_in", storeRetry, "err", err)
		}
		return s.local.take(rateKey{r.index, grant, name}, r.rate, now)
	}
	if !ok {
		return token{}, end.Sub(now), nil
	}
	return token{shared: s, key: key, sharedEnd: end}, 0, nil
}

// refund gives back a call counted in the store. A failure costs the caller
// one call of its window at most, so it is only logged.
func (s *sharedCounter) refund(t token) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := s.store.RefundRate(ctx, t.key, t.sharedEnd); err != nil && s.log != nil {
		s.log.Warn("cannot give back a rate count", "err", err)
	}
}

// windowKey names a rule's window for one grant and name. A digest keeps
// the key short whatever the name (a resource URI can be long) and keeps
// names out of the store.
func windowKey(ruleID, grant, name string) string {
	h := sha256.New()
	h.Write([]byte(ruleID))
	h.Write([]byte{0})
	h.Write([]byte(grant))
	h.Write([]byte{0})
	h.Write([]byte(name))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0]))
}
