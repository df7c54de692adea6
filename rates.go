package mcpgate

import (
	"context"
	"time"
)

// RateStore counts calls in fixed windows shared by every process on the
// store, so that replicas enforce a policy rate together rather than each
// on its own. A window is named by an opaque key and the time it ends; the
// caller aligns windows (every replica derives the same end from the clock).
type RateStore interface {
	// TakeRate counts one call in the window (key, end) unless it already
	// holds limit calls; it reports whether the call was counted. Concurrent
	// callers never count more than limit calls in one window.
	TakeRate(ctx context.Context, key string, end time.Time, limit int) (bool, error)
	// RefundRate gives back one call counted in the window, if it holds any.
	RefundRate(ctx context.Context, key string, end time.Time) error
	// DeleteRatesBefore removes the windows that ended before t and returns
	// how many.
	DeleteRatesBefore(ctx context.Context, t time.Time) (int, error)
}
