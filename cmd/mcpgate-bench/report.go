package main

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// targetSummary condenses one target's rounds of a throughput measurement.
type targetSummary struct {
	name                       string
	rate, ratio                spread // calls/s; ÷ the base target, paired by round
	proxyCPU, upCPU, clientCPU spread // µs per call
	rss                        spread // MiB
	foreign                    spread // other tenants' load, % of a core
	calls, errors              int
	newConns                   int
}

func (m *tput) summary(base string) []targetSummary {
	var out []targetSummary
	baseRates := byTarget(m.rounds, base, func(r round) float64 { return r.rate() })
	for _, name := range m.targets {
		s := targetSummary{name: name}
		rates := byTarget(m.rounds, name, func(r round) float64 { return r.rate() })
		s.rate = spreadOf(rates)
		s.ratio = spreadOf(ratios(rates, baseRates))
		s.proxyCPU = spreadOf(byTarget(m.rounds, name, func(r round) float64 { return us(r.perCall(r.proxyCPU)) }))
		s.upCPU = spreadOf(byTarget(m.rounds, name, func(r round) float64 { return us(r.perCall(r.upstreamCPU)) }))
		s.clientCPU = spreadOf(byTarget(m.rounds, name, func(r round) float64 { return us(r.perCall(r.harnessCPU)) }))
		s.rss = spreadOf(byTarget(m.rounds, name, func(r round) float64 { return mib(r.proxyRSS) }))
		s.foreign = spreadOf(byTarget(m.rounds, name, func(r round) float64 { return r.foreignShare() }))
		for _, rs := range m.rounds {
			for _, r := range rs {
				if r.target == name {
					s.calls += r.calls
					s.errors += r.errors
					s.newConns += r.newConns
				}
			}
		}
		out = append(out, s)
	}
	return out
}

func find(ss []targetSummary, name string) targetSummary {
	for _, s := range ss {
		if s.name == name {
			return s
		}
	}
	return targetSummary{rate: spreadOf(nil), ratio: spreadOf(nil), proxyCPU: spreadOf(nil)}
}

// latSummary condenses one target's rounds of a latency measurement.
type latSummary struct {
	name                 string
	p50, p99, p999, pmax time.Duration // pooled over rounds
	d50, d99, d999       spread        // paired-round deltas to direct, µs
	pd50, pd99, pd999    float64       // deltas of the pooled percentiles to direct's, µs
	lateP99              time.Duration // open loop: p99 of send − scheduled
	samples              int
	foreign              spread
	sorted               []time.Duration
}

// quietLoad is the other load (% of a core) above which a latency round is
// set aside.
const quietLoad = 10

// quiet returns the rounds in which no target saw more than quietLoad of
// other load, and whether there are enough of them (at least 3 and half of
// all) to report on them rather than on all rounds.
func (m *latencyRun) quiet() ([][]round, bool) {
	var q [][]round
	for _, rs := range m.rounds {
		ok := true
		for _, r := range rs {
			ok = ok && r.foreignShare() <= quietLoad
		}
		if ok {
			q = append(q, rs)
		}
	}
	return q, len(q) >= 3 && 2*len(q) >= len(m.rounds)
}

// summary condenses the quiet rounds if there are enough, else all rounds.
func (m *latencyRun) summary() []latSummary {
	if q, ok := m.quiet(); ok {
		return m.summaryOf(q)
	}
	return m.summaryOf(m.rounds)
}

// roundsNote says which rounds summary() uses.
func (m *latencyRun) roundsNote() string {
	q, ok := m.quiet()
	if ok {
		return fmt.Sprintf("the %d of %d rounds with at most %d%% of a core of other load", len(q), len(m.rounds), quietLoad)
	}
	return fmt.Sprintf("all %d rounds (only %d had at most %d%% of a core of other load)", len(m.rounds), len(q), quietLoad)
}

