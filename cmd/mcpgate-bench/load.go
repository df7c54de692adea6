package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Protocol eras the client can speak (REFERENCE §1).
const (
	eraLegacy = "2025-11-25" // initialize, Mcp-Session-Id, standalone GET stream
	eraModern = "2026-07-28" // server/discover, no sessions (SEP-2575)
)

// callTimeout bounds one tools/call.
const callTimeout = 30 * time.Second

// target is one way to reach an upstream: directly, through the bare
// reverse proxy, or through the gateway.
type target struct {
	name  string // direct, reverseproxy, gateway, gateway+policy
	url   string
	proc  *child // the process in front of the upstream; nil for direct
	token string // the grant to send; "" means the rig's gateway grant
}

// bearerTransport sends the same Authorization header on every request, so
// that the bytes a client sends are the same on every path (the gateway
// needs the grant; direct and reverse-proxy paths carry it too).
// It also counts the connections requests get, new or reused, to show
// that connections are reused on every path.
type bearerTransport struct {
	token           string
	base            http.RoundTripper
	newConns, reuse atomic.Int64
	trace           *httptrace.ClientTrace
}

func newBearerTransport(token string, base http.RoundTripper) *bearerTransport {
	b := &bearerTransport{token: token, base: base}
	b.trace = &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if i.Reused {
			b.reuse.Add(1)
		} else {
			b.newConns.Add(1)
		}
	}}
	return b
}

func (b *bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.WithContext(httptrace.WithClientTrace(r.Context(), b.trace))
	r2.Header = r.Header.Clone()
	r2.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r2)
}

// newHTTPClient is the client every path uses: one transport per pool with
// enough idle connections per host for every session (the default keeps 2,
// which makes a proxy measurement a connection-setup measurement).
func newHTTPClient(token string, conns int) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        0, // no overall limit
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: newBearerTransport(token, tr)}
}

// pool is a set of Go SDK client sessions to one target.
type pool struct {
	t        *target
	hc       *http.Client
	sessions []*mcp.ClientSession

	sinkMu sync.Mutex
	sink   func(arrival time.Time, emitted int64) // progress notifications, when set
}

// openPool connects n Go SDK sessions (mcp.StreamableClientTransport) to t,
// `parallel` at a time.
func openPool(ctx context.Context, t *target, n int, era, token string, parallel int) (*pool, error) {
	p := &pool{t: t, hc: newHTTPClient(token, 2*n+16)}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpgate-bench", Version: "1.0.0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			now := time.Now()
			emitted, err := strconv.ParseInt(req.Params.Message, 10, 64)
			if err != nil {
				return
			}
			p.sinkMu.Lock()
			sink := p.sink
			p.sinkMu.Unlock()
			if sink != nil {
				sink(now, emitted)
			}
		},
	})
	p.sessions = make([]*mcp.ClientSession, n)
	errs := make([]error, n)
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			tr := &mcp.StreamableClientTransport{Endpoint: t.url, HTTPClient: p.hc}
			cs, err := client.Connect(cctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: era})
			if err != nil {
				errs[i] = err
				return
			}
			p.sessions[i] = cs
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		p.close()
		return nil, fmt.Errorf("connect %d sessions to %s (%s): %w", n, t.name, t.url, firstError(errs))
	}
	return p, nil
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *pool) close() {
	var wg sync.WaitGroup
	for _, cs := range p.sessions {
		if cs != nil {
			wg.Go(func() { cs.Close() })
		}
	}
	wg.Wait()
	p.hc.CloseIdleConnections()
}

// conns is how many connections the pool's client has opened so far.
func (p *pool) conns() int64 { return p.hc.Transport.(*bearerTransport).newConns.Load() }

func (p *pool) setSink(f func(time.Time, int64)) {
	p.sinkMu.Lock()
	p.sink = f
	p.sinkMu.Unlock()
}

// caller makes one call on a session.
type caller func(ctx context.Context, cs *mcp.ClientSession) error

// callTool returns a caller of tool with args; an error result is an error.
func callTool(tool string, args map[string]any) caller {
	return func(ctx context.Context, cs *mcp.ClientSession) error {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
		if err != nil {
			return err
		}
		if res.IsError {
			return fmt.Errorf("%s answered an error result: %v", tool, contentText(res))
		}
		return nil
	}
}

func contentText(res *mcp.CallToolResult) string {
	var s string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			s += tc.Text
		}
	}
	return s
}

// usage is CPU and memory of the processes involved in one round.
type usage struct {
	proxyCPU, upstreamCPU, harnessCPU time.Duration
	proxyRSS                          int64
	util                              float64       // share of all CPUs busy
	foreign                           time.Duration // CPU used by processes this harness did not start
	softirq                           time.Duration // kernel softirq time (loopback networking is here)
}

// meter takes the readings before a round and returns a function that
// takes them after it.
func meter(proxy, upstream *child) func() usage {
	cpu := func(c *child) time.Duration {
		if c == nil {
			return 0
		}
		d, _ := procCPU(c.pid())
		return d
	}
	p0, u0 := cpu(proxy), cpu(upstream)
	ours0 := ourCPU()
	h0, _ := procCPU(os.Getpid())
	m0 := readMachineCPU()
	return func() usage {
		h1, _ := procCPU(os.Getpid())
		m1 := readMachineCPU()
		u := usage{proxyCPU: cpu(proxy) - p0, upstreamCPU: cpu(upstream) - u0, harnessCPU: h1 - h0,
			util: utilisation(m0, m1)}
		var ours time.Duration
		for pid, d := range ourCPU() {
			if d0, ok := ours0[pid]; ok {
				ours += d - d0
			}
		}
		u.softirq = ticks(m1.softirq - m0.softirq)
		u.foreign = max(0, ticks(m1.busy-m0.busy)-u.softirq-ours)
		if proxy != nil {
			u.proxyRSS, _, _ = procRSS(proxy.pid())
		}
		return u
	}
}

