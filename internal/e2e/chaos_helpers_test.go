package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/e2e/gatewaytest"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
)

// The chaos tests talk to the gateways as a plain HTTP client would, so that
// they see every status code, every connection reset and every hang as it
// happens, and decide themselves where to send each request and when to
// retry, like a client behind a load balancer.

// chaosProtocol is the MCP version the raw clients speak.
const chaosProtocol = "2025-06-18"

// mcpReply is the gateway's answer to one JSON-RPC POST.
type mcpReply struct {
	Status    int
	SessionID string
	Result    json.RawMessage
	Error     *rpcError
	Body      string // the start of a body that is not JSON-RPC, for messages
}

func (r mcpReply) String() string {
	switch {
	case r.Error != nil:
		return fmt.Sprintf("HTTP %d, JSON-RPC error %d %q", r.Status, r.Error.Code, r.Error.Message)
	case r.Result != nil:
		return fmt.Sprintf("HTTP %d, result %.120s", r.Status, r.Result)
	default:
		return fmt.Sprintf("HTTP %d, body %q", r.Status, r.Body)
	}
}

var rpcIDs atomic.Int64

// mcpPost POSTs one JSON-RPC message (a request, or a notification when
// notify is true) to url and reads the answer, JSON or SSE, within
// attemptTimeout. The error is a transport error only: refused or reset
// connection, a body cut off, no answer in time; HTTP errors are in the
// reply.
func mcpPost(ctx context.Context, hc *http.Client, url, token, sid, method string, params any, notify bool) (mcpReply, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	msg := map[string]any{"jsonrpc": "2.0", "method": method}
	if params != nil {
		msg["params"] = params
	}
	id := rpcIDs.Add(1)
	if !notify {
		msg["id"] = id
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return mcpReply{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return mcpReply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", chaosProtocol)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return mcpReply{}, err
	}
	defer resp.Body.Close()
	r := mcpReply{Status: resp.StatusCode, SessionID: resp.Header.Get("Mcp-Session-Id")}
	var rpc struct {
		ID     json.RawMessage `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	ct := resp.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "text/event-stream"):
		// Events until the one answering our id (notifications may come first).
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		var data strings.Builder
		for sc.Scan() {
			line := sc.Text()
			if d, ok := strings.CutPrefix(line, "data:"); ok {
				data.WriteString(strings.TrimPrefix(d, " "))
				continue
			}
			if line != "" || data.Len() == 0 {
				continue
			}
			rpc.ID, rpc.Result, rpc.Error = nil, nil, nil
			if json.Unmarshal([]byte(data.String()), &rpc) == nil && string(rpc.ID) == strconv.FormatInt(id, 10) {
				r.Result, r.Error = rpc.Result, rpc.Error
				return r, nil
			}
			data.Reset()
		}
		if err := sc.Err(); err != nil {
			return r, fmt.Errorf("SSE answer cut off: %w", err)
		}
		if !notify {
			return r, fmt.Errorf("SSE answer ended without a response to id %d (HTTP %d)", id, resp.StatusCode)
		}
		return r, nil
	default:
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return r, fmt.Errorf("answer cut off: %w", err)
		}
		if strings.HasPrefix(ct, "application/json") && json.Unmarshal(raw, &rpc) == nil && (rpc.Result != nil || rpc.Error != nil) {
			r.Result, r.Error = rpc.Result, rpc.Error
			return r, nil
		}
		r.Body = string(raw[:min(len(raw), 300)])
		return r, nil
	}
}

// ok reports whether the reply is a JSON-RPC result.
func (r mcpReply) ok() bool { return r.Status == http.StatusOK && r.Error == nil && r.Result != nil }

// startRawSession starts an MCP session at url (initialize, then
// notifications/initialized) and returns its Mcp-Session-Id.
func startRawSession(ctx context.Context, hc *http.Client, url, token string) (string, error) {
	r, err := mcpPost(ctx, hc, url, token, "", "initialize", map[string]any{
		"protocolVersion": chaosProtocol,
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "chaos", "version": "1"},
	}, false)
	if err != nil {
		return "", fmt.Errorf("initialize: %w", err)
	}
	if !r.ok() || r.SessionID == "" {
		return "", fmt.Errorf("initialize: %v (session id %q)", r, r.SessionID)
	}
	n, err := mcpPost(ctx, hc, url, token, r.SessionID, "notifications/initialized", nil, true)
	if err != nil {
		return "", fmt.Errorf("notifications/initialized: %w", err)
	}
	if n.Status != http.StatusAccepted {
		return "", fmt.Errorf("notifications/initialized: %v, want 202", n)
	}
	return r.SessionID, nil
}

// toolText returns the text of a tools/call result, failing on an error result.
func toolText(r mcpReply) (string, error) {
	var res struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal(r.Result, &res); err != nil {
		return "", fmt.Errorf("tools/call result %.200s: %w", r.Result, err)
	}
	var text string
	for _, c := range res.Content {
		text += c.Text
	}
	if res.IsError {
		return text, fmt.Errorf("tools/call answered an error result: %s", text)
	}
	return text, nil
}

// newClient is an HTTP client of its own (own connection pool), as a
// separate client process would have.
func newClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: tr}
}

// replicaSet plays the load balancer in front of the gateways: it spreads
// requests round robin over the replicas not marked down. A client that
// cannot connect to a replica marks it down (a passive health check).
type replicaSet struct {
	gws  []*gatewaytest.Gateway
	down []atomic.Bool
	rr   atomic.Uint64
}

func newReplicaSet(gws []*gatewaytest.Gateway) *replicaSet {
	return &replicaSet{gws: gws, down: make([]atomic.Bool, len(gws))}
}

// pick returns a replica that is up, other than not (-1 for any); -1 when
// there is none.
func (s *replicaSet) pick(not int) int {
	n := len(s.gws)
	for range 2 * n {
		i := int(s.rr.Add(1) % uint64(n))
		if i != not && !s.down[i].Load() {
			return i
		}
	}
	return -1
}

// up lists the replicas not marked down.
func (s *replicaSet) up() []int {
	var out []int
	for i := range s.gws {
		if !s.down[i].Load() {
			out = append(out, i)
		}
	}
	return out
}

// attempt is one try of a call on one replica.
type attempt struct {
	replica int
	start   time.Time
	took    time.Duration
	reply   mcpReply
	err     error // transport error
}

// retryable: the client tries another replica after a transport error or
// a 5xx, and after nothing else.
func (a attempt) retryable() bool { return a.err != nil || a.reply.Status >= 500 }

func (a attempt) String() string {
	what := a.reply.String()
	if a.err != nil {
		what = "transport error: " + a.err.Error()
	}
	return fmt.Sprintf("replica %d after %v: %s", a.replica, a.took.Round(time.Millisecond), what)
}

// connError reports whether err means nothing answered at the address.
func connError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// attemptTimeout bounds every attempt: a hang is a failure, not a wait.
const attemptTimeout = 10 * time.Second

// do sends one call to replica i.
func (s *replicaSet) do(ctx context.Context, hc *http.Client, i int, path, token, sid, method string, params any) attempt {
	a := attempt{replica: i, start: time.Now()}
	a.reply, a.err = mcpPost(ctx, hc, s.gws[i].URL(path), token, sid, method, params, false)
	a.took = time.Since(a.start)
	if a.err != nil && connError(a.err) {
		s.down[i].Store(true)
	}
	return a
}

// call sends a call to a replica picked by the balancer and, when that
// attempt fails retryably, once more to another replica. It returns one or
// two attempts; the call succeeded if the last one did.
func (s *replicaSet) call(ctx context.Context, hc *http.Client, path, token, sid, method string, params any) []attempt {
	first := s.do(ctx, hc, max(s.pick(-1), 0), path, token, sid, method, params)
	if !first.retryable() {
		return []attempt{first}
	}
	next := s.pick(first.replica)
	if next < 0 {
		return []attempt{first}
	}
	return []attempt{first, s.do(ctx, hc, next, path, token, sid, method, params)}
}

// callLog counts calls and what happened to them.
type callLog struct {
	mu sync.Mutex
	// calls, ok and failed count calls; retried counts calls whose first
	// attempt failed and whose second succeeded.
	calls, ok, failed, retried int
	// firstFailures are the failed first attempts of retried calls.
	firstFailures []attempt
	// failures are the calls that failed in the end (their last attempt).
	failures []attempt
	// slowest is the longest attempt.
	slowest time.Duration
}

// add records a call; good says whether its last attempt's reply is what
// the caller wanted.
func (l *callLog) add(as []attempt, good bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	for _, a := range as {
		l.slowest = max(l.slowest, a.took)
	}
	last := as[len(as)-1]
	switch {
	case good && len(as) == 1:
		l.ok++
	case good:
		l.ok++
		l.retried++
		l.firstFailures = append(l.firstFailures, as[0])
	default:
		l.failed++
		l.failures = append(l.failures, last)
		if len(as) > 1 {
			l.firstFailures = append(l.firstFailures, as[0])
		}
	}
}

// sample returns up to n failures as text.
func sample(as []attempt, n int) []string {
	var out []string
	for _, a := range as[:min(n, len(as))] {
		out = append(out, a.String())
	}
	return out
}

// percentile is the p-quantile (0 < p ≤ 1) of ds by the nearest-rank method.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	k := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}

// replicaOptions are the options every replica of one cluster shares: one
// PostgreSQL schema (dsn), one seal key, one admin token.
func replicaOptions(dsn string) gatewaytest.Options {
	key := make([]byte, 32)
	admin := make([]byte, 32)
	rand.Read(key)
	rand.Read(admin)
	return gatewaytest.Options{
		Env:        []string{"MCPGATE_STORE_DSN=" + dsn, "MCPGATE_SEAL_KEY=" + base64.StdEncoding.EncodeToString(key)},
		AdminToken: hex.EncodeToString(admin),
	}
}

// oauthCluster is n gateway replicas on one PostgreSQL schema with an OAuth
// upstream registered and users connected to it through the connect flow.
type oauthCluster struct {
	u    *oauthUpstream
	gws  []*gatewaytest.Gateway
	opts gatewaytest.Options
	// grants are one grant token per user, in the order of users.
	grants []string
}

// startOAuthCluster starts the upstream (access tokens living ttl), replica
// 0, registers the upstream, connects users through replica 0 and starts the
// other replicas with replica 0's public URL, as replicas behind one load
// balancer have. The gateways reach PostgreSQL at gatewayDSN.
func startOAuthCluster(t *testing.T, n int, ttl time.Duration, gatewayDSN string, users ...string) *oauthCluster {
	t.Helper()
	c := &oauthCluster{
		u:    newOAuthUpstream(t, oauthtest.AuthServerOptions{AccessTTL: ttl, RequireResource: true}),
		opts: replicaOptions(gatewayDSN),
	}
	first := c.opts
	c.gws = []*gatewaytest.Gateway{c.u.gatewayFor(t, &first)}
	for _, user := range users {
		c.u.as.SetSubject(user)
		c.gws[0].Connect(t, adminapi.ConnectRequest{Server: upstreamName, User: user})
		_, token := c.gws[0].CreateGrant(t, user, upstreamName)
		c.grants = append(c.grants, token)
	}
	for range n - 1 {
		o := c.opts
		o.PublicURL = c.gws[0].PublicURL
		c.gws = append(c.gws, gatewaytest.StartGateway(t, &o))
	}
	return c
}

// pgProxy is a TCP proxy between the gateways and PostgreSQL that the test
// cuts the way a database restart does: every connection is closed and new
// ones are refused until it is restored. (The machine's PostgreSQL is
// shared with other tests, so the real server is never restarted.)
type pgProxy struct {
	target  func() (net.Conn, error)
	addr    string // 127.0.0.1:PORT, kept across cuts
	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]bool
	accepts int
	frozen  bool
	thawed  *sync.Cond // signalled by Thaw
	wg      sync.WaitGroup
}

// startPGProxy starts a proxy in front of the server of dsn and returns it
// with dsn pointed at the proxy.
func startPGProxy(t *testing.T, dsn string) (*pgProxy, string) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parse the test DSN: %v", err)
	}
	network, address := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, address = "unix", fmt.Sprintf("%s/.s.PGSQL.%d", cfg.Host, cfg.Port)
	}
	p := &pgProxy{conns: map[net.Conn]bool{}, target: func() (net.Conn, error) {
		return net.DialTimeout(network, address, 5*time.Second)
	}}
	p.thawed = sync.NewCond(&p.mu)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() {
		p.Cut()
		p.wg.Wait()
	})
	host, port, _ := net.SplitHostPort(p.addr)
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Host = p.addr
		return p, u.String()
	}
	// key=value: later settings override earlier ones.
	return p, dsn + " host=" + host + " port=" + port
}

func (p *pgProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.pipe(c)
			}()
		}
	}()
}

func (p *pgProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil { // cut meanwhile
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *pgProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *pgProxy) pipe(client net.Conn) {
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	p.waitThawed()
	server, err := p.target()
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	p.mu.Lock()
	p.accepts++
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.copy(server, client); done <- struct{}{} }()
	go func() { p.copy(client, server); done <- struct{}{} }()
	<-done
}

// copy forwards src to dst, holding data back while the proxy is frozen.
func (p *pgProxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.waitThawed()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *pgProxy) waitThawed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.frozen {
		p.thawed.Wait()
	}
}

// Freeze stops forwarding without closing anything, as a network partition
// does: connections stay open and silent, new ones are accepted and never
// answered, until Thaw.
func (p *pgProxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = true
}

// Thaw forwards again what Freeze held back.
func (p *pgProxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = false
	p.thawed.Broadcast()
}

// Cut closes every proxied connection and the listener: connecting is
// refused until Restore.
func (p *pgProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = false
	p.thawed.Broadcast()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// Restore listens again on the same address.
func (p *pgProxy) Restore(t *testing.T) {
	t.Helper()
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("listen again on %s: %v", p.addr, err)
}

// Accepted is how many connections to PostgreSQL the proxy has made.
func (p *pgProxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepts
}
