// Command mcpgate-bench measures mcpgate against a direct connection to the
// same upstream, and against a bare httputil.ReverseProxy, on one machine.
//
//	go run ./cmd/mcpgate-bench            # the full run (about 10 minutes), writes BENCHMARKS.md
//	go run ./cmd/mcpgate-bench -quick     # short rounds, a smoke test (< 60 s), prints the table
//
// It builds the gateway and the Go SDK everything-server into a temporary
// directory, starts every process on 127.0.0.1 (the harness binary itself
// serves as the small upstream, -upstream, and as the bare reverse proxy,
// -reverseproxy, in their own processes), and runs interleaved rounds with
// the same client code on every path: the Go SDK client over
// mcp.StreamableClientTransport, one HTTP transport per target with an idle
// connection per session, and the same grant header on every request.
// Each metric, its target from REFERENCE §6 and the machine are written to
// BENCHMARKS.md, with PNG plots drawn by plot.go (image/png only).
//
// Every child is stopped on the way out, and killed with the harness if it
// dies (Pdeathsig); every wait is bounded; a watchdog ends the run at
// -timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// config is what the flags select.
type config struct {
	quick      bool
	out        string
	plots      string
	rounds     int
	round      time.Duration
	warm       time.Duration
	rate       float64
	m3Rounds   int
	m3Round    time.Duration
	sseRound   time.Duration
	streams    int
	users      int
	stormTTL   time.Duration
	stormRound int
	profile    time.Duration
	only       map[string]bool
	keep       bool
	timeout    time.Duration
	benchtime  string
	ref        string
	settle     time.Duration
	m6Via      []string
	cmdline    string
}

func (c config) runs(name string) bool { return len(c.only) == 0 || c.only[name] }

// streamsSettle is how long M6 waits before reading RSS.
func (c config) streamsSettle() time.Duration {
	if c.quick {
		return time.Second
	}
	return 3 * time.Second
}

// runDir holds the binaries, logs and data directories of one run.
var runDir string