func (m *latencyRun) summaryOf(rounds [][]round) []latSummary {
	q := func(r round, p float64) float64 { return us(quantile(sortedDurations(r.lat), p)) }
	var out []latSummary
	for _, name := range m.targets {
		s := latSummary{name: name}
		var all, late []time.Duration
		for _, rs := range rounds {
			for _, r := range rs {
				if r.target == name {
					all = append(all, r.lat...)
					late = append(late, r.lateness...)
				}
			}
		}
		s.sorted = sortedDurations(all)
		s.samples = len(all)
		s.p50, s.p99, s.p999, s.pmax = quantile(s.sorted, .5), quantile(s.sorted, .99), quantile(s.sorted, .999), quantile(s.sorted, 1)
		s.lateP99 = quantile(sortedDurations(late), .99)
		delta := func(p float64) spread {
			mine := byTarget(rounds, name, func(r round) float64 { return q(r, p) })
			dir := byTarget(rounds, tDirect, func(r round) float64 { return q(r, p) })
			var d []float64
			for i := range min(len(mine), len(dir)) {
				d = append(d, mine[i]-dir[i])
			}
			return spreadOf(d)
		}
		s.d50, s.d99, s.d999 = delta(.5), delta(.99), delta(.999)
		var dir []time.Duration
		for _, rs := range rounds {
			for _, r := range rs {
				if r.target == tDirect {
					dir = append(dir, r.lat...)
				}
			}
		}
		dir = sortedDurations(dir)
		s.pd50 = us(s.p50 - quantile(dir, .5))
		s.pd99 = us(s.p99 - quantile(dir, .99))
		s.pd999 = us(s.p999 - quantile(dir, .999))
		s.foreign = spreadOf(byTarget(rounds, name, func(r round) float64 { return r.foreignShare() }))
		out = append(out, s)
	}
	return out
}

func findLat(ss []latSummary, name string) latSummary {
	for _, s := range ss {
		if s.name == name {
			return s
		}
	}
	return latSummary{d50: spreadOf(nil), d99: spreadOf(nil), d999: spreadOf(nil)}
}

// verdict is one row of the summary: a metric, what was measured, the target.
type verdict struct {
	metric, measured, target, status string
}

