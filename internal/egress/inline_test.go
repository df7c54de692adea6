package egress

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// connCounter counts the connections a test server accepted.
func connCounter(srv *httptest.Server) *atomic.Int32 {
	var n atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

func newInline() *InlineTransport {
	return &InlineTransport{DialContext: (&net.Dialer{}).DialContext}
}

func post(t *testing.T, tr http.RoundTripper, url, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// Sequential exchanges reuse one connection, JSON and SSE bodies alike, and
// the upstream sees the request as sent.
func TestInlineTransportReusesConnections(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Query().Get("sse") != "" {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: "+string(b)+"\n\n")
			w.(http.Flusher).Flush()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"echo":"`+string(b)+`","h":"`+r.Header.Get("Mcp-Session-Id")+`"}`)
	}))
	conns := connCounter(srv)
	srv.Start()
	defer srv.Close()
	tr := newInline()
	defer tr.CloseIdleConnections()
	for i := range 20 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp", strings.NewReader("hi"))
		req.Header.Set("Mcp-Session-Id", "s1")
		if i%2 == 1 {
			req.URL.RawQuery = "sse=1"
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := `{"echo":"hi","h":"s1"}`
		if i%2 == 1 {
			want = "data: hi\n\n"
		}
		if string(b) != want {
			t.Fatalf("exchange %d: %q, want %q", i, b, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("20 sequential exchanges used %d connections, want 1", n)
	}
}

// A connection the upstream closed while idle is not used again: the next
// request goes out on a new one and succeeds.
func TestInlineTransportSkipsConnectionsClosedWhileIdle(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.IdleTimeout = 50 * time.Millisecond
	conns := connCounter(srv)
	srv.Start()
	defer srv.Close()
	tr := newInline()
	for range 3 {
		if _, body := post(t, tr, srv.URL, "x"); body != "ok" {
			t.Fatalf("body %q", body)
		}
		time.Sleep(200 * time.Millisecond) // the server closes the idle connection
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3 (one per exchange, each closed while idle)", n)
	}
}

// A body not read to the end, or a response that says Connection: close,
// leaves its connection closed rather than pooled.
func TestInlineTransportDoesNotPoolUnfinishedConnections(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("close") != "" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, strings.Repeat("x", 100<<10))
	}))
	conns := connCounter(srv)
	srv.Start()
	defer srv.Close()
	tr := newInline()

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 10))
	resp.Body.Close()
	post(t, tr, srv.URL+"?close=1", "")
	post(t, tr, srv.URL, "")
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
}

// 1xx answers are skipped; the header timeout and the context bound the
// exchange; other schemes go to the fallback.
func TestInlineTransportEdges(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hints":
			w.Header().Set("Link", "</a>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "created")
		case "/slow-headers":
			time.Sleep(500 * time.Millisecond)
		case "/slow-body":
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	tr := newInline()
	tr.ResponseHeaderTimeout = 100 * time.Millisecond

	if resp, body := post(t, tr, srv.URL+"/hints", ""); resp.StatusCode != http.StatusCreated || body != "created" {
		t.Errorf("after early hints: %d %q", resp.StatusCode, body)
	}

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/slow-headers", nil)
	_, err := tr.RoundTrip(req)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("slow headers: %v, want a timeout", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/slow-body", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(resp.Body); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a cancelled body ended cleanly")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not end the body")
	}

	var fellBack atomic.Bool
	tr.Fallback = roundTripFunc(func(*http.Request) (*http.Response, error) {
		fellBack.Store(true)
		return nil, errors.New("fallback")
	})
	req, _ = http.NewRequest(http.MethodGet, "https://example.invalid/", nil)
	if _, err := tr.RoundTrip(req); err == nil || !fellBack.Load() {
		t.Errorf("https: %v, fallback used %v", err, fellBack.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Concurrent exchanges each get a connection; all come back to the pool.
func TestInlineTransportConcurrent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	defer srv.Close()
	tr := newInline()
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			for j := range 50 {
				want := strings.Repeat(string(rune('a'+i)), j+1)
				req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(want))
				resp, err := tr.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != want {
					errs <- errors.New("got " + string(b) + ", want " + want)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	tr.mu.Lock()
	idle := 0
	for _, l := range tr.idle {
		idle += len(l)
	}
	tr.mu.Unlock()
	if idle == 0 || idle > 16 {
		t.Fatalf("%d idle connections after 16 concurrent clients", idle)
	}
}