func main() {
	log.SetFlags(log.Ltime)
	log.SetPrefix("mcpgate-bench: ")
	var (
		upstreamAddr = flag.String("upstream", "", "internal: serve the harness's MCP upstream on this address")
		work         = flag.Duration("work", 2*time.Millisecond, "internal: work time of the upstream's work tool")
		stateless    = flag.Bool("stateless", false, "internal: serve the upstream without sessions")
		rpAddr       = flag.String("reverseproxy", "", "internal: serve a bare httputil.ReverseProxy on this address to the target URL given as the argument")

		quick      = flag.Bool("quick", false, "short rounds and small counts: a smoke test that finishes in under a minute")
		out        = flag.String("out", "", "write the report here (default BENCHMARKS.md for a full run; -quick and -only runs only print unless -out is given)")
		plots      = flag.String("plots", "", "directory for the PNG plots (default docs/benchmarks beside -out)")
		rounds     = flag.Int("rounds", 10, "interleaved rounds per throughput measurement (≥ 3 for a report)")
		roundDur   = flag.Duration("round", 1500*time.Millisecond, "length of one throughput round")
		rate       = flag.Float64("rate", 300, "M3 open-loop request rate per second")
		m3Rounds   = flag.Int("m3-rounds", 20, "interleaved rounds of M3")
		m3Round    = flag.Duration("m3-round", 1500*time.Millisecond, "length of one M3 latency round")
		streams    = flag.Int("streams", 10000, "M6 idle SSE streams to hold")
		users      = flag.Int("users", 1000, "M5 connections (users) in the expiry storm")
		stormTTL   = flag.Duration("storm-ttl", 2*time.Second, "M5 access-token lifetime")
		stormRound = flag.Int("storm-rounds", 4, "M5 bursts at -storm-ttl (one more follows with long-lived tokens)")
		profile    = flag.Duration("profile", 15*time.Second, "length of the gateway CPU profile under M2 load (0: none)")
		only       = flag.String("only", "", "run only these, comma-separated: m1,m2,m3,m4,sse,m5,m6,profile,gobench")
		keep       = flag.Bool("keep", false, "keep the run directory (binaries, logs, data, the raw CPU profile)")
		timeout    = flag.Duration("timeout", 25*time.Minute, "end the run (and every child) after this long")
		ref        = flag.String("ref", "", "build the gateway (and run the policy benchmark) from this committed revision (git archive) instead of the working tree")
		m6Via      = flag.String("m6-via", "gateway,reverseproxy", "M6: what to hold the streams through")
	)
	flag.Parse()

	switch {
	case *upstreamAddr != "":
		if err := runUpstream(*upstreamAddr, *work, *stateless); err != nil {
			log.Fatal(err)
		}
		return
	case *rpAddr != "":
		if flag.NArg() != 1 {
			log.Fatal("-reverseproxy ADDR TARGET-URL")
		}
		if err := runReverseProxy(*rpAddr, flag.Arg(0)); err != nil {
			log.Fatal(err)
		}
		return
	}

	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := config{
		quick: *quick, out: *out, plots: *plots, rounds: *rounds, round: *roundDur, warm: time.Second,
		rate: *rate, m3Rounds: *m3Rounds, m3Round: *m3Round, sseRound: time.Second, streams: *streams, users: *users,
		stormTTL: *stormTTL, stormRound: *stormRound, profile: *profile, keep: *keep, timeout: *timeout,
		benchtime: "2s", settle: 200 * time.Millisecond,
		ref:     *ref,
		cmdline: strings.TrimSpace("go run ./cmd/mcpgate-bench " + strings.Join(os.Args[1:], " ")),
	}
	if cfg.quick {
		// Defaults for a smoke test; flags given explicitly still win.
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("rounds", func() { cfg.rounds = 3 })
		def("round", func() { cfg.round = 250 * time.Millisecond })
		def("m3-rounds", func() { cfg.m3Rounds = 3 })
		def("m3-round", func() { cfg.m3Round = 400 * time.Millisecond })
		def("streams", func() { cfg.streams = 200 })
		def("users", func() { cfg.users = 20 })
		def("storm-ttl", func() { cfg.stormTTL = time.Second })
		def("storm-rounds", func() { cfg.stormRound = 1 })
		def("profile", func() { cfg.profile = 0 })
		def("timeout", func() { cfg.timeout = 3 * time.Minute })
		cfg.warm = 150 * time.Millisecond
		cfg.sseRound = 300 * time.Millisecond
		cfg.settle = 50 * time.Millisecond
		cfg.benchtime = "100ms"
		cfg.m6Via = []string{tGW}
	}
	if set["m6-via"] || !cfg.quick {
		cfg.m6Via = strings.Split(*m6Via, ",")
	}
	if cfg.out == "" && !cfg.quick && *only == "" {
		cfg.out = "BENCHMARKS.md"
	}
	if cfg.plots == "" && cfg.out != "" {
		cfg.plots = filepath.Join(filepath.Dir(cfg.out), "docs", "benchmarks")
	}
	if *only != "" {
		cfg.only = map[string]bool{}
		for _, s := range strings.Split(*only, ",") {
			cfg.only[strings.TrimSpace(s)] = true
		}
	}
	if cfg.rounds < 1 {
		log.Fatal("-rounds must be at least 1")
	}
	os.Exit(run(cfg))
}

// run is the harness proper; it returns the exit status.
func run(cfg config) int {
	var err error
	runDir, err = os.MkdirTemp("", "mcpgate-bench-")
	if err != nil {
		log.Print(err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()

	// Every way out stops the children: a signal, the watchdog, the end.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sigs:
			log.Printf("%v: stopping every child", s)
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				log.Printf("the run exceeded -timeout %v: stopping every child", cfg.timeout)
			} else {
				return
			}
		}
		stopAll()
		runCleanups()
		os.Exit(2)
	}()
	failed := true
	defer func() {
		stopAll()
		runCleanups()
		if cfg.keep || failed {
			log.Printf("run directory kept: %s", runDir)
		} else {
			os.RemoveAll(runDir)
		}
	}()

	res, err := runAll(ctx, cfg)
	if err != nil {
		log.Printf("FAILED: %v", err)
		return 1
	}
	printTable(os.Stdout, res)
	if cfg.out != "" {
		if err := writeReport(cfg, res); err != nil {
			log.Printf("write the report: %v", err)
			return 1
		}
		fmt.Printf("\nwrote %s and plots in %s\n", cfg.out, cfg.plots)
	}
	if len(res.problems) > 0 {
		log.Printf("FAILED: %d problem(s):\n  %s", len(res.problems), strings.Join(res.problems, "\n  "))
		return 1
	}
	failed = false
	return 0
}
