package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// profileResult is a CPU profile of the gateway under load.
type profileResult struct {
	spec       profileSpec
	seconds    int
	rate       float64       // calls per second while profiling
	cpuPerCall time.Duration // the gateway process's CPU per call (from /proc)
	sampled    float64       // seconds of CPU in the profile
	flat       []profLine    // functions by self time
	cum        []profLine    // gateway functions by cumulative time
	all        []profLine    // every function by cumulative time
	packages   []profLine    // self time summed by package
	path       string        // the raw profile (in the run directory)
	err        error
}

type profLine struct {
	name      string
	flat, cum float64 // seconds (CPU) or bytes (heap)
	flatPct   float64
	cumPct    float64
}

// profileSpec says which gateway to profile under which load.
type profileSpec struct {
	key, title string
	server     string // the gateway's name for the upstream
	upstream   *child
	url        string
	tool       string
	args       map[string]any
	policy     bool // run the gateway with M4's policy
}

// cpuProfile runs the profiling build of the gateway (the same code plus a
// net/http/pprof listener added by go build -overlay) under a closed loop of
// 16 sessions (legacy era) and takes a CPU profile.
func (rg *rig) cpuProfile(ctx context.Context, cfg config, spec profileSpec) *profileResult {
	pr := &profileResult{spec: spec, seconds: int(cfg.profile / time.Second)}
	port, err := freePort()
	if err != nil {
		pr.err = err
		return pr
	}
	pprofAddr := "127.0.0.1:" + strconv.Itoa(port)
	env := []string{"MCPGATE_BENCH_PPROF=" + pprofAddr}
	if spec.policy {
		env = append(env, "MCPGATE_POLICY_FILE="+rg.policyPath)
	}
	g, err := startGateway("gateway-pprof-"+spec.key, rg.bins.profiled, env...)
	if err != nil {
		pr.err = err
		return pr
	}
	defer g.stop()
	if err := g.addServer(spec.server, spec.url); err != nil {
		pr.err = err
		return pr
	}
	tok, err := g.grant("bench", spec.server)
	if err != nil {
		pr.err = err
		return pr
	}
	log.Printf("profile: %d s CPU profile of the gateway%s under %s", pr.seconds, map[bool]string{true: " with the policy", false: ""}[spec.policy], spec.title)
	t := &target{name: tGW, url: g.mcpURL(spec.server), proc: g.child, token: tok}
	pools, err := rg.openPools(ctx, []*target{t}, 16, eraLegacy)
	if err != nil {
		pr.err = err
		return pr
	}
	defer closePools(pools)
	call := callTool(spec.tool, spec.args)
	pools[0].closedLoop(ctx, cfg.warm, call, spec.upstream)

	var wg sync.WaitGroup
	var load round
	wg.Go(func() { load = pools[0].closedLoop(ctx, cfg.profile+2*time.Second, call, spec.upstream) })
	time.Sleep(time.Second)
	pr.path = filepath.Join(runDir, "gateway-cpu-"+spec.key+".pprof")
	ferr := fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, pr.seconds), pr.path, cfg.profile+30*time.Second)
	wg.Wait()
	if ferr != nil {
		pr.err = ferr
		return pr
	}
	pr.rate = load.rate()
	pr.cpuPerCall = load.perCall(load.proxyCPU)
	if load.errors > 0 {
		pr.err = fmt.Errorf("%d failed calls during the profile; first: %s", load.errors, load.firstErr)
		return pr
	}
	flat, total, err := pprofTop(ctx, rg.bins.profiled, pr.path, false)
	if err != nil {
		pr.err = err
		return pr
	}
	pr.sampled = total
	cum, _, err := pprofTop(ctx, rg.bins.profiled, pr.path, true)
	if err != nil {
		pr.err = err
		return pr
	}
	pr.flat, pr.all = flat, cum
	for _, l := range cum {
		if strings.HasPrefix(l.name, "github.com/mcpgate/mcpgate") {
			pr.cum = append(pr.cum, l)
		}
	}
	pr.packages = byPackage(flat, total)
	return pr
}

// fetch GETs url into path.
func fetch(ctx context.Context, url, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pprofTop runs `go tool pprof -top` (every node) with extra options and
// parses its table; values are seconds for CPU profiles, bytes for heap
// profiles.
func pprofTop(ctx context.Context, bin, profile string, cum bool, extra ...string) ([]profLine, float64, error) {
	args := append([]string{"tool", "pprof", "-top", "-nodecount=100000"}, extra...)
	if cum {
		args = append(args, "-cum")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", append(args, bin, profile)...).Output()
	if err != nil {
		return nil, 0, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	var lines []profLine
	var total float64
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		// "Duration: 15s, Total samples = 12.34s (82.27%)" or
		// "Showing nodes accounting for 10MB, 100% of 10MB total"
		if _, rest, ok := strings.Cut(line, "Total samples = "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				total, _ = pprofValue(f[0])
			}
			continue
		}
		if strings.HasPrefix(line, "Showing nodes accounting for") && strings.HasSuffix(line, " total") {
			f := strings.Fields(line)
			if len(f) >= 2 && total == 0 {
				total, _ = pprofValue(f[len(f)-2])
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasSuffix(f[1], "%") {
			continue
		}
		flat, ok1 := pprofValue(f[0])
		cumV, ok2 := pprofValue(f[3])
		if !ok1 || !ok2 {
			continue
		}
		fp, _ := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
		cp, _ := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
		lines = append(lines, profLine{name: strings.Join(f[5:], " "), flat: flat, cum: cumV, flatPct: fp, cumPct: cp})
	}
	if total == 0 {
		return nil, 0, fmt.Errorf("go tool pprof -top: no total in its output")
	}
	return lines, total, nil
}

// pprofValue parses a value as pprof prints it: 1.5s, 20ms, 512kB, 1.5MB, 0.
func pprofValue(s string) (float64, bool) {
	units := []struct {
		suffix string
		mult   float64
	}{{"ns", 1e-9}, {"us", 1e-6}, {"µs", 1e-6}, {"ms", 1e-3}, {"min", 60}, {"hrs", 3600}, {"s", 1},
		{"kB", 1 << 10}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			return v * u.mult, err == nil
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// byPackage sums self time by the package of each function.
func byPackage(flat []profLine, total float64) []profLine {
	sum := map[string]float64{}
	for _, l := range flat {
		sum[packageOf(l.name)] += l.flat
	}
	var out []profLine
	for name, d := range sum {
		out = append(out, profLine{name: name, flat: d, flatPct: 100 * d / total})
	}
	slices.SortFunc(out, func(a, b profLine) int { return cmp.Compare(b.flat, a.flat) })
	return out
}

// packageOf returns the import path of a symbol such as
// "net/http.(*conn).serve" or "github.com/x/y.F.func1".
func packageOf(sym string) string {
	slash := strings.LastIndexByte(sym, '/')
	dot := strings.IndexByte(sym[slash+1:], '.')
	if dot < 0 {
		return sym
	}
	return sym[:slash+1+dot]
}