// ourCPU reads the CPU time of the harness and of every child still running.
func ourCPU() map[int]time.Duration {
	children.mu.Lock()
	pids := []int{os.Getpid()}
	for _, c := range children.list {
		if !c.exited() {
			pids = append(pids, c.pid())
		}
	}
	children.mu.Unlock()
	out := map[int]time.Duration{}
	for _, pid := range pids {
		if d, err := procCPU(pid); err == nil {
			out[pid] = d
		}
	}
	return out
}

func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / clockTick }

// round is the outcome of one measured round against one target.
type round struct {
	target   string
	calls    int // successful calls
	errors   int
	firstErr string
	elapsed  time.Duration
	usage
	newConns int             // connections the client opened during the round
	lat      []time.Duration // open loop: latency from the scheduled time
	lateness []time.Duration // open loop: send time − scheduled time
}

func (r round) rate() float64 { return float64(r.calls) / r.elapsed.Seconds() }

// foreignShare is the CPU other tenants of the machine used during the
// round, in percent of one core.
func (r round) foreignShare() float64 { return 100 * r.foreign.Seconds() / r.elapsed.Seconds() }

// perCall divides a CPU time by the round's successful calls.
func (r round) perCall(d time.Duration) time.Duration {
	if r.calls == 0 {
		return 0
	}
	return d / time.Duration(r.calls)
}

// closedLoop runs every session in a loop of back-to-back calls for d.
func (p *pool) closedLoop(ctx context.Context, d time.Duration, call caller, upstream *child) round {
	var calls, errs atomic.Int64
	var firstErr atomic.Value
	conns0 := p.conns()
	stop := meter(p.t.proc, upstream)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for _, cs := range p.sessions {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				cctx, cancel := context.WithTimeout(ctx, callTimeout)
				err := call(cctx, cs)
				cancel()
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				calls.Add(1)
			}
		})
	}
	wg.Wait()
	r := round{target: p.t.name, calls: int(calls.Load()), errors: int(errs.Load()), elapsed: time.Since(start)}
	r.usage = stop()
	r.newConns = int(p.conns() - conns0)
	if s, ok := firstErr.Load().(string); ok {
		r.firstErr = s
	}
	return r
}

// maxInFlight bounds an open-loop round: past it the target is saturated
// and the round is cut short rather than piling up goroutines.
const maxInFlight = 2000

// openLoop sends calls on a clock, rate per second for d, round-robin over
// the sessions, each in its own goroutine; latency is measured from the
// time the call was scheduled, so a slow answer delays no later call and
// queueing shows in the tail (no coordinated omission).
func (p *pool) openLoop(ctx context.Context, rate float64, d time.Duration, call caller, upstream *child) round {
	n := int(rate * d.Seconds())
	period := time.Duration(float64(time.Second) / rate)
	lat := make([]time.Duration, n)
	late := make([]time.Duration, n)
	ok := make([]bool, n)
	var inflight, errs atomic.Int64
	var firstErr atomic.Value
	conns0 := p.conns()
	stop := meter(p.t.proc, upstream)
	start := time.Now().Add(5 * time.Millisecond)
	var wg sync.WaitGroup
	sent := 0
	for i := range n {
		sched := start.Add(time.Duration(i) * period)
		if w := time.Until(sched); w > 0 {
			time.Sleep(w)
		}
		if ctx.Err() != nil || inflight.Load() > maxInFlight {
			break
		}
		sent++
		inflight.Add(1)
		cs := p.sessions[i%len(p.sessions)]
		wg.Go(func() {
			defer inflight.Add(-1)
			late[i] = time.Since(sched)
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			err := call(cctx, cs)
			cancel()
			lat[i] = time.Since(sched)
			if err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			ok[i] = true
		})
	}
	wg.Wait()
	r := round{target: p.t.name, elapsed: time.Since(start), errors: int(errs.Load()) + (n - sent)}
	r.usage = stop()
	r.newConns = int(p.conns() - conns0)
	for i := range sent {
		if ok[i] {
			r.calls++
			r.lat = append(r.lat, lat[i])
			r.lateness = append(r.lateness, late[i])
		}
	}
	if s, ok := firstErr.Load().(string); ok {
		r.firstErr = s
	}
	if sent < n {
		r.firstErr = fmt.Sprintf("saturated: stopped after %d of %d scheduled calls with %d in flight; %s", sent, n, maxInFlight, r.firstErr)
	}
	return r
}

// streamRound has each session call the stream tool back to back for d and
// records, for every progress notification, arrival − emission.
func (p *pool) streamRound(ctx context.Context, d time.Duration, events, intervalMS int) round {
	var mu sync.Mutex
	var lat []time.Duration
	p.setSink(func(arrival time.Time, emitted int64) {
		l := arrival.Sub(time.Unix(0, emitted))
		mu.Lock()
		lat = append(lat, l)
		mu.Unlock()
	})
	defer p.setSink(nil)
	var tok atomic.Int64
	call := func(ctx context.Context, cs *mcp.ClientSession) error {
		params := &mcp.CallToolParams{Name: toolStream, Arguments: map[string]any{"n": events, "interval_ms": intervalMS}}
		params.SetProgressToken(fmt.Sprintf("p%d", tok.Add(1)))
		res, err := cs.CallTool(ctx, params)
		if err != nil {
			return err
		}
		if res.IsError {
			return fmt.Errorf("stream answered an error result: %s", contentText(res))
		}
		return nil
	}
	r := p.closedLoop(ctx, d, call, nil)
	mu.Lock()
	r.lat = lat
	mu.Unlock()
	return r
}
