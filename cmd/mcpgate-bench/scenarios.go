package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Names of the targets.
const (
	tDirect = "direct"
	tRP     = "reverseproxy"
	tGW     = "gateway"
	tGWPol  = "gateway+policy"
)

// benchArgs are the arguments of M4's calls (the same on every path, policy
// or not): those of BenchmarkEvaluate100Rules in internal/policy.
var benchArgs = map[string]any{
	"repo": "acme/api", "title": "Fix the login bug", "count": 5, "labels": []any{"bug", "p1"},
	"amount": 250.5, "body": "Steps to reproduce: open the page, click login.",
}

// results is everything one run measured.
type results struct {
	cfg        config
	machine    machine
	started    time.Time
	took       time.Duration
	nofile     uint64
	nofileNote string
	source     string // what the gateway was built from

	m1       *tput
	m2       []*tput
	m3       *latencyRun
	m4       *tput
	m4bench  []goBench
	m4rules  policyStats
	sse      *latencyRun
	m5       *stormResult
	m6       []*streamsResult
	profiles []*profileResult

	problems []string
}

func (r *results) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	log.Printf("PROBLEM: %s", msg)
	r.problems = append(r.problems, msg)
}

// tput is a closed-loop throughput measurement over interleaved rounds.
type tput struct {
	id, title string
	upstream  string // what serves the calls
	tool      string
	era       string
	sessions  int
	targets   []string
	rounds    [][]round
	err       error
}

// latencyRun is an open-loop (M3) or streaming (SSE) latency measurement.
type latencyRun struct {
	id, title          string
	upstream, tool     string
	era                string
	sessions           int
	rate               float64 // M3: calls per second
	events, intervalMS int     // SSE: notifications per call, spacing
	targets            []string
	rounds             [][]round
	err                error
}

// rig is the set of processes the throughput and latency measurements share.
type rig struct {
	bins       binaries
	every      *child // everything-server, stateful
	everyURL   string
	harness    *child // -upstream -work 2ms, stateful
	harnessURL string
	rpEvery    *target
	rpHarness  *target
	gw         *gateway
	gwPol      *gateway
	token      string // grant of the gateway, sent on direct and reverse-proxy paths too
	tokenPol   string
	policySrc  string
	policyPath string
	nPolicy    int
	meets      int
}

