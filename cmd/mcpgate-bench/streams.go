package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// streamsResult is M6: memory per idle standalone SSE (GET) stream.
type streamsResult struct {
	via        string // gateway or reverseproxy
	want, held int
	limitNote  string // why fewer than asked, if so
	openTook   time.Duration
	// RSS of the process in front of the upstream: at start, with the
	// sessions open, with the streams open.
	rssStart, rssSessions, rssStreams int64
	upSessions, upStreams             int64 // the upstream's RSS
	fdsSessions, fdsStreams           int
	retried                           int // initialize or GET requests that failed once and were retried
	// From the profiling build's net/http/pprof (gateway only, full runs):
	// goroutines and Go memory statistics with the sessions and with the
	// streams open, and the heap's in-use bytes by function with the streams.
	profiled                bool
	gorSessions, gorStreams int
	memSessions, memStreams map[string]int64
	heapTop                 []profLine
	err                     error
}

// perStream is the RSS added per held stream, in bytes.
func (s *streamsResult) perStream() float64 {
	if s.held == 0 {
		return 0
	}
	return float64(s.rssStreams-s.rssSessions) / float64(s.held)
}

// runStreams opens sessions on a stateful everything-server through the
// gateway (or the bare reverse proxy), then one standalone GET stream per
// session, holds them idle and measures the proxy's RSS before and after.
// The client speaks raw HTTP (initialize, notifications/initialized, GET)
// so that 10,000 sessions cost the harness little.
func runStreams(ctx context.Context, cfg config, bins binaries, via string, nofile uint64) *streamsResult {
	r := &streamsResult{via: via, want: cfg.streams, held: cfg.streams}
	// The proxy holds two descriptors per stream (client and upstream
	// connections) and needs some for itself; the harness and the upstream
	// one per stream.
	if max := int(nofile-256) / 2; r.held > max {
		r.held = max
		r.limitNote = fmt.Sprintf("RLIMIT_NOFILE is %d here and cannot be raised (the hard limit); the proxy holds 2 descriptors per stream (client side and upstream side), so at most %d streams fit with 256 descriptors to spare", nofile, max)
	}
	up, upURL, err := startEverything("everything-server-m6-"+via, bins)
	if err != nil {
		r.err = err
		return r
	}
	defer up.stop()
	var front *child
	var url, token string
	var pprofAddr string
	switch via {
	case tGW:
		bin, env := bins.gateway, []string(nil)
		if bins.profiled != "" {
			port, err := freePort()
			if err != nil {
				r.err = err
				return r
			}
			pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
			bin, env, r.profiled = bins.profiled, []string{"MCPGATE_BENCH_PPROF=" + pprofAddr}, true
		}
		g, err := startGateway("gateway-m6", bin, env...)
		if err != nil {
			r.err = err
			return r
		}
		defer g.stop()
		if err := g.addServer("everything", upURL); err != nil {
			r.err = err
			return r
		}
		if token, err = g.grant("bench", "everything"); err != nil {
			r.err = err
			return r
		}
		front, url = g.child, g.mcpURL("everything")
	default:
		c, u, err := startReverseProxy("reverseproxy-m6", bins, upURL)
		if err != nil {
			r.err = err
			return r
		}
		defer c.stop()
		front, url, token = c, u, "mcpg_"+randomHex(32)
	}
	log.Printf("M6 (%s): opening %d sessions, then one idle GET stream each", via, r.held)
	tr := &http.Transport{MaxIdleConnsPerHost: 128, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: newBearerTransport(token, tr)}
	r.rssStart, _, _ = procRSS(front.pid())

	t0 := time.Now()
	sids := make([]string, r.held)
	var retried atomic.Int64
	if err := parallel(ctx, r.held, 32, func(i int) error {
		sid, err := initSession(ctx, hc, url)
		if err != nil {
			retried.Add(1)
			log.Printf("  initialize failed, retrying once: %v", err)
			sid, err = initSession(ctx, hc, url)
		}
		sids[i] = sid
		return err
	}); err != nil {
		r.err = fmt.Errorf("open sessions: %w", err)
		return r
	}
	// The sessions' keep-alive connections are closed so that every stream
	// gets a connection of its own on the client side.
	tr.CloseIdleConnections()
	time.Sleep(cfg.streamsSettle())
	r.rssSessions, _, _ = procRSS(front.pid())
	r.upSessions, _, _ = procRSS(up.pid())
	r.fdsSessions = procFDs(front.pid())
	if pprofAddr != "" {
		r.gorSessions, r.memSessions = goStats(ctx, pprofAddr)
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bodies := make([]io.ReadCloser, r.held)
	defer func() {
		for _, b := range bodies {
			if b != nil {
				b.Close()
			}
		}
	}()
	var opened atomic.Int64
	if err := parallel(ctx, r.held, 64, func(i int) error {
		body, err := openStream(sctx, hc, url, sids[i])
		if err != nil {
			retried.Add(1)
			log.Printf("  GET stream failed, retrying once: %v", err)
			body, err = openStream(sctx, hc, url, sids[i])
		}
		bodies[i] = body
		if n := opened.Add(1); n%2000 == 0 {
			log.Printf("  %d streams open", n)
		}
		return err
	}); err != nil {
		r.err = fmt.Errorf("open streams: %w", err)
		return r
	}
	r.openTook = time.Since(t0)
	time.Sleep(cfg.streamsSettle())
	r.rssStreams, _, _ = procRSS(front.pid())
	r.upStreams, _, _ = procRSS(up.pid())
	r.fdsStreams = procFDs(front.pid())
	r.retried = int(retried.Load())
	if pprofAddr != "" {
		r.gorStreams, r.memStreams = goStats(ctx, pprofAddr)
		heap := filepath.Join(runDir, "gateway-m6-heap.pprof")
		// gc=1: the profile as of a GC run now, not the last one (which
		// may predate the streams).
		if err := fetch(ctx, "http://"+pprofAddr+"/debug/pprof/heap?gc=1", heap, time.Minute); err != nil {
			r.err = fmt.Errorf("heap profile: %w", err)
			return r
		}
		top, _, err := pprofTop(ctx, bins.profiled, heap, false, "-sample_index=inuse_space")
		if err != nil {
			r.err = err
			return r
		}
		r.heapTop = top
	}
	// Every stream must still be open: none may have ended meanwhile.
	if front.exited() {
		r.err = fmt.Errorf("%s exited while holding the streams; its log ends:\n%s", via, front.tail())
		return r
	}
	if r.fdsStreams < 2*r.held {
		r.err = fmt.Errorf("%s holds %d descriptors with %d streams open, want at least 2 per stream: streams were dropped", via, r.fdsStreams, r.held)
	}
	log.Printf("  %s RSS: %.1f MiB at start, %.1f MiB with %d sessions, %.1f MiB with %d streams: %.1f KiB per stream",
		via, mib(r.rssStart), mib(r.rssSessions), r.held, mib(r.rssStreams), r.held, r.perStream()/1024)
	return r
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// parallel runs f(0..n-1), at most width at a time, and returns the first
// error (after which no new calls start).
func parallel(ctx context.Context, n, width int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, width)
	for i := range n {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// mcpPost sends one JSON-RPC message and returns the response with its body read.
func mcpPost(ctx context.Context, hc *http.Client, url, sid, body string) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", eraLegacy)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, b, err
}

// initSession runs initialize and notifications/initialized and returns the
// session id.
func initSession(ctx context.Context, hc *http.Client, url string) (string, error) {
	resp, b, err := mcpPost(ctx, hc, url, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+eraLegacy+`","capabilities":{},"clientInfo":{"name":"mcpgate-bench","version":"1.0.0"}}}`)
	if err != nil {
		return "", fmt.Errorf("initialize: %w", err)
	}
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		return "", fmt.Errorf("initialize: %s, session id %q: %.300s", resp.Status, sid, b)
	}
	resp, b, err = mcpPost(ctx, hc, url, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if err != nil {
		return "", fmt.Errorf("notifications/initialized: %w", err)
	}
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("notifications/initialized: %s: %.300s", resp.Status, b)
	}
	return sid, nil
}

// openStream opens the session's standalone GET stream and returns its
// body, unread: the stream stays idle until ctx ends.
func openStream(ctx context.Context, hc *http.Client, url, sid string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Mcp-Protocol-Version", eraLegacy)
	hctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	type answer struct {
		resp *http.Response
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		resp, err := hc.Do(req)
		ch <- answer{resp, err}
	}()
	select {
	case a := <-ch:
		if a.err != nil {
			return nil, a.err
		}
		if a.resp.StatusCode != http.StatusOK || !strings.HasPrefix(a.resp.Header.Get("Content-Type"), "text/event-stream") {
			b, _ := io.ReadAll(io.LimitReader(a.resp.Body, 300))
			a.resp.Body.Close()
			return nil, fmt.Errorf("GET stream: %s %s: %s", a.resp.Status, a.resp.Header.Get("Content-Type"), b)
		}
		return a.resp.Body, nil
	case <-hctx.Done():
		return nil, fmt.Errorf("GET stream: no response headers within %v", callTimeout)
	}
}

// goStats reads, from a net/http/pprof listener, the number of goroutines
// and the runtime.MemStats fields of /debug/pprof/heap?debug=1, after a GC
// (so that heap in use is live memory). Call it after reading RSS.
func goStats(ctx context.Context, addr string) (int, map[string]int64) {
	get := func(path string) string {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		req, _ := http.NewRequestWithContext(cctx, http.MethodGet, "http://"+addr+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	n := 0
	g := get("/debug/pprof/goroutine?debug=1")
	fmt.Sscanf(g, "goroutine profile: total %d", &n)
	mem := map[string]int64{}
	for _, line := range strings.Split(get("/debug/pprof/heap?debug=1&gc=1"), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "# "), " = ")
		if !ok || !strings.HasPrefix(line, "# ") {
			continue
		}
		if k == "Stack" { // "# Stack = StackInuse / StackSys"
			k = "StackInuse"
			v, _, _ = strings.Cut(v, "/")
		}
		if x, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			mem[k] = x
		}
	}
	return n, mem
}
