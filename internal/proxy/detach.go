package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// A standalone GET stream over HTTP/1.1 is detached from net/http once its
// headers are known: the gateway takes the client connection over
// (Hijack), writes the response itself, and relays the upstream's events
// from one goroutine of its own, while the handler returns. An idle stream
// then costs that goroutine, its two connections and 1.5 KiB of buffers,
// instead of net/http's connection goroutine, background reader and 10 KiB
// of buffers, which matters when clients keep thousands of them open.
//
// net/http's background reader noticed at once when a client went away;
// a detached stream notices when a write fails or, while it is idle, at
// the next liveness check (clientCheckInterval), and then ends the
// upstream request.

// clientCheckInterval is how often an idle detached stream checks that its
// client is still connected.
const clientCheckInterval = 5 * time.Second

// detach takes over x's connection and relays resp from a goroutine of its
// own. It returns false, having done nothing, when the stream cannot be
// detached (HTTP/1.0, HTTP/2, or a ResponseWriter that cannot hijack).
func (p *Proxy) detach(x *exchange, resp *http.Response) bool {
	// HTTP/1.0 clients cannot read a chunked body; HTTP/2 cannot hijack.
	if x.r.ProtoMajor != 1 || x.r.ProtoMinor < 1 || x.endStream == nil {
		return false
	}
	conn, _, err := http.NewResponseController(x.w).Hijack()
	if err != nil {
		return false
	}
	// What the client pipelined after its GET (the bufio.Reader handed
	// back) is dropped: a stream's connection carries nothing else.
	x.detached = true
	head := streamHead(resp.StatusCode, x.w.Header())
	resp.Header = nil // not needed any more; the body may outlive it
	if _, err := conn.Write(head); err != nil {
		conn.Close()
		resp.Body.Close()
		x.endStream()
		return true
	}
	// The goroutine must not hold x: it would keep net/http's request and
	// response (and their buffers) alive for the stream's lifetime.
	body, ctx, end, server := resp.Body, x.ctx, x.endStream, x.up.Name
	p.detachedWG.Add(1)
	go func() {
		defer p.detachedWG.Done()
		p.pump(conn, body, ctx, end, server)
	}()
	return true
}

// WaitStreams waits until every detached stream has ended (EndStreams ends
// them) or ctx ends.
func (p *Proxy) WaitStreams(ctx context.Context) error {
	done := make(chan struct{})
	go func() { p.detachedWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// streamHead is the HTTP/1.1 response head of a detached stream: chunked,
// and the connection closes when the stream ends.
func streamHead(status int, h http.Header) []byte {
	b := make([]byte, 0, 512)
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\n"...)
	h.Del("Content-Length")
	h.Del("Connection")
	h.Del("Transfer-Encoding")
	h.Set("Transfer-Encoding", "chunked")
	h.Set("Connection", "close")
	if _, ok := h["Date"]; !ok {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	for k, vs := range h {
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, headerValue(v)...)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "\r\n"...)
}

// headerValue drops CR and LF (net/http's Header.Write does the same), so
// an upstream's header value cannot split the response.
func headerValue(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] == '\r' || v[i] == '\n' {
			out := []byte(v)
			for j := range out {
				if out[j] == '\r' || out[j] == '\n' {
					out[j] = ' '
				}
			}
			return string(out)
		}
	}
	return v
}

// pump relays body to conn as chunks until either side ends, then ends the
// upstream request (end) and closes both.
func (p *Proxy) pump(conn net.Conn, body io.ReadCloser, ctx context.Context, end func(), server string) {
	defer end()
	defer body.Close()
	stopWatch := watchClient(conn, end)
	defer stopWatch()

	idle := make([]byte, idleBufSize)
	var big *[]byte
	defer func() {
		if big != nil {
			bufPool.Put(big)
		}
	}()
	var size [20]byte
	for {
		buf := idle
		if big != nil {
			buf = *big
		}
		n, err := body.Read(buf)
		if n > 0 {
			chunk := net.Buffers{append(strconv.AppendInt(size[:0], int64(n), 16), '\r', '\n'), buf[:n], []byte("\r\n")}
			if _, werr := chunk.WriteTo(conn); werr != nil {
				conn.Close()
				return
			}
		}
		switch {
		case n == len(buf) && big == nil:
			big = bufPool.Get().(*[]byte)
		case n < len(buf) && big != nil:
			bufPool.Put(big)
			big = nil
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF) || ctx.Err() != nil:
			// The end, the client gone or the gateway draining: a clean end
			// (written in vain to a client that is gone).
			conn.Write([]byte("0\r\n\r\n"))
			conn.Close()
			return
		}
		// The upstream broke off: no final chunk, so the client sees an
		// error rather than a clean, truncated end.
		p.log.Warn("upstream response broke off", "server", server, "err", err)
		conn.Close()
		return
	}
}

// watchClient checks every clientCheckInterval that the client of conn is
// still connected, calling gone when it is not (or when it sends anything:
// nothing may follow a GET on a stream's connection). The check reads
// with a deadline just ahead: a connection the client closed reads EOF at
// once, a live and quiet one times out.
func watchClient(conn net.Conn, gone func()) (stop func()) {
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	check := func() {
		var one [1]byte
		conn.SetReadDeadline(time.Now().Add(time.Millisecond))
		n, err := conn.Read(one[:])
		conn.SetReadDeadline(time.Time{})
		var ne net.Error
		if n > 0 || !(errors.As(err, &ne) && ne.Timeout()) {
			gone()
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			t.Reset(clientCheckInterval)
		}
	}
	mu.Lock()
	t = time.AfterFunc(clientCheckInterval, check)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		t.Stop()
	}
}