func status(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func f2(s spread) string {
	if math.IsNaN(s.med) {
		return "—"
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", s.med, s.min, s.max)
}

func f3(s spread) string {
	if math.IsNaN(s.med) {
		return "—"
	}
	return fmt.Sprintf("%.3f (%.2f–%.2f)", s.med, s.min, s.max)
}

func f0(s spread) string {
	if math.IsNaN(s.med) {
		return "—"
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f)", s.med, s.min, s.max)
}

func f1(s spread) string {
	if math.IsNaN(s.med) {
		return "—"
	}
	return fmt.Sprintf("%.1f (%.1f–%.1f)", s.med, s.min, s.max)
}

// m2At returns the M2 measurement with the given sessions and era.
func (r *results) m2At(sessions int, era string) *tput {
	for _, m := range r.m2 {
		if m.sessions == sessions && m.era == era {
			return m
		}
	}
	return nil
}

// verdicts compares every measured metric with its target (REFERENCE §6).
func (r *results) verdicts() []verdict {
	var v []verdict
	if m := r.m1; m != nil && m.err == nil {
		s := m.summary(tDirect)
		gw := find(s, tGW)
		v = append(v, verdict{"M1 throughput gateway ÷ direct, upstream working 2 ms, 16 sessions",
			f3(gw.ratio) + fmt.Sprintf(" (bare reverse proxy %s)", f3(find(s, tRP).ratio)), "≥ 0.95", status(gw.ratio.med >= 0.95)})
	}
	if m := r.m2At(16, eraLegacy); m != nil && m.err == nil {
		s := m.summary(tDirect)
		gw, rp := find(s, tGW), find(s, tRP)
		v = append(v, verdict{"M2 throughput gateway ÷ direct, zero-work, 16 sessions",
			f3(gw.ratio) + fmt.Sprintf(" (bare reverse proxy %s)", f3(rp.ratio)), "≥ 0.75", status(gw.ratio.med >= 0.75)})
		v = append(v, verdict{"M2 gateway CPU per call (grant check, no policy), 16 sessions",
			fmt.Sprintf("%.0f µs (bare reverse proxy %.0f µs, %+.0f%%)", gw.proxyCPU.med, rp.proxyCPU.med, 100*(gw.proxyCPU.med/rp.proxyCPU.med-1)), "≤ the bare reverse proxy's", status(gw.proxyCPU.med <= rp.proxyCPU.med)})
		v = append(v, verdict{"M2 gateway RSS under load", fmt.Sprintf("%.0f MiB (bare reverse proxy %.0f MiB)", gw.rss.med, rp.rss.med), "— (peers 15–90 MB)", "info"})
	}
	if m := r.m2At(64, eraLegacy); m != nil && m.err == nil {
		s := m.summary(tDirect)
		gw, rp := find(s, tGW), find(s, tRP)
		v = append(v, verdict{"M2 throughput gateway ÷ direct, zero-work, 64 sessions",
			f3(gw.ratio) + fmt.Sprintf(" (bare reverse proxy %s)", f3(rp.ratio)), "— (bare proxy 0.57–0.60 in §6)", status(gw.ratio.med >= rp.ratio.med) + " vs the bare proxy"})
	}
	if m := r.m2At(16, eraModern); m != nil && m.err == nil {
		s := m.summary(tDirect)
		gw, rp := find(s, tGW), find(s, tRP)
		v = append(v, verdict{"M2 throughput gateway ÷ direct, zero-work, 16 sessions, protocol 2026-07-28",
			f3(gw.ratio) + fmt.Sprintf(" (bare reverse proxy %s)", f3(rp.ratio)), "≥ 0.75", status(gw.ratio.med >= 0.75)})
	}
	if m := r.m4; m != nil && m.err == nil {
		s := m.summary(tGW)
		pol, rp := find(s, tGWPol), find(s, tRP)
		v = append(v, verdict{"gateway CPU per call, grant check and policy on (M4 rounds)",
			fmt.Sprintf("%.0f µs (bare reverse proxy %.0f µs, %+.0f%%)", pol.proxyCPU.med, rp.proxyCPU.med, 100*(pol.proxyCPU.med/rp.proxyCPU.med-1)), "≤ the bare reverse proxy's", status(pol.proxyCPU.med <= rp.proxyCPU.med)})
	}
	if m := r.m3; m != nil && m.err == nil {
		gw := findLat(m.summary(), tGW)
		rp := findLat(m.summary(), tRP)
		v = append(v, verdict{fmt.Sprintf("M3 added latency Δp50 at %.0f calls/s (open loop)", m.rate),
			fmt.Sprintf("%.0f µs; per round %.0f (%.0f–%.0f) (bare reverse proxy %.0f µs); over %s", gw.pd50, gw.d50.med, gw.d50.min, gw.d50.max, rp.pd50, m.roundsNote()), "≤ 100 µs", status(gw.pd50 <= 100)})
		v = append(v, verdict{fmt.Sprintf("M3 added latency Δp99 at %.0f calls/s (open loop)", m.rate),
			fmt.Sprintf("%.2f ms; per round %.2f (%.2f–%.2f) (bare reverse proxy %.2f ms); over %s", gw.pd99/1000, gw.d99.med/1000, gw.d99.min/1000, gw.d99.max/1000, rp.pd99/1000, m.roundsNote()), "≤ 1 ms", status(gw.pd99 <= 1000)})
	}
	for _, b := range r.m4bench {
		if strings.HasPrefix(b.name, "BenchmarkEvaluate100Rules-") {
			// ns/op counts time spent waiting for a core, which dominates on
			// a loaded machine; the benchmark also reports the CPU time of
			// its own thread, which is what an evaluation costs.
			cost, measured := b.nsOp, fmt.Sprintf("%.1f µs per evaluation (wall %.1f µs/op)", b.nsOp/1000, b.nsOp/1000)
			if b.cpuNsOp > 0 {
				cost, measured = b.cpuNsOp, fmt.Sprintf("%.1f µs of CPU per evaluation (wall %.1f µs/op)", b.cpuNsOp/1000, b.nsOp/1000)
			}
			v = append(v, verdict{"M4 policy evaluation, 100 rules with argument conditions (Go benchmark)",
				measured, "≤ 10 µs per call", status(cost <= 10000)})
		}
	}
	if m := r.m4; m != nil && m.err == nil {
		pol := find(m.summary(tGW), tGWPol)
		v = append(v, verdict{"M4 throughput policy on ÷ off (gateway, 16 sessions)", f3(pol.ratio), "≥ 0.97", status(pol.ratio.med >= 0.97)})
	}
	if s := r.m5; s != nil && s.err == nil {
		v = append(v, verdict{fmt.Sprintf("M5 expiry storm, %d connections, one gateway (SQLite): provider refreshes per token generation", s.users),
			fmt.Sprintf("max %d; %d of %d refresh tokens presented more than once; %d reuse detections", s.maxPresented, s.multi, s.presented, s.reuse),
			"exactly 1 (target is for 3 replicas; one gateway here)", status(s.maxPresented == 1 && s.reuse == 0)})
		for _, long := range []bool{false, true} {
			calls, failed := 0, 0
			for _, b := range s.bursts {
				if (b.ttl != s.ttl) == long {
					calls += b.calls
					failed += b.failed
				}
			}
			ttl := s.ttl
			if long {
				ttl = s.longTTL
			}
			v = append(v, verdict{fmt.Sprintf("M5 expiry storm: failed calls, %v access tokens", ttl), fmt.Sprintf("%d of %d", failed, calls), "0", status(failed == 0 && calls > 0)})
		}
	}
	for _, s := range r.m6 {
		if s.via != tGW || s.err != nil {
			continue
		}
		kib := s.perStream() / 1024
		tgt := "10,000 held at ≤ 20 KiB each"
		st := status(kib <= 20 && s.held >= 10000)
		if s.held < 10000 && kib <= 20 {
			st = fmt.Sprintf("met per stream; %d held (limit)", s.held)
		}
		v = append(v, verdict{"M6 memory per idle SSE stream (gateway RSS delta ÷ streams)", fmt.Sprintf("%.1f KiB with %d streams held", kib, s.held), tgt, st})
	}
	if m := r.sse; m != nil && m.err == nil {
		gw := findLat(m.summary(), tGW)
		v = append(v, verdict{"SSE per-event added latency (gateway − direct)",
			fmt.Sprintf("Δp50 %.0f µs, Δp99 %.0f µs (bare reverse proxy %.0f µs, %.0f µs); over %s", gw.pd50, gw.pd99, findLat(m.summary(), tRP).pd50, findLat(m.summary(), tRP).pd99, m.roundsNote()), "— (no target)", "info"})
	}
	return v
}

// printTable prints the summary and the per-target numbers.
func printTable(w io.Writer, r *results) {
	fmt.Fprintf(w, "\nmcpgate-bench: %d CPUs (%s), %s, %s; took %v\n\n", r.machine.nproc, r.machine.cpuModel, r.machine.memTotal, r.machine.goVersion, r.took.Round(time.Second))
	tw := &table{}
	tw.row("metric", "measured: median (min–max)", "target", "")
	for _, v := range r.verdicts() {
		tw.row(v.metric, v.measured, v.target, strings.ReplaceAll(v.status, "**", ""))
	}
	tw.print(w)
	fmt.Fprintln(w)
	tw = &table{}
	tw.row("measurement", "target", "calls/s", "÷ base", "proxy µs/call", "upstream µs/call", "client µs/call", "proxy RSS MiB", "other load %core")
	for _, m := range r.throughputs() {
		if m.err != nil {
			continue
		}
		base := tDirect
		if m.id == "M4" {
			base = tGW
		}
		for _, s := range m.summary(base) {
			tw.row(m.label(), s.name, f0(s.rate), f2(s.ratio), f0(s.proxyCPU), f0(s.upCPU), f0(s.clientCPU), f0(s.rss), f0(s.foreign))
		}
	}
	tw.print(w)
	for _, m := range []*latencyRun{r.m3, r.sse} {
		if m == nil || m.err != nil {
			continue
		}
		fmt.Fprintln(w)
		tw = &table{}
		tw.row(m.id, "p50 ms", "p99 ms", "p99.9 ms", "Δp50 µs", "Δp99 µs", "Δp99.9 µs", "per-round Δp50 µs", "per-round Δp99 µs", "samples")
		for _, s := range m.summary() {
			tw.row(s.name, fmt.Sprintf("%.3f", ms(s.p50)), fmt.Sprintf("%.3f", ms(s.p99)), fmt.Sprintf("%.3f", ms(s.p999)),
				fmt.Sprintf("%.0f", s.pd50), fmt.Sprintf("%.0f", s.pd99), fmt.Sprintf("%.0f", s.pd999), f0(s.d50), f0(s.d99), fmt.Sprint(s.samples))
		}
		tw.print(w)
	}
}

func (r *results) throughputs() []*tput {
	var out []*tput
	if r.m1 != nil {
		out = append(out, r.m1)
	}
	out = append(out, r.m2...)
	if r.m4 != nil {
		out = append(out, r.m4)
	}
	return out
}

func (m *tput) label() string {
	l := fmt.Sprintf("%s %d sessions", m.id, m.sessions)
	if m.era == eraModern {
		l += " (2026-07-28)"
	}
	return l
}

// table is a plain-text table with aligned columns.
type table struct{ rows [][]string }

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer) {
	var width []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// md writes a markdown table.
func md(w io.Writer, header []string, rows [][]string) {
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
	fmt.Fprintln(w)
}

// writeReport writes BENCHMARKS.md and the plots.
func writeReport(cfg config, r *results) error {
	if err := os.MkdirAll(cfg.plots, 0o755); err != nil {
		return err
	}
	plots, err := r.plots(cfg.plots)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	rel := func(p string) string {
		s, err := filepath.Rel(filepath.Dir(cfg.out), p)
		if err != nil {
			return p
		}
		return filepath.ToSlash(s)
	}
	var b bytes.Buffer
	r.markdown(&b, plots, rel)
	return os.WriteFile(cfg.out, b.Bytes(), 0o644)
}

// plotFiles are the plots written, by kind.
type plotFiles map[string]string

func (r *results) plots(dir string) (plotFiles, error) {
	out := plotFiles{}
	// Throughput bars.
	var groups []barGroup
	top := 0.0
	for _, m := range r.throughputs() {
		if m.err != nil {
			continue
		}
		g := barGroup{label: fmt.Sprintf("%s %d", m.id, m.sessions)}
		if m.era == eraModern {
			g.label += " (2026)"
		}
		for _, s := range m.summary(tDirect) {
			g.bars = append(g.bars, bar{segs: []float64{s.rate.med}, cols: []color.RGBA{targetColor(s.name)}, lo: s.rate.min, hi: s.rate.max, label: fmt.Sprintf("%.0f", s.rate.med)})
			top = math.Max(top, s.rate.max)
		}
		groups = append(groups, g)
	}
	if len(groups) > 0 {
		ymax, ticks := niceTicks(top*1.1, 6, fmtNum)
		p := filepath.Join(dir, "throughput.png")
		names := []string{tDirect, tRP, tGW, tGWPol}
		cols := []color.RGBA{colDirect, colRP, colGW, colGWPol}
		if err := barChart(p, "TOOLS/CALL THROUGHPUT (MEDIAN, MIN-MAX WHISKERS)", "CALLS/S", ymax, ticks, groups, names, cols); err != nil {
			return nil, err
		}
		out["throughput"] = p
	}
	// CPU per call, stacked.
	groups = nil
	top = 0
	for _, m := range []*tput{r.m2At(16, eraLegacy), r.m4} {
		if m == nil || m.err != nil {
			continue
		}
		g := barGroup{label: fmt.Sprintf("%s %d SESSIONS", m.id, m.sessions)}
		for _, s := range m.summary(tDirect) {
			short := map[string]string{tDirect: "DIRECT", tRP: "RP", tGW: "GW", tGWPol: "GW+POL"}[s.name]
			segs := []float64{s.clientCPU.med, s.proxyCPU.med, s.upCPU.med}
			g.bars = append(g.bars, bar{segs: segs, cols: []color.RGBA{colClient, targetColor(s.name), colUp}, label: short})
			top = math.Max(top, segs[0]+segs[1]+segs[2])
		}
		groups = append(groups, g)
	}
	if len(groups) > 0 {
		ymax, ticks := niceTicks(top*1.1, 6, fmtNum)
		p := filepath.Join(dir, "cpu-per-call.png")
		if err := barChart(p, "CPU PER CALL: CLIENT + PROXY + UPSTREAM", "µS PER CALL", ymax, ticks, groups,
			[]string{"client (harness)", "reverse proxy", "gateway", "gateway+policy", "upstream"},
			[]color.RGBA{colClient, colRP, colGW, colGWPol, colUp}); err != nil {
			return nil, err
		}
		out["cpu"] = p
	}
	// Latency distributions.
	for _, lr := range []struct {
		m     *latencyRun
		key   string
		title string
	}{{r.m3, "m3", fmt.Sprintf("M3 LATENCY AT A FIXED %.0f CALLS/S (OPEN LOOP)", r.cfg.rate)}, {r.sse, "sse", "SSE: PER-EVENT LATENCY, EMISSION TO ARRIVAL"}} {
		if lr.m == nil || lr.m.err != nil {
			continue
		}
		ss := lr.m.summary()
		lo, hi := math.Inf(1), 0.0
		for _, s := range ss {
			if len(s.sorted) > 0 {
				lo = math.Min(lo, ms(quantile(s.sorted, 0.001)))
				hi = math.Max(hi, ms(quantile(s.sorted, 0.9999)))
			}
		}
		if hi == 0 {
			continue
		}
		lo = math.Pow(10, math.Floor(math.Log10(lo)*2)/2)
		hi = math.Pow(10, math.Ceil(math.Log10(hi)*2)/2)
		var cdf, pct []series
		for _, s := range ss {
			c, p := series{name: s.name, col: targetColor(s.name)}, series{name: s.name, col: targetColor(s.name)}
			n := len(s.sorted)
			for i := 0; i < n; i += max(1, n/2000) {
				c.pts = append(c.pts, [2]float64{ms(s.sorted[i]), 100 * float64(i+1) / float64(n)})
			}
			for k := 0; k <= 400; k++ {
				nines := 4 * float64(k) / 400
				q := 1 - math.Pow(10, -nines)
				if q > 1-1/float64(n) {
					break
				}
				p.pts = append(p.pts, [2]float64{nines, ms(quantile(s.sorted, q))})
			}
			cdf, pct = append(cdf, c), append(pct, p)
		}
		ms := func(v float64) string { return fmtNum(v) }
		p := filepath.Join(dir, lr.key+"-latency-cdf.png")
		if err := lineChart(p, lr.title+": CDF", axis{label: "LATENCY (MS, LOG SCALE)", min: lo, max: hi, log: true, ticks: logTicks(lo, hi, ms)},
			axis{label: "% OF CALLS", min: 0, max: 100, ticks: []tick{{0, "0"}, {25, "25"}, {50, "50"}, {75, "75"}, {90, "90"}, {100, "100"}}}, cdf); err != nil {
			return nil, err
		}
		out[lr.key+"-cdf"] = p
		p = filepath.Join(dir, lr.key+"-latency-percentiles.png")
		if err := lineChart(p, lr.title+": BY PERCENTILE", axis{label: "PERCENTILE", min: 0, max: 4, ticks: []tick{{0, "0%"}, {1, "90%"}, {2, "99%"}, {3, "99.9%"}, {4, "99.99%"}}},
			axis{label: "LATENCY (MS, LOG SCALE)", min: lo, max: hi, log: true, ticks: logTicks(lo, hi, ms)}, pct); err != nil {
			return nil, err
		}
		out[lr.key+"-pct"] = p
	}
	return out, nil
}