func runAll(ctx context.Context, cfg config) (*results, error) {
	res := &results{cfg: cfg, started: time.Now()}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	res.nofile, res.nofileNote = raiseNOFILE(uint64(2*cfg.streams + 4096))
	res.machine = describeMachine(root)
	if cfg.ref != "" {
		src, commit, err := exportRev(ctx, root, cfg.ref)
		if err != nil {
			return nil, err
		}
		root, res.machine.commit = src, commit
		res.source = fmt.Sprintf("commit %s (`-ref %s`, exported with git archive)", commit, cfg.ref)
	} else if dirty := dirtyFiles(root); len(dirty) > 0 {
		res.source = fmt.Sprintf("the working tree at commit %s, with uncommitted changes in %s", res.machine.commit, strings.Join(dirty, ", "))
	} else {
		res.source = fmt.Sprintf("the working tree at commit %s (no uncommitted changes outside the harness)", res.machine.commit)
	}
	log.Printf("gateway source: %s", res.source)
	log.Printf("machine: %d CPUs (%s), %s, %s; RLIMIT_NOFILE %s", res.machine.nproc, res.machine.cpuModel, res.machine.memTotal, res.machine.goVersion, res.machine.nofile)

	// The profiling build serves the CPU profile and, in a full run, M6's
	// goroutine and heap statistics.
	wantProfile := cfg.profile > 0 && cfg.runs("profile") || cfg.runs("m6") && !cfg.quick
	log.Printf("building the gateway, the everything-server%s into %s", map[bool]string{true: " and the profiling gateway", false: ""}[wantProfile], runDir)
	t0 := time.Now()
	bins, err := build(ctx, root, wantProfile)
	if err != nil {
		return nil, err
	}
	log.Printf("built in %v", time.Since(t0).Round(time.Second))

	if cfg.runs("m4") || cfg.runs("gobench") {
		log.Printf("M4: go test -bench Evaluate100Rules ./internal/policy (on an idle machine)")
		if res.m4bench, err = runGoBench(ctx, root, cfg.benchtime); err != nil {
			res.problem("go test -bench ./internal/policy: %v", err)
		}
	}

	needRig := false
	for _, s := range []string{"m1", "m2", "m3", "m4", "sse", "profile"} {
		needRig = needRig || cfg.runs(s)
	}
	if needRig {
		rg, err := startRig(bins)
		if err != nil {
			return nil, err
		}
		res.m4rules = checkPolicy(rg.policySrc, rg.nPolicy, rg.meets)
		if res.m4rules.err != nil {
			res.problem("M4 policy: %v", res.m4rules.err)
		}
		if cfg.runs("m1") {
			res.m1 = rg.throughput(ctx, cfg, "M1", "tools/call, upstream working 2 ms per call", rg.harnessURL, rg.harness,
				toolWork, nil, eraLegacy, 16, []*target{rg.direct(rg.harnessURL), rg.rpHarness, rg.viaGW(rg.gw, "bench", rg.token)})
			res.check(res.m1)
		}
		if cfg.runs("m2") {
			for _, c := range []struct {
				sessions int
				era      string
			}{{16, eraLegacy}, {64, eraLegacy}, {16, eraModern}} {
				m := rg.throughput(ctx, cfg, "M2", "tools/call, zero-work test_simple_text", rg.everyURL, rg.every,
					"test_simple_text", nil, c.era, c.sessions, []*target{rg.direct(rg.everyURL), rg.rpEvery, rg.viaGW(rg.gw, "everything", rg.token)})
				res.m2 = append(res.m2, m)
				res.check(m)
			}
		}
		if cfg.runs("m3") {
			res.m3 = rg.openLoop(ctx, cfg)
			if res.m3.err != nil {
				res.problem("M3: %v", res.m3.err)
			}
		}
		if cfg.runs("m4") {
			res.m4 = rg.throughput(ctx, cfg, "M4", "tools/call with arguments, zero-work noop; policy of 100 rules on vs off", rg.harnessURL, rg.harness,
				toolNoop, benchArgs, eraLegacy, 16, []*target{rg.rpHarness, rg.viaGW(rg.gw, "bench", rg.token), rg.viaGW(rg.gwPol, "bench", rg.tokenPol)})
			res.check(res.m4)
		}
		if cfg.runs("sse") {
			res.sse = rg.streaming(ctx, cfg)
			if res.sse.err != nil {
				res.problem("SSE: %v", res.sse.err)
			}
		}
		if cfg.runs("profile") && bins.profiled != "" && cfg.profile > 0 {
			for _, spec := range []profileSpec{
				{key: "m2", title: "M2's load (16 sessions calling test_simple_text)", server: "everything", upstream: rg.every, url: rg.everyURL, tool: "test_simple_text"},
				{key: "m4", title: "M4's load (16 sessions calling noop with arguments)", server: "bench", upstream: rg.harness, url: rg.harnessURL, tool: toolNoop, args: benchArgs, policy: true},
			} {
				pr := rg.cpuProfile(ctx, cfg, spec)
				if pr.err != nil {
					res.problem("profile %s: %v", spec.key, pr.err)
				}
				res.profiles = append(res.profiles, pr)
			}
		}
		rg.stop()
	}
	if cfg.runs("m6") {
		for _, via := range cfg.m6Via {
			r := runStreams(ctx, cfg, bins, via, res.nofile)
			res.m6 = append(res.m6, r)
			if r.err != nil {
				res.problem("M6 (%s): %v", via, r.err)
			}
		}
	}
	if cfg.runs("m5") {
		res.m5 = runStorm(ctx, cfg, bins)
		if res.m5.err != nil {
			res.problem("M5: %v", res.m5.err)
		}
	}
	res.took = time.Since(res.started)
	return res, nil
}

// check records a measurement's failure or failed calls as problems.
func (r *results) check(m *tput) {
	if m.err != nil {
		r.problem("%s (%d sessions, %s): %v", m.id, m.sessions, m.era, m.err)
		return
	}
	for _, rs := range m.rounds {
		for _, x := range rs {
			if x.errors > 0 {
				r.problem("%s (%d sessions, %s) via %s: %d failed calls; first: %s", m.id, m.sessions, m.era, x.target, x.errors, x.firstErr)
				return
			}
		}
	}
}

