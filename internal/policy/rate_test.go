package policy

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a deterministic time source for rate tests.
type clock struct{ t time.Time }

func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestRateAllowRule(t *testing.T) {
	p := mustParse(t, `
defaults: {"*": deny}
rules:
  - id: three-a-minute
    tools: ["*"]
    effect: allow
    rate: 3/m
`)
	c := &clock{t: noon}
	call := func(grant, tool string) Decision {
		return p.Evaluate(Input{Server: "s", Name: tool, GrantID: grant, Now: c.t})
	}
	for i := range 3 {
		if d := call("gr_1", "t"); !d.Allow || d.RuleID != "three-a-minute" {
			t.Fatalf("call %d: %+v", i, d)
		}
		c.advance(10 * time.Second)
	}
	d := call("gr_1", "t")
	if d.Allow || d.RuleID != "three-a-minute" || d.RetryAfter != 30*time.Second {
		t.Fatalf("4th call: %+v", d)
	}
	const reason = `rate limit 3/m of rule "three-a-minute" exceeded for grant "gr_1" and "t"; retry in 30s`
	if d.Reason != reason {
		t.Errorf("reason = %q, want %q", d.Reason, reason)
	}
	// Other grants and other tools have their own counts.
	if d := call("gr_2", "t"); !d.Allow {
		t.Errorf("other grant: %+v", d)
	}
	if d := call("gr_1", "u"); !d.Allow {
		t.Errorf("other tool: %+v", d)
	}
	c.advance(29 * time.Second)
	if d := call("gr_1", "t"); d.Allow || d.RetryAfter != time.Second {
		t.Errorf("just before the window ends: %+v", d)
	}
	c.advance(time.Second)
	if d := call("gr_1", "t"); !d.Allow {
		t.Errorf("new window: %+v", d)
	}
}

func TestRateDenyRuleIsALimiter(t *testing.T) {
	p := mustParse(t, `
rules:
  - id: bulk-limit
    tools: [send]
    effect: deny
    when: 'has(args.bulk) && args.bulk'
    rate: 2/s
`)
	c := &clock{t: noon}
	call := func(args string) Decision {
		a, err := ParseArguments([]byte(args))
		if err != nil {
			t.Fatal(err)
		}
		return p.Evaluate(Input{Server: "mail", Name: "send", GrantID: "g", Args: a, Now: c.t})
	}
	for i := range 5 {
		if d := call(`{"bulk":false}`); !d.Allow {
			t.Fatalf("non-bulk call %d: %+v", i, d)
		}
	}
	for i := range 2 {
		if d := call(`{"bulk":true}`); !d.Allow || d.RuleID != "" {
			t.Fatalf("bulk call %d within the rate: %+v", i, d)
		}
	}
	if d := call(`{"bulk":true}`); d.Allow || d.RuleID != "bulk-limit" || d.RetryAfter != time.Second {
		t.Fatalf("bulk call over the rate: %+v", d)
	}
	c.advance(time.Second)
	if d := call(`{"bulk":true}`); !d.Allow {
		t.Fatalf("next second: %+v", d)
	}
}

func TestRateCountsOnlyAllowedCalls(t *testing.T) {
	p := mustParse(t, `
rules:
  - id: no-drafts
    effect: deny
    when: 'has(args.draft)'
  - id: limit
    effect: deny
    rate: 2/m
  - id: one-x
    tools: [x]
    effect: allow
    rate: 1/m
`)
	c := &clock{t: noon}
	call := func(tool, args string) Decision {
		a, _ := ParseArguments([]byte(args))
		return p.Evaluate(Input{Server: "s", Name: tool, GrantID: "g", Args: a, Now: c.t})
	}
	// Denied calls spend nothing.
	for range 5 {
		if d := call("x", `{"draft":1}`); d.Allow || d.RuleID != "no-drafts" {
			t.Fatalf("draft: %+v", d)
		}
	}
	if d := call("x", `{}`); !d.Allow || d.RuleID != "one-x" {
		t.Fatalf("first x: %+v", d)
	}
	// Over one-x: the count taken from "limit" is given back.
	if d := call("x", `{}`); d.Allow || d.RuleID != "one-x" {
		t.Fatalf("second x: %+v", d)
	}
	if d := call("x", `{}`); d.Allow || d.RuleID != "one-x" {
		t.Fatalf("third x: %+v", d)
	}
	// limit has counted one call of x; y has its own key.
	for i := range 2 {
		if d := call("y", `{}`); !d.Allow {
			t.Fatalf("y %d: %+v", i, d)
		}
	}
	if d := call("y", `{}`); d.Allow || d.RuleID != "limit" {
		t.Fatalf("third y: %+v", d)
	}
}

