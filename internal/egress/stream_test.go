package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// eventServer streams two events, the second after the client has the
// first, then ends; it records the request it saw.
func eventServer(t *testing.T, tlsOn bool) (*httptest.Server, chan *http.Request, chan struct{}) {
	seen := make(chan *http.Request, 1)
	next := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Mcp-Session-Id", "s1")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: two\n\n")
	})
	var srv *httptest.Server
	if tlsOn {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv, seen, next
}

func TestStreamTransportRelaysAStream(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tlsOn], func(t *testing.T) {
			srv, seen, next := eventServer(t, tlsOn)
			tr := &StreamTransport{DialContext: (&net.Dialer{}).DialContext}
			if tlsOn {
				tr.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
			}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/mcp?x=1", nil)
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("Mcp-Session-Id", "s1")
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := <-seen
			if got.URL.RequestURI() != "/mcp?x=1" || got.Header.Get("Mcp-Session-Id") != "s1" || got.Header.Get("Accept") != "text/event-stream" {
				t.Errorf("upstream saw %s %v", got.URL.RequestURI(), got.Header)
			}
			if resp.StatusCode != 200 || resp.Header.Get("Mcp-Session-Id") != "s1" {
				t.Fatalf("response %d %v", resp.StatusCode, resp.Header)
			}
			rd := bufio.NewReader(resp.Body)
			if line, _ := rd.ReadString('\n'); line != "data: one\n" {
				t.Fatalf("first line %q", line)
			}
			rd.ReadString('\n')
			close(next)
			rest, err := io.ReadAll(rd)
			if err != nil || string(rest) != "data: two\n\n" {
				t.Fatalf("rest %q, %v", rest, err)
			}
		})
	}
}

// Cancelling the request's context ends a stream that is waiting for its
// next event, and the upstream sees the disconnect.
func TestStreamTransportCancel(t *testing.T) {
	srv, _, _ := eventServer(t, false)
	tr := &StreamTransport{DialContext: (&net.Dialer{}).DialContext}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	rd.ReadString('\n')
	rd.ReadString('\n')
	time.AfterFunc(50*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(rd); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled stream ended cleanly")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not end the stream")
	}
}

func TestStreamTransportRefusals(t *testing.T) {
	silent, _ := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	defer silent.Close()
	tests := []struct {
		name string
		tr   *StreamTransport
		req  func() *http.Request
		want func(error) bool
	}{
		{"a body", &StreamTransport{DialContext: (&net.Dialer{}).DialContext},
			func() *http.Request {
				r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", strings.NewReader("x"))
				return r
			}, func(err error) bool { return errors.Is(err, errStreamBody) }},
		{"header timeout", &StreamTransport{DialContext: (&net.Dialer{}).DialContext, ResponseHeaderTimeout: 100 * time.Millisecond},
			func() *http.Request {
				r, _ := http.NewRequest(http.MethodGet, "http://"+silent.Addr().String()+"/", nil)
				return r
			},
			func(err error) bool { var ne net.Error; return errors.As(err, &ne) && ne.Timeout() }},
		{"forbidden address", Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}.StreamTransport(),
			func() *http.Request {
				r, _ := http.NewRequest(http.MethodGet, "http://"+silent.Addr().String()+"/", nil)
				return r
			},
			func(err error) bool { return errors.Is(err, ErrForbiddenAddress) }},
		{"another scheme", &StreamTransport{DialContext: (&net.Dialer{}).DialContext},
			func() *http.Request { r, _ := http.NewRequest(http.MethodGet, "ftp://127.0.0.1/", nil); return r },
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "unsupported scheme") }},
		{"untrusted certificate", &StreamTransport{DialContext: (&net.Dialer{}).DialContext, TLSConfig: &tls.Config{}},
			func() *http.Request {
				srv := httptest.NewTLSServer(http.NotFoundHandler())
				t.Cleanup(srv.Close)
				r, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
				return r
			}, func(err error) bool { var ce *tls.CertificateVerificationError; return errors.As(err, &ce) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.tr.RoundTrip(tt.req())
			if err == nil {
				resp.Body.Close()
			}
			if !tt.want(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}
