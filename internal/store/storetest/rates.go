package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// takeRate counts one call, failing the test on an error.
func takeRate(t *testing.T, s mcpgate.Store, key string, end time.Time, limit int) bool {
	t.Helper()
	ok, err := s.TakeRate(t.Context(), key, end, limit)
	if err != nil {
		t.Fatalf("TakeRate(%q, %v, %d): %v", key, end, limit, err)
	}
	return ok
}

// testRateWindows: a window counts up to its limit, refunds give calls
// back, and windows and keys are independent.
func testRateWindows(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	end := at(time.Minute)
	for i := range 3 {
		if !takeRate(t, s, "k1", end, 3) {
			t.Fatalf("call %d of 3 refused", i+1)
		}
	}
	if takeRate(t, s, "k1", end, 3) {
		t.Fatal("a 4th call counted in a window limited to 3")
	}
	if !takeRate(t, s, "k2", end, 3) {
		t.Fatal("another key's window is full too")
	}
	if !takeRate(t, s, "k1", at(2*time.Minute), 3) {
		t.Fatal("the next window of the same key is full too")
	}
	if err := s.RefundRate(ctx, "k1", end); err != nil {
		t.Fatalf("RefundRate: %v", err)
	}
	if !takeRate(t, s, "k1", end, 3) {
		t.Fatal("a refunded call cannot be taken again")
	}
	if takeRate(t, s, "k1", end, 3) {
		t.Fatal("the window holds more than its limit after a refund")
	}
	// A refund of a window that holds nothing, or does not exist, is not an
	// error and does not go below zero.
	if err := s.RefundRate(ctx, "missing", end); err != nil {
		t.Fatalf("RefundRate of a missing window: %v", err)
	}
	for range 3 {
		if err := s.RefundRate(ctx, "k2", end); err != nil {
			t.Fatalf("RefundRate: %v", err)
		}
	}
	if !takeRate(t, s, "k2", end, 1) || takeRate(t, s, "k2", end, 1) {
		t.Fatal("refunds took a window below zero")
	}
	// A lower limit than the window already holds refuses at once.
	if takeRate(t, s, "k1", end, 1) {
		t.Fatal("a call counted in a window that already holds more than the limit")
	}
}

// testRateDeleteBefore: only windows that ended before t go.
func testRateDeleteBefore(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	for _, d := range []time.Duration{time.Second, time.Minute, time.Hour} {
		takeRate(t, s, "k", at(d), 5)
		takeRate(t, s, "other", at(d), 5)
	}
	n, err := s.DeleteRatesBefore(ctx, at(time.Minute))
	if err != nil {
		t.Fatalf("DeleteRatesBefore: %v", err)
	}
	if n != 2 {
		t.Fatalf("DeleteRatesBefore removed %d windows; want 2", n)
	}
	// The window ending at the cut-off survived with its count.
	for range 4 {
		takeRate(t, s, "k", at(time.Minute), 5)
	}
	if takeRate(t, s, "k", at(time.Minute), 5) {
		t.Fatal("the window ending at the cut-off lost its count")
	}
	// The removed window starts again from zero.
	if !takeRate(t, s, "k", at(time.Second), 1) {
		t.Fatal("a removed window still holds its count")
	}
}

// testRateConcurrent: n writers racing for one window with a limit of
// limit count exactly limit calls.
func testRateConcurrent(t *testing.T, s mcpgate.Store, n, limit int) {
	end := at(time.Minute)
	var (
		counted atomic.Int32
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			<-start
			ok, err := s.TakeRate(t.Context(), "race", end, limit)
			if err != nil {
				t.Errorf("TakeRate: %v", err)
				return
			}
			if ok {
				counted.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := int(counted.Load()); got != limit {
		t.Fatalf("%d concurrent calls in a window limited to %d: %d counted", n, limit, got)
	}
}
