package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
)

// hopHeaders are connection-scoped (RFC 9110 §7.6.1) and never forwarded.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// clientOnly are request headers that belong to the client's relationship
// with the gateway: its credentials and cookies never reach the upstream.
// Accept-Encoding is dropped so the gateway relays identity bodies it can read.
var clientOnly = []string{"Authorization", "Cookie", "Accept-Encoding", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// upstreamOnly are response headers the client must not receive.
var upstreamOnly = []string{"Set-Cookie", "Set-Cookie2", "Www-Authenticate"}

// outbound builds the upstream request: same method, body and protocol
// headers; the upstream's URL and static headers; no client credentials.
func (p *Proxy) outbound(x *exchange, body []byte) (*http.Request, error) {
	r := x.r
	u := *x.up.URL
	if r.URL.RawQuery != "" {
		if u.RawQuery != "" {
			u.RawQuery += "&" + r.URL.RawQuery
		} else {
			u.RawQuery = r.URL.RawQuery
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	out, err := http.NewRequestWithContext(x.ctx, r.Method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	out.Header = cloneHeader(r.Header, len(x.up.Headers))
	removeHop(out.Header)
	for _, h := range clientOnly {
		delete(out.Header, h)
	}
	for k, v := range x.up.Headers {
		out.Header[k] = v
	}
	if body != nil {
		out.ContentLength = int64(len(body))
	}
	return out, nil
}

func cloneHeader(h http.Header, extra int) http.Header {
	out := make(http.Header, len(h)+extra)
	for k, v := range h {
		out[k] = v // values are not mutated, so sharing the slices is safe
	}
	return out
}

// removeHop deletes hop-by-hop headers, including those named in Connection.
func removeHop(h http.Header) {
	for _, f := range h["Connection"] {
		for _, name := range strings.Split(f, ",") {
			if name = textproto.TrimString(name); name != "" {
				delete(h, http.CanonicalHeaderKey(name))
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// bufPool holds the relay's copy buffers. An event stream borrows one only
// while bytes are flowing: an idle stream (thousands may be open) waits on
// a small buffer of its own instead of pinning 32 KiB.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

const idleBufSize = 512

// relay copies the upstream response to the client. Event streams are
// flushed after every read so each event reaches the client at once. If the
// upstream breaks off mid-body, the client connection is aborted so that the
// client sees an error rather than a clean, truncated end.
func (p *Proxy) relay(x *exchange, resp *http.Response) {
	dst := x.w.Header()
	for k, v := range resp.Header {
		dst[k] = v
	}
	removeHop(dst)
	for _, h := range upstreamOnly {
		delete(dst, h)
	}
	stream := isEventStream(resp.Header.Get("Content-Type"))
	if stream {
		dst.Set("X-Accel-Buffering", "no")
		dst.Del("Content-Length")
	}
	x.rec.Status = resp.StatusCode
	if x.filter != nil && resp.StatusCode == http.StatusOK {
		p.relayFiltered(x, resp, stream)
		return
	}
	if stream && x.r.Method == http.MethodGet && p.detach(x, resp) {
		return
	}
	x.w.WriteHeader(resp.StatusCode)
	if stream {
		p.relayStream(x, resp)
		return
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for {
		n, err := resp.Body.Read(*bp)
		if n > 0 {
			if _, werr := x.w.Write((*bp)[:n]); werr != nil {
				return // the client went away; the deferred Close cancels upstream
			}
		}
		if p.relayDone(x, err) {
			return
		}
	}
}

// relayStream copies an event stream, flushing after every read.
//
// The headers go out with the first event rather than on their own, which
// saves a write per call, unless that event takes longer than
// headerFlushDelay, in which case they are flushed alone so the client
// knows the stream is open. A read that ends the body is not flushed: the
// response's end follows at once and goes out with it.
//
// A GET stream (thousands may sit idle) waits for the next event with a
// small buffer; a read that fills it means more is buffered upstream, so
// the rest is copied with a pooled buffer, which goes back to the pool as
// soon as a read comes back short.
func (p *Proxy) relayStream(x *exchange, resp *http.Response) {
	rc := http.NewResponseController(x.w)
	first := newHeaderFlush(rc)
	var idle []byte
	var big *[]byte
	if x.r.Method == http.MethodGet {
		idle = make([]byte, idleBufSize)
	} else {
		big = bufPool.Get().(*[]byte)
	}
	defer func() {
		first.done()
		if big != nil {
			bufPool.Put(big)
		}
	}()
	for {
		buf := idle
		if big != nil {
			buf = *big
		}
		n, err := resp.Body.Read(buf)
		first.done()
		if n > 0 {
			if _, werr := x.w.Write(buf[:n]); werr != nil {
				return
			}
			if err == nil {
				rc.Flush()
			}
		}
		switch {
		case idle == nil:
		case n == len(buf) && big == nil:
			big = bufPool.Get().(*[]byte)
		case n < len(buf) && big != nil:
			bufPool.Put(big)
			big = nil
		}
		if p.relayDone(x, err) {
			return
		}
	}
}

// headerFlushDelay is how long an event stream's headers wait for its
// first event before they are sent alone.
const headerFlushDelay = 2 * time.Millisecond

// headerFlush sends a response's headers after headerFlushDelay unless done
// is called first. The timer's flush runs only while the handler is blocked
// reading upstream, and done waits for it, so the ResponseWriter is never
// used by two goroutines at once.
type headerFlush struct {
	mu    sync.Mutex
	ended bool
	timer *time.Timer
}

func newHeaderFlush(rc *http.ResponseController) *headerFlush {
	h := &headerFlush{}
	h.timer = time.AfterFunc(headerFlushDelay, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if !h.ended {
			rc.Flush()
		}
	})
	return h
}

// done cancels the pending flush, waiting for it if it is under way.
func (h *headerFlush) done() {
	if h.timer == nil {
		return
	}
	h.timer.Stop()
	h.mu.Lock()
	h.ended = true
	h.mu.Unlock()
	h.timer = nil
}

// relayDone reports whether a relay loop ends after a read that returned
// err: cleanly at EOF or when the client is gone; by aborting the client
// connection when the upstream broke off mid-body.
func (p *Proxy) relayDone(x *exchange, err error) bool {
	switch {
	case err == nil:
		return false
	case err == io.EOF || x.ctx.Err() != nil:
		// EOF, or client gone / stream ended by shutdown: end cleanly.
		return true
	}
	x.rec.UpstreamError = "reset"
	p.log.Warn("upstream response broke off", "server", x.up.Name, "err", err)
	panic(http.ErrAbortHandler)
}

func isEventStream(ct string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "text/event-stream")
}

// maxFilteredBody bounds a JSON tools/list answer the gateway reads whole.
const maxFilteredBody = 32 << 20

// relayFiltered relays a tools/list answer with the tools the policy hides
// removed: a JSON body is read whole and rewritten; an event stream is
// relayed event by event, only the result event rewritten.
func (p *Proxy) relayFiltered(x *exchange, resp *http.Response, stream bool) {
	if !stream {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxFilteredBody+1))
		if err != nil || len(body) > maxFilteredBody {
			x.rec.UpstreamError = "reset"
			panic(http.ErrAbortHandler)
		}
		body = filterToolsJSON(body, x.filter)
		x.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		x.w.WriteHeader(resp.StatusCode)
		x.w.Write(body)
		return
	}
	x.w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(x.w)
	rc.Flush()
	f := newSSEFilter(resp.Body, x.filter)
	for {
		b, err := f.next()
		if len(b) > 0 {
			if _, werr := x.w.Write(b); werr != nil {
				return
			}
			rc.Flush()
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			if x.ctx.Err() != nil {
				return
			}
			x.rec.UpstreamError = "reset"
			panic(http.ErrAbortHandler)
		}
	}
}
