package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// StreamTransport is an http.RoundTripper for long-lived event streams (MCP's
// standalone GET streams), of which thousands may sit idle at once. Each
// request gets a connection of its own, used for that one response and
// closed with its body, so no connection pool runs beside it: no read and
// write goroutines per connection (http.Transport's), only the caller's,
// blocked reading the body, and 2.5 KiB of buffers. It carries requests
// without a body, over HTTP/1.1 (also over TLS).
type StreamTransport struct {
	// DialContext dials the upstream; Policy.StreamTransport sets the
	// checked dialer.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// TLSConfig is cloned for https upstreams (nil: defaults).
	TLSConfig *tls.Config
	// ResponseHeaderTimeout bounds the wait for the response headers
	// (0: none; the request's context still applies).
	ResponseHeaderTimeout time.Duration
}

// Buffer sizes: a request is headers only; an event larger than the read
// buffer bypasses it.
const (
	streamWriteBuffer = 1 << 10
	streamReadBuffer  = 1 << 10
)

// StreamTransport returns a StreamTransport that dials through p.Dialer.
func (p Policy) StreamTransport() *StreamTransport {
	return &StreamTransport{DialContext: p.Dialer(nil).DialContext}
}

var errStreamBody = errors.New("egress: stream transport carries requests without a body")

// RoundTrip implements http.RoundTripper.
func (t *StreamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req.Body.Close()
		return nil, errStreamBody
	}
	ctx := req.Context()
	conn, err := t.dial(ctx, req)
	if err != nil {
		return nil, err
	}
	// The request's context ends the exchange at any point, body included.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}

	out := *req
	out.Close = true // one response per connection
	bw := bufio.NewWriterSize(conn, streamWriteBuffer)
	if err := out.Write(bw); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	if t.ResponseHeaderTimeout > 0 {
		conn.SetReadDeadline(time.Now().Add(t.ResponseHeaderTimeout))
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, streamReadBuffer), req)
	if err != nil {
		return fail(err)
	}
	conn.SetReadDeadline(time.Time{})
	resp.Body = &streamBody{ReadCloser: resp.Body, conn: conn, stop: stop}
	return resp, nil
}

func (t *StreamTransport) dial(ctx context.Context, req *http.Request) (net.Conn, error) {
	host, port := req.URL.Hostname(), req.URL.Port()
	switch req.URL.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
	default:
		return nil, fmt.Errorf("egress: unsupported scheme %q", req.URL.Scheme)
	}
	conn, err := t.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, err
	}
	if req.URL.Scheme == "http" {
		return conn, nil
	}
	cfg := &tls.Config{}
	if t.TLSConfig != nil {
		cfg = t.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// streamBody closes the connection with the body.
type streamBody struct {
	io.ReadCloser
	conn net.Conn
	stop func() bool
	once sync.Once
}

func (b *streamBody) Close() error {
	b.once.Do(func() {
		b.stop()
		b.conn.Close()
	})
	return nil
}