// startRig starts the upstreams, the reverse proxies and the two gateways.
func startRig(bins binaries) (*rig, error) {
	rg := &rig{bins: bins}
	var err error
	if rg.every, rg.everyURL, err = startEverything("everything-server", bins); err != nil {
		return nil, err
	}
	if rg.harness, rg.harnessURL, err = startHarnessUpstream("harness-upstream", bins, 2*time.Millisecond); err != nil {
		return nil, err
	}
	c, u, err := startReverseProxy("reverseproxy-everything", bins, rg.everyURL)
	if err != nil {
		return nil, err
	}
	rg.rpEvery = &target{name: tRP, url: u, proc: c}
	if c, u, err = startReverseProxy("reverseproxy-harness", bins, rg.harnessURL); err != nil {
		return nil, err
	}
	rg.rpHarness = &target{name: tRP, url: u, proc: c}

	if rg.gw, err = startGateway("gateway", bins.gateway); err != nil {
		return nil, err
	}
	rg.policyPath = filepath.Join(runDir, "policy.yaml")
	rg.policySrc, rg.nPolicy, rg.meets = generatePolicy()
	if err := os.WriteFile(rg.policyPath, []byte(rg.policySrc), 0o600); err != nil {
		return nil, err
	}
	if rg.gwPol, err = startGateway("gateway-policy", bins.gateway, "MCPGATE_POLICY_FILE="+rg.policyPath); err != nil {
		return nil, err
	}
	for _, g := range []*gateway{rg.gw, rg.gwPol} {
		if err := g.addServer("everything", rg.everyURL); err != nil {
			return nil, err
		}
		if err := g.addServer("bench", rg.harnessURL); err != nil {
			return nil, err
		}
	}
	if rg.token, err = rg.gw.grant("bench", "everything", "bench"); err != nil {
		return nil, err
	}
	if rg.tokenPol, err = rg.gwPol.grant("bench", "everything", "bench"); err != nil {
		return nil, err
	}
	return rg, nil
}

func (rg *rig) stop() {
	for _, c := range []*child{rg.gwPol.child, rg.gw.child, rg.rpHarness.proc, rg.rpEvery.proc, rg.harness, rg.every} {
		c.stop()
	}
}

func (rg *rig) direct(url string) *target { return &target{name: tDirect, url: url} }

func (rg *rig) viaGW(g *gateway, server, token string) *target {
	name := tGW
	if g == rg.gwPol {
		name = tGWPol
	}
	return &target{name: name, url: g.mcpURL(server), proc: g.child, token: token}
}

// settle gives the machine a moment between measurements.
func settle(d time.Duration) {
	runtime.GC()
	time.Sleep(d)
}

// openPools connects a pool of sessions to every target.
func (rg *rig) openPools(ctx context.Context, targets []*target, sessions int, era string) ([]*pool, error) {
	pools := make([]*pool, len(targets))
	for i, t := range targets {
		tok := t.token
		if tok == "" {
			tok = rg.token
		}
		p, err := openPool(ctx, t, sessions, era, tok, 8)
		if err != nil {
			closePools(pools)
			return nil, err
		}
		pools[i] = p
	}
	return pools, nil
}

func closePools(pools []*pool) {
	var wg sync.WaitGroup
	for _, p := range pools {
		if p != nil {
			wg.Go(p.close)
		}
	}
	wg.Wait()
}

// rotated returns the pools in the order of round r: each round starts
// with the next target, so that no target always runs first or last.
func rotated(pools []*pool, r int) []*pool {
	out := make([]*pool, 0, len(pools))
	for i := range pools {
		out = append(out, pools[(r+i)%len(pools)])
	}
	return out
}

// throughput runs closed-loop rounds, interleaved, against every target.
func (rg *rig) throughput(ctx context.Context, cfg config, id, title, upstreamURL string, upstream *child,
	tool string, args map[string]any, era string, sessions int, targets []*target) *tput {
	m := &tput{id: id, title: title, upstream: upstreamURL, tool: tool, era: era, sessions: sessions}
	for _, t := range targets {
		m.targets = append(m.targets, t.name)
	}
	log.Printf("%s: %s, %d sessions, protocol %s: %d rounds × %v per target %v", id, title, sessions, era, cfg.rounds, cfg.round, m.targets)
	pools, err := rg.openPools(ctx, targets, sessions, era)
	if err != nil {
		m.err = err
		return m
	}
	defer closePools(pools)
	call := callTool(tool, args)
	for _, p := range pools {
		p.closedLoop(ctx, cfg.warm, call, upstream)
	}
	for r := range cfg.rounds {
		var rs []round
		for _, p := range rotated(pools, r) {
			settle(cfg.settle)
			x := p.closedLoop(ctx, cfg.round, call, upstream)
			log.Printf("  round %d %-14s %7.0f calls/s  CPU per call: proxy %4.0f µs, upstream %4.0f µs, client %4.0f µs  other load %3.0f%% of a core  new conns %d  errors %d",
				r+1, x.target, x.rate(), us(x.perCall(x.proxyCPU)), us(x.perCall(x.upstreamCPU)), us(x.perCall(x.harnessCPU)), x.foreignShare(), x.newConns, x.errors)
			rs = append(rs, x)
		}
		m.rounds = append(m.rounds, rs)
	}
	return m
}

