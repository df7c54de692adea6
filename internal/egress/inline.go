package egress

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// InlineTransport is an http.RoundTripper for cleartext HTTP/1.1 upstreams
// that runs each exchange on the caller's goroutine: it writes the request
// and reads the response on a pooled connection itself. http.Transport hands
// every request to a connection's write goroutine and every response back
// from its read goroutine; on a proxy's hot path those handoffs cost more
// CPU and latency than the bytes. Other schemes (https, where HTTP/2 may be
// negotiated) go to Fallback.
//
// An idle connection the upstream has closed is noticed before reuse by a
// non-blocking peek (http.Transport's read goroutine notices it at once), so
// a request is not sent on a dead connection; none is retried.
type InlineTransport struct {
	// DialContext dials the upstream; Policy.InlineTransport sets the
	// checked dialer.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// Fallback carries requests for other schemes.
	Fallback http.RoundTripper
	// ResponseHeaderTimeout bounds the wait for the response headers
	// (0: none; the request's context still applies).
	ResponseHeaderTimeout time.Duration
	// MaxIdlePerHost bounds the idle connections kept per host (0: 256);
	// IdleTimeout closes those idle for longer (0: 90 s).
	MaxIdlePerHost int
	IdleTimeout    time.Duration

	mu      sync.Mutex
	idle    map[string][]*inlineConn // most recently used last
	janitor *time.Timer
}

// InlineTransport returns an InlineTransport that dials through p.Dialer,
// with fallback for other schemes.
func (p Policy) InlineTransport(fallback http.RoundTripper) *InlineTransport {
	return &InlineTransport{DialContext: p.Dialer(nil).DialContext, Fallback: fallback}
}

type inlineConn struct {
	conn      net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	addr      string
	idleSince time.Time
}

// RoundTrip implements http.RoundTripper.
func (t *InlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		if t.Fallback == nil {
			closeRequestBody(req)
			return nil, errors.New("egress: inline transport: no fallback for scheme " + req.URL.Scheme)
		}
		return t.Fallback.RoundTrip(req)
	}
	ctx := req.Context()
	pc, err := t.get(ctx, hostPort(req))
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}
	// The request's context ends the exchange at any point, body included.
	stop := context.AfterFunc(ctx, func() { pc.conn.Close() })
	resp, err := t.exchange(pc, req)
	if err != nil {
		stop()
		pc.conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	resp.Body = &inlineBody{ReadCloser: resp.Body, t: t, pc: pc, stop: stop, reusable: !resp.Close && !req.Close}
	return resp, nil
}

func (t *InlineTransport) exchange(pc *inlineConn, req *http.Request) (*http.Response, error) {
	if err := req.Write(pc.bw); err != nil {
		return nil, err
	}
	if err := pc.bw.Flush(); err != nil {
		return nil, err
	}
	if t.ResponseHeaderTimeout > 0 {
		pc.conn.SetReadDeadline(time.Now().Add(t.ResponseHeaderTimeout))
		defer pc.conn.SetReadDeadline(time.Time{})
	}
	for {
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			return nil, err
		}
		// Informational answers (103 Early Hints) precede the real one.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
}

func hostPort(req *http.Request) string {
	port := req.URL.Port()
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(req.URL.Hostname(), port)
}

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// get returns an idle connection to addr that is still open, or a new one.
func (t *InlineTransport) get(ctx context.Context, addr string) (*inlineConn, error) {
	now := time.Now()
	t.mu.Lock()
	for l := t.idle[addr]; len(l) > 0; l = t.idle[addr] {
		pc := l[len(l)-1]
		l[len(l)-1] = nil
		t.idle[addr] = l[:len(l)-1]
		if now.Sub(pc.idleSince) < t.idleTimeout() && open(pc.conn) {
			t.mu.Unlock()
			return pc, nil
		}
		pc.conn.Close()
	}
	t.mu.Unlock()
	conn, err := t.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &inlineConn{conn: conn, br: bufio.NewReader(conn), bw: bufio.NewWriter(conn), addr: addr}, nil
}

// put keeps pc for reuse.
func (t *InlineTransport) put(pc *inlineConn) {
	if pc.br.Buffered() > 0 { // bytes past the response: not a clean connection
		pc.conn.Close()
		return
	}
	pc.idleSince = time.Now()
	maxIdle := t.MaxIdlePerHost
	if maxIdle <= 0 {
		maxIdle = 256
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idle == nil {
		t.idle = map[string][]*inlineConn{}
	}
	if len(t.idle[pc.addr]) >= maxIdle {
		pc.conn.Close()
		return
	}
	t.idle[pc.addr] = append(t.idle[pc.addr], pc)
	if t.janitor == nil {
		t.janitor = time.AfterFunc(t.idleTimeout(), t.prune)
	}
}

// prune closes connections idle for longer than the idle timeout, and runs
// again while any are left.
func (t *InlineTransport) prune() {
	cutoff := time.Now().Add(-t.idleTimeout())
	t.mu.Lock()
	defer t.mu.Unlock()
	left := 0
	for addr, l := range t.idle {
		kept := l[:0]
		for _, pc := range l {
			if pc.idleSince.Before(cutoff) {
				pc.conn.Close()
			} else {
				kept = append(kept, pc)
			}
		}
		clear(l[len(kept):])
		t.idle[addr] = kept
		left += len(kept)
	}
	t.janitor = nil
	if left > 0 {
		t.janitor = time.AfterFunc(t.idleTimeout()/2, t.prune)
	}
}

// CloseIdleConnections closes the connections kept for reuse.
func (t *InlineTransport) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range t.idle {
		for _, pc := range l {
			pc.conn.Close()
		}
	}
	t.idle = nil
	if f, ok := t.Fallback.(interface{ CloseIdleConnections() }); ok {
		f.CloseIdleConnections()
	}
}

func (t *InlineTransport) idleTimeout() time.Duration {
	if t.IdleTimeout > 0 {
		return t.IdleTimeout
	}
	return 90 * time.Second
}

// inlineBody returns its connection to the pool when the body has been read
// to the end, and closes it otherwise.
type inlineBody struct {
	io.ReadCloser
	t        *InlineTransport
	pc       *inlineConn
	stop     func() bool
	reusable bool
	once     sync.Once
}

func (b *inlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.finish(err == io.EOF)
	}
	return n, err
}

func (b *inlineBody) Close() error {
	b.finish(false)
	return nil
}

func (b *inlineBody) finish(atEOF bool) {
	b.once.Do(func() {
		// stop reports false once the context has closed the connection.
		if b.stop() && atEOF && b.reusable {
			b.t.put(b.pc)
			return
		}
		b.pc.conn.Close()
	})
}
