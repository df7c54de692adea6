package audit

import (
	"context"
	"log/slog"
	"time"
)

// Deleter is the part of the store retention needs.
type Deleter interface {
	DeleteAuditBefore(ctx context.Context, t time.Time) (int, error)
}

// RetentionInterval is how often RunRetention deletes old events.
const RetentionInterval = time.Hour

// RunRetention deletes events older than keep at once and then every
// RetentionInterval, until ctx ends. keep <= 0 keeps events forever.
// Failures are logged and tried again at the next interval.
func RunRetention(ctx context.Context, store Deleter, keep time.Duration, log *slog.Logger) {
	if keep <= 0 {
		return
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(RetentionInterval)
	defer t.Stop()
	for {
		n, err := store.DeleteAuditBefore(ctx, time.Now().Add(-keep))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("audit retention failed", "err", err)
		case n > 0:
			log.Info("audit retention: removed old events", "count", n, "older_than", keep)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
