package audit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type fakeDeleter struct {
	mu      sync.Mutex
	cutoffs []time.Time
	err     error
}

func (d *fakeDeleter) DeleteAuditBefore(_ context.Context, t time.Time) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cutoffs = append(d.cutoffs, t)
	return 3, d.err
}

func (d *fakeDeleter) calls() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.cutoffs...)
}

// TestRunRetention: old events go at start and then every hour, each time
// those older than keep; a failure does not stop the loop; ctx does.
func TestRunRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDeleter{err: errors.New("locked")}
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		done := make(chan struct{})
		go func() {
			RunRetention(ctx, d, 720*time.Hour, nil)
			close(done)
		}()
		synctest.Wait()
		if got := d.calls(); len(got) != 1 || !got[0].Equal(start.Add(-720*time.Hour)) {
			t.Fatalf("at start: cutoffs %v, want [%v]", got, start.Add(-720*time.Hour))
		}
		time.Sleep(3*time.Hour + time.Minute)
		synctest.Wait()
		got := d.calls()
		if len(got) != 4 || !got[3].Equal(start.Add(3*time.Hour-720*time.Hour)) {
			t.Fatalf("after 3h: cutoffs %v, want 4, the last %v", got, start.Add(3*time.Hour-720*time.Hour))
		}
		cancel()
		<-done
	})
}

func TestRunRetentionDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDeleter{}
		RunRetention(t.Context(), d, 0, nil) // returns at once
		if got := d.calls(); len(got) != 0 {
			t.Errorf("retention 0 deleted: %v", got)
		}
	})
}
