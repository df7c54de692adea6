package policy

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"
)

// parseRate parses "N/s", "N/m" or "N/h".
func parseRate(s string) (Rate, error) {
	n, unit, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, errors.New(`rate must be N/s, N/m or N/h, e.g. "10/m"`)
	}
	v, err := strconv.Atoi(n)
	if err != nil || v < 1 || v > 1_000_000_000 {
		return Rate{}, errors.New("rate count must be an integer from 1 to 1000000000")
	}
	r := Rate{N: v}
	switch unit {
	case "s":
		r.Per = time.Second
	case "m":
		r.Per = time.Minute
	case "h":
		r.Per = time.Hour
	default:
		return Rate{}, errors.New(`rate unit must be s, m or h, e.g. "10/m"`)
	}
	return r, nil
}

// defaultMaxRateKeys bounds the limiter's memory: about 100 bytes a key.
const defaultMaxRateKeys = 100_000

// sweepEvery is how often the limiter drops keys whose window has ended,
// when it is not full.
const sweepEvery = time.Minute

// limiter counts calls in fixed windows per (rule, grant, name). A window
// starts at its key's first counted call; a key whose window has ended holds
// nothing and is evicted. It is safe for concurrent use.
type limiter struct {
	mu        sync.Mutex
	windows   map[rateKey]*window
	maxKeys   int
	nextSweep int64 // unix nanoseconds
	lastSweep int64
}

type rateKey struct {
	rule  int32
	grant string
	name  string
}

type window struct {
	end int64 // unix nanoseconds
	n   int
}

func newLimiter(maxKeys int) *limiter {
	return &limiter{windows: make(map[rateKey]*window), maxKeys: maxKeys}
}

// errLimiterFull is the reason a call is refused when every key is live.
var errLimiterFull = errors.New("rate limiter is full")

// take counts one call for k. When the window already holds r.N calls it
// counts nothing and returns the time until the window ends. A returned
// token gives the call back with refund. When the limiter holds maxKeys live
// keys, a new key is refused with errLimiterFull: failing open would let a
// caller escape its limit by filling the table.
func (l *limiter) take(k rateKey, r Rate, now time.Time) (tok token, retry time.Duration, err error) {
	t := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	if t >= l.nextSweep {
		l.sweep(t)
	}
	w := l.windows[k]
	if w == nil {
		if len(l.windows) >= l.maxKeys {
			if t-l.lastSweep >= int64(time.Second) { // at most one full-table sweep a second
				l.sweep(t)
			}
			if len(l.windows) >= l.maxKeys {
				return token{}, time.Second, errLimiterFull
			}
		}
		// The key outlives the call: do not pin the caller's buffers.
		k.grant, k.name = strings.Clone(k.grant), strings.Clone(k.name)
		w = &window{end: t + int64(r.Per)}
		l.windows[k] = w
	} else if t >= w.end {
		*w = window{end: t + int64(r.Per)}
	}
	if w.n >= r.N {
		return token{}, time.Duration(w.end - t), nil
	}
	w.n++
	return token{w: w, end: w.end}, 0, nil
}

// token is one counted call, in the process (w) or in a shared store.
type token struct {
	w   *window
	end int64

	shared    *sharedCounter
	key       string
	sharedEnd time.Time
}

// take counts one call against r's rate, in the shared store when the
// policy has one.
func (p *Policy) take(r *rule, grant, name string, now time.Time) (token, time.Duration, error) {
	if p.shared != nil {
		return p.shared.take(r, grant, name, now)
	}
	return p.limiter.take(rateKey{r.index, grant, name}, r.rate, now)
}

// refund gives back a call counted by take.
func (p *Policy) refund(tok token) {
	if tok.shared != nil {
		tok.shared.refund(tok)
		return
	}
	p.limiter.refund(tok)
}

// refund gives back a call counted by take, if its window is still the same.
func (l *limiter) refund(tok token) {
	if tok.w == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if tok.w.end == tok.end && tok.w.n > 0 {
		tok.w.n--
	}
}

// sweep drops the keys whose window has ended. Called with mu held.
func (l *limiter) sweep(t int64) {
	for k, w := range l.windows {
		if t >= w.end {
			delete(l.windows, k)
		}
	}
	l.lastSweep = t
	l.nextSweep = t + int64(sweepEvery)
}

// len returns the number of keys held, for tests.
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.windows)
}