// openLoop is M3: latency at a fixed open-loop rate, zero-work tool.
func (rg *rig) openLoop(ctx context.Context, cfg config) *latencyRun {
	m := &latencyRun{id: "M3", title: "latency at a fixed open-loop rate", upstream: rg.everyURL, tool: "test_simple_text",
		era: eraLegacy, sessions: 16, rate: cfg.rate}
	targets := []*target{rg.direct(rg.everyURL), rg.rpEvery, rg.viaGW(rg.gw, "everything", rg.token)}
	for _, t := range targets {
		m.targets = append(m.targets, t.name)
	}
	log.Printf("M3: open loop at %.0f calls/s, %d rounds × %v per target %v", cfg.rate, cfg.m3Rounds, cfg.m3Round, m.targets)
	pools, err := rg.openPools(ctx, targets, m.sessions, m.era)
	if err != nil {
		m.err = err
		return m
	}
	defer closePools(pools)
	call := callTool(m.tool, nil)
	for _, p := range pools {
		p.openLoop(ctx, cfg.rate, cfg.warm, call, rg.every)
	}
	for r := range cfg.m3Rounds {
		var rs []round
		for _, p := range rotated(pools, r) {
			settle(cfg.settle)
			x := p.openLoop(ctx, cfg.rate, cfg.m3Round, call, rg.every)
			s := sortedDurations(x.lat)
			log.Printf("  round %d %-14s p50 %6.3f ms  p99 %6.3f ms  p99.9 %6.3f ms  (%d calls, %d errors, generator late p99 %.3f ms, other load %3.0f%% of a core)",
				r+1, x.target, ms(quantile(s, .5)), ms(quantile(s, .99)), ms(quantile(s, .999)), x.calls, x.errors, ms(quantile(sortedDurations(x.lateness), .99)), x.foreignShare())
			if x.errors > 0 && m.err == nil {
				m.err = fmt.Errorf("%s: %d failed calls; first: %s", x.target, x.errors, x.firstErr)
			}
			rs = append(rs, x)
		}
		m.rounds = append(m.rounds, rs)
	}
	return m
}

// streaming measures per-event latency of progress notifications relayed
// on a POST's SSE response.
func (rg *rig) streaming(ctx context.Context, cfg config) *latencyRun {
	m := &latencyRun{id: "SSE", title: "per-event latency of a streaming tool call", upstream: rg.harnessURL, tool: toolStream,
		era: eraLegacy, sessions: 4, events: 50, intervalMS: 10}
	targets := []*target{rg.direct(rg.harnessURL), rg.rpHarness, rg.viaGW(rg.gw, "bench", rg.token)}
	for _, t := range targets {
		m.targets = append(m.targets, t.name)
	}
	log.Printf("SSE: %d sessions calling %s (%d notifications %d ms apart), %d rounds × %v per target %v",
		m.sessions, m.tool, m.events, m.intervalMS, cfg.rounds, cfg.sseRound, m.targets)
	pools, err := rg.openPools(ctx, targets, m.sessions, m.era)
	if err != nil {
		m.err = err
		return m
	}
	defer closePools(pools)
	for _, p := range pools {
		p.streamRound(ctx, cfg.warm, 5, m.intervalMS)
	}
	for r := range cfg.rounds {
		var rs []round
		for _, p := range rotated(pools, r) {
			settle(cfg.settle)
			x := p.streamRound(ctx, cfg.sseRound, m.events, m.intervalMS)
			s := sortedDurations(x.lat)
			log.Printf("  round %d %-14s %5d events  p50 %6.3f ms  p99 %6.3f ms  max %6.3f ms  (errors %d)",
				r+1, x.target, len(s), ms(quantile(s, .5)), ms(quantile(s, .99)), ms(quantile(s, 1)), x.errors)
			if x.errors > 0 && m.err == nil {
				m.err = fmt.Errorf("%s: %d failed calls; first: %s", x.target, x.errors, x.firstErr)
			}
			rs = append(rs, x)
		}
		m.rounds = append(m.rounds, rs)
	}
	return m
}
