package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

var loopback8 = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// countingServer is an httptest server on 127.0.0.1 that counts the TCP
// connections it accepts, to prove a refused dial never reached it.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
}

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestDialLoopbackRefusedByDefault(t *testing.T) {
	srv, conns := countingServer(t, okHandler())
	_, err := get(t, Policy{}.Client(), srv.URL)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("err = %v, want ErrForbiddenAddress", err)
	}
	for _, want := range []string{"127.0.0.1", AllowEnv} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("server accepted %d connections, want 0", n)
	}
}

func TestDialLoopbackAllowed(t *testing.T) {
	srv, _ := countingServer(t, okHandler())
	body, err := get(t, Policy{Allow: loopback8}.Client(), srv.URL)
	if err != nil || body != "ok" {
		t.Fatalf("= %q, %v", body, err)
	}
}

func TestDialHostnameCheckedAfterResolution(t *testing.T) {
	// "localhost" is not an IP, so only a dial-time check on the resolved
	// address (127.0.0.1 and/or ::1) can refuse it.
	srv, conns := countingServer(t, okHandler())
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	_, err := get(t, Policy{}.Client(), url)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("err = %v, want ErrForbiddenAddress", err)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("server accepted %d connections, want 0", n)
	}
	if body, err := get(t, Policy{Allow: append(loopback8, netip.MustParsePrefix("::1/128"))}.Client(), url); err != nil || body != "ok" {
		t.Errorf("with loopback allowed = %q, %v", body, err)
	}
}

func TestRedirectToRefusedAddress(t *testing.T) {
	// Two loopback listeners; only the first one's /32 is allowed.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2 on this system: %v", err)
	}
	target := &httptest.Server{Listener: ln, Config: &http.Server{Handler: okHandler()}}
	var targetConns atomic.Int64
	target.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			targetConns.Add(1)
		}
	}
	target.Start()
	defer target.Close()

	start, _ := countingServer(t, http.RedirectHandler(target.URL+"/next", http.StatusFound))
	p := Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

	_, err = get(t, p.Client(), start.URL)
	if !errors.Is(err, ErrForbiddenAddress) || !strings.Contains(err.Error(), "127.0.0.2") {
		t.Fatalf("err = %v, want ErrForbiddenAddress for 127.0.0.2", err)
	}
	if n := targetConns.Load(); n != 0 {
		t.Errorf("redirect target accepted %d connections, want 0", n)
	}
	// Control: with the target allowed too, the same redirect is followed.
	p.Allow = append(p.Allow, netip.MustParsePrefix("127.0.0.2/32"))
	if body, err := get(t, p.Client(), start.URL); err != nil || body != "ok" {
		t.Errorf("with both allowed = %q, %v", body, err)
	}
}

func TestRedirectHopLimit(t *testing.T) {
	var hits atomic.Int64
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		http.Redirect(w, r, fmt.Sprintf("/hop/%d", n), http.StatusFound)
	}))
	_, err := get(t, Policy{Allow: loopback8}.Client(), srv.URL)
	if !errors.Is(err, ErrTooManyRedirects) {
		t.Fatalf("err = %v, want ErrTooManyRedirects", err)
	}
	if n := hits.Load(); n != MaxRedirects+1 {
		t.Errorf("server saw %d requests, want %d (first + %d redirects)", n, MaxRedirects+1, MaxRedirects)
	}
}

func TestDialerKeepsBaseControl(t *testing.T) {
	srv, _ := countingServer(t, okHandler())
	var called atomic.Int64
	base := &net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		called.Add(1)
		return nil
	}}
	d := Policy{Allow: loopback8}.Dialer(base)
	conn, err := d.DialContext(context.Background(), "tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if called.Load() != 1 {
		t.Errorf("base Control called %d times, want 1", called.Load())
	}
	if _, err := (Policy{}).Dialer(base).DialContext(context.Background(), "tcp", srv.Listener.Addr().String()); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("err = %v, want ErrForbiddenAddress", err)
	}
	if called.Load() != 1 {
		t.Error("base Control ran for a refused address")
	}
}

func TestDialerCopiesAllowList(t *testing.T) {
	srv, _ := countingServer(t, okHandler())
	allow := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	d := Policy{Allow: allow}.Dialer(nil)
	allow[0] = loopback8[0] // must not widen the dialer built above
	if _, err := d.DialContext(context.Background(), "tcp", srv.Listener.Addr().String()); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("err = %v, want ErrForbiddenAddress", err)
	}
}

func TestTransportSettings(t *testing.T) {
	tr := Policy{}.Transport()
	if tr.Proxy != nil || !tr.DisableCompression || tr.MaxIdleConnsPerHost < 256 || tr.MaxIdleConns < 1024 ||
		tr.IdleConnTimeout == 0 || tr.TLSHandshakeTimeout == 0 || tr.DialContext == nil {
		t.Errorf("transport settings: %+v", tr)
	}
	if !tr.Protocols.HTTP1() || !tr.Protocols.HTTP2() || tr.Protocols.UnencryptedHTTP2() {
		t.Errorf("protocols = %v, want HTTP/1.1 plus HTTP/2 over TLS only", tr.Protocols)
	}
}

func TestTransportProtocols(t *testing.T) {
	plain, _ := countingServer(t, protoHandler())
	tlsSrv := httptest.NewUnstartedServer(protoHandler())
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	defer tlsSrv.Close()

	tr := Policy{Allow: loopback8}.Transport()
	tr.TLSClientConfig = tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	c := &http.Client{Transport: tr}
	if got, err := get(t, c, plain.URL); err != nil || got != "HTTP/1.1" {
		t.Errorf("cleartext = %q, %v; want HTTP/1.1", got, err)
	}
	if got, err := get(t, c, tlsSrv.URL); err != nil || got != "HTTP/2.0" {
		t.Errorf("TLS = %q, %v; want HTTP/2.0", got, err)
	}
	// The TLS dial is checked too.
	tr2 := Policy{}.Transport()
	tr2.TLSClientConfig = tr.TLSClientConfig
	if _, err := get(t, &http.Client{Transport: tr2}, tlsSrv.URL); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("TLS dial: err = %v, want ErrForbiddenAddress", err)
	}
}

func protoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
}

func TestTransportDoesNotDecompress(t *testing.T) {
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "" {
			t.Errorf("transport added Accept-Encoding %q", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Write([]byte("\x1f\x8bnot really gzip"))
	}))
	resp, err := Policy{Allow: loopback8}.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Encoding") != "gzip" || string(b) != "\x1f\x8bnot really gzip" {
		t.Errorf("body or encoding altered: %q %q", resp.Header.Get("Content-Encoding"), b)
	}
}

func TestDialUnixRefused(t *testing.T) {
	_, err := Policy{}.Dialer(nil).DialContext(context.Background(), "unix", "/nonexistent.sock")
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("err = %v, want ErrForbiddenAddress", err)
	}
}
