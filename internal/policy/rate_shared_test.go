package policy

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/store/sqlite"
)

// sharedStore opens a real store for shared rate windows.
func sharedStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "rates.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustParseShared(t *testing.T, src string, rates SharedRates) *Policy {
	t.Helper()
	p, err := Parse([]byte(src), WithSharedRates(rates, nil))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

const threeAMinute = `
defaults: {"*": deny}
rules:
  - id: three-a-minute
    tools: ["*"]
    effect: allow
    rate: 3/m
`

// Two replicas (two Policies on one store) enforce one limit together, in
// windows aligned to the clock; a reloaded policy keeps the counts.
func TestSharedRatesHoldAcrossReplicas(t *testing.T) {
	store := sharedStore(t)
	a := mustParseShared(t, threeAMinute, store)
	b := mustParseShared(t, threeAMinute, store)
	now := noon.Add(20 * time.Second) // 40 s before the calendar minute ends
	call := func(p *Policy, grant string) Decision {
		return p.Evaluate(Input{Server: "s", Name: "t", GrantID: grant, Now: now})
	}
	for i, p := range []*Policy{a, b, a} {
		if d := call(p, "g1"); !d.Allow {
			t.Fatalf("call %d of 3: %+v", i+1, d)
		}
	}
	d := call(b, "g1")
	if d.Allow || d.RuleID != "three-a-minute" || d.RetryAfter != 40*time.Second {
		t.Fatalf("4th call, on the other replica: %+v; want denied, retry in 40s", d)
	}
	if d := call(a, "g2"); !d.Allow {
		t.Fatalf("another grant shares the first grant's window: %+v", d)
	}
	reloaded := mustParseShared(t, threeAMinute+"    description: reworded\n", store)
	if d := call(reloaded, "g1"); d.Allow {
		t.Fatalf("a reload reset the counts: %+v", d)
	}
	now = noon.Add(time.Minute)
	if d := call(b, "g1"); !d.Allow {
		t.Fatalf("next calendar minute: %+v", d)
	}
}

// When a later limiter refuses a call, the counts an earlier one took go
// back to the store.
func TestSharedRatesRefund(t *testing.T) {
	store := sharedStore(t)
	p := mustParseShared(t, `
rules:
  - id: limiter
    tools: [t]
    effect: deny
    rate: 5/m
  - id: allow-one
    tools: [t]
    effect: allow
    rate: 1/m
`, store)
	in := Input{Server: "s", Name: "t", GrantID: "g", Now: noon}
	if d := p.Evaluate(in); !d.Allow {
		t.Fatalf("first call: %+v", d)
	}
	if d := p.Evaluate(in); d.Allow || d.RuleID != "allow-one" {
		t.Fatalf("second call: %+v; want denied by allow-one's rate", d)
	}
	// The limiter's window holds the first call only: one more fits under 2.
	key, end := windowKey("limiter", "g", "t"), noon.Add(time.Minute)
	if ok, err := store.TakeRate(t.Context(), key, end, 2); err != nil || !ok {
		t.Fatalf("limiter window after a refused call: take under 2 = %v, %v; the refused call was not given back", ok, err)
	}
}

// failingRates fails while down is set.
type failingRates struct {
	SharedRates
	down  atomic.Bool
	tries atomic.Int32
}

func (f *failingRates) TakeRate(ctx context.Context, key string, end time.Time, limit int) (bool, error) {
	f.tries.Add(1)
	if f.down.Load() {
		return false, errors.New("connection refused")
	}
	return f.SharedRates.TakeRate(ctx, key, end, limit)
}

// While the store fails, each replica enforces the limit on its own, the
// store is not asked again until storeRetry has passed, and then counting
// is shared again.
func TestSharedRatesFallBackWhileStoreFails(t *testing.T) {
	f := &failingRates{SharedRates: sharedStore(t)}
	p := mustParseShared(t, threeAMinute, f)
	now := noon
	call := func() Decision { return p.Evaluate(Input{Server: "s", Name: "t", GrantID: "g", Now: now}) }

	f.down.Store(true)
	for i := range 3 {
		if d := call(); !d.Allow {
			t.Fatalf("call %d with the store down: %+v", i+1, d)
		}
	}
	if d := call(); d.Allow {
		t.Fatalf("4th call with the store down: %+v; the local count must still hold", d)
	}
	if n := f.tries.Load(); n != 1 {
		t.Fatalf("store asked %d times while down; want once per %v", n, storeRetry)
	}

	f.down.Store(false)
	now = now.Add(storeRetry)
	for i := range 3 {
		if d := call(); !d.Allow {
			t.Fatalf("call %d with the store back: %+v", i+1, d)
		}
	}
	if d := call(); d.Allow {
		t.Fatalf("4th call with the store back: %+v", d)
	}
	if n := f.tries.Load(); n != 5 {
		t.Fatalf("store asked %d times in all; want 1 while down and 4 after", n)
	}
}
