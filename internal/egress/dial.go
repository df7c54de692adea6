package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"syscall"
	"time"
)

const (
	// MaxRedirects is how many redirects CheckRedirect follows.
	MaxRedirects = 5

	dialTimeout      = 10 * time.Second
	keepAlive        = 30 * time.Second
	handshakeTimeout = 10 * time.Second
)

// ErrTooManyRedirects is returned (wrapped) by CheckRedirect.
var ErrTooManyRedirects = errors.New("egress: too many redirects")

// Dialer returns a copy of base (a default dialer with a 10 s timeout if base
// is nil) that refuses, with an error wrapping ErrForbiddenAddress, to connect
// to any address p does not allow. The check runs in ControlContext, after name
// resolution and immediately before connect(2), on every address tried, so a
// hostname that resolves (or re-resolves) to a private address is caught. A
// Control or ControlContext already set on base still runs after the check.
func (p Policy) Dialer(base *net.Dialer) *net.Dialer {
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}
	if base != nil {
		d = *base
	}
	p.Allow = slices.Clone(p.Allow) // later changes by the caller must not widen it
	control, controlContext := d.Control, d.ControlContext
	d.Control = nil
	d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := p.checkDial(address); err != nil {
			return err
		}
		switch {
		case controlContext != nil:
			return controlContext(ctx, network, address, c)
		case control != nil:
			return control(network, address, c)
		}
		return nil
	}
	return &d
}

// checkDial judges the "ip:port" the dialer is about to connect to. Anything
// that is not an IP socket address (a unix socket path) is refused.
func (p Policy) checkDial(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot judge dial address %q: %w", ErrForbiddenAddress, address, err)
	}
	return p.Check(ap.Addr())
}

// Transport returns an http.Transport that dials through p.Dialer, tuned for
// a proxy that talks to few hosts at a high rate:
//   - up to 256 idle connections per host (http.DefaultTransport keeps 2,
//     which under load means a new TCP handshake for most requests);
//   - HTTP/2 only where TLS negotiates it via ALPN; cleartext upstreams get
//     HTTP/1.1, since most MCP servers do not speak h2c;
//   - no proxy from the environment: HTTPS_PROXY would move the dial, and so
//     the address check, to the proxy;
//   - no transparent gzip, so response bytes and headers pass through as the
//     upstream sent them;
//   - default 4 KiB read/write buffers (see StreamTransport for the
//     long-lived streams).
//
// No overall response timeout is set: SSE responses stay open indefinitely.
// Use request contexts for deadlines.
func (p Policy) Transport() *http.Transport {
	d := p.Dialer(nil)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true) // over TLS only; h2c would need SetUnencryptedHTTP2
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		Protocols:             &protocols,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   handshakeTimeout,
		ExpectContinueTimeout: 1 * time.Second,
		DisableCompression:    true,
	}
}

// CheckRedirect is an http.Client.CheckRedirect that follows at most
// MaxRedirects redirects. It does not look at the target address: the dial of
// every hop goes through the transport's checked dialer, which also sees what
// the target hostname resolves to.
func (p Policy) CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("%w: stopped after %d (next hop was %s)", ErrTooManyRedirects, MaxRedirects, req.URL.Redacted())
	}
	return nil
}

// Client returns an http.Client using p.Transport and p.CheckRedirect, with
// no overall timeout (see Transport).
func (p Policy) Client() *http.Client {
	return &http.Client{Transport: p.Transport(), CheckRedirect: p.CheckRedirect}
}