func TestRateDryRun(t *testing.T) {
	p := mustParse(t, `
rules:
  - id: would-limit
    effect: deny
    mode: dry-run
    rate: 1/h
  - id: would-limit-allow
    tools: [t]
    effect: allow
    mode: dry-run
    rate: 2/h
`)
	c := &clock{t: noon}
	var got [][]string
	for range 3 {
		d := p.Evaluate(Input{Server: "s", Name: "t", GrantID: "g", Now: c.t})
		if !d.Allow || d.RetryAfter != 0 {
			t.Fatalf("dry-run changed the outcome: %+v", d)
		}
		got = append(got, d.DryRunDenials)
	}
	want := [][]string{nil, {"would-limit"}, {"would-limit", "would-limit-allow"}}
	for i := range want {
		if strings.Join(got[i], ",") != strings.Join(want[i], ",") {
			t.Errorf("call %d: DryRunDenials = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestLimiterBounded(t *testing.T) {
	p := mustParse(t, `
rules:
  - id: per-tool
    effect: deny
    rate: 5/s
`)
	p.limiter = newLimiter(3)
	c := &clock{t: noon}
	call := func(tool string) Decision {
		return p.Evaluate(Input{Server: "s", Name: tool, GrantID: "g", Now: c.t})
	}
	for _, tool := range []string{"a", "b", "c"} {
		if d := call(tool); !d.Allow {
			t.Fatalf("%s: %+v", tool, d)
		}
	}
	// Full of live keys: a new key is refused, known keys still count.
	if d := call("d"); d.Allow || d.RuleID != "per-tool" || !strings.Contains(d.Reason, "rate limiter is full") || d.RetryAfter <= 0 {
		t.Fatalf("new key on a full limiter: %+v", d)
	}
	if d := call("a"); !d.Allow {
		t.Fatalf("known key on a full limiter: %+v", d)
	}
	// Once the windows end, the keys are evicted and there is room again.
	c.advance(2 * time.Second)
	if d := call("d"); !d.Allow {
		t.Fatalf("after the windows ended: %+v", d)
	}
	if n := p.limiter.len(); n != 1 {
		t.Errorf("limiter holds %d keys, want 1", n)
	}
}

func TestLimiterSweepsIdleKeys(t *testing.T) {
	l := newLimiter(1000)
	c := &clock{t: noon}
	r := Rate{N: 1, Per: time.Second}
	for i := range 100 {
		if _, retry, err := l.take(rateKey{grant: "g", name: string(rune('a'+i%26)) + string(rune('a'+i/26))}, r, c.t); err != nil || retry != 0 {
			t.Fatal(retry, err)
		}
	}
	if n := l.len(); n != 100 {
		t.Fatalf("%d keys", n)
	}
	c.advance(sweepEvery)
	l.take(rateKey{grant: "g", name: "new"}, r, c.t)
	if n := l.len(); n != 1 {
		t.Errorf("after a sweep: %d keys, want 1", n)
	}
}

func TestRateConcurrent(t *testing.T) {
	p := mustParse(t, `
rules:
  - id: hundred
    effect: allow
    rate: 100/h
`)
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if p.Evaluate(Input{Server: "s", Name: "t", GrantID: "g", Now: noon}).Allow {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != 100 {
		t.Errorf("%d calls allowed, want 100", n)
	}
}

// A probe (policy test) shows whether a rate would refuse the call without
// using up the grant's calls, in every kind of counter.
func TestRateProbeCountsNothing(t *testing.T) {
	const src = `
rules:
  - id: one-a-minute
    tools: [t]
    effect: allow
    rate: 1/m
  - id: would-limit
    tools: [t]
    effect: deny
    mode: dry-run
    rate: 1/m
`
	for name, p := range map[string]*Policy{
		"local":  mustParse(t, src),
		"shared": mustParseShared(t, src, sharedStore(t)),
	} {
		t.Run(name, func(t *testing.T) {
			in := Input{Server: "s", Name: "t", GrantID: "g", Now: noon}
			probe := in
			probe.Probe = true
			for i := range 3 {
				if d := p.Evaluate(probe); !d.Allow || len(d.DryRunDenials) != 0 {
					t.Fatalf("probe %d before any call: %+v", i+1, d)
				}
			}
			if d := p.Evaluate(in); !d.Allow {
				t.Fatalf("the real call after probes: %+v; the probes used up its rate", d)
			}
			if d := p.Evaluate(probe); d.Allow || d.RuleID != "one-a-minute" || d.RetryAfter <= 0 {
				t.Fatalf("probe after the call: %+v; want the rate's refusal", d)
			}
		})
	}
}
