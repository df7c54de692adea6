package httpapi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Event streams pass through byte for byte whatever the event sizes (the
// relay switches buffers as events grow and shrink), and every event reaches
// the client before the upstream sends the next.
func TestEventStreamsRelayedByteForByte(t *testing.T) {
	sizes := []int{10, 511, 512, 513, 4 << 10, 100 << 10, 20, 40 << 10, 1}
	event := func(i, size int) string {
		return fmt.Sprintf("id: %d\nevent: message\ndata: {\"pad\":%q}\n\n", i, strings.Repeat("x", size))
	}
	var want bytes.Buffer
	for i, n := range sizes {
		want.WriteString(event(i, n))
	}
	acks := make(chan int)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		for i, n := range sizes {
			io.WriteString(w, event(i, n))
			w.(http.Flusher).Flush()
			select { // the client has the event before the next is written
			case <-acks:
			case <-time.After(5 * time.Second):
				return
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer upstream.Close()
	gw := newGateway(t, gatewayOptions{})
	gw.addServer("s", upstream.URL, nil)
	tok := gw.grant("alice", "", "s").Token

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			var resp *http.Response
			if method == http.MethodPost {
				resp = gw.post("s", tok, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`, nil)
			} else {
				req, _ := http.NewRequest(http.MethodGet, gw.mcpURL("s"), nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Accept", "text/event-stream")
				var err error
				if resp, err = http.DefaultClient.Do(req); err != nil {
					t.Fatal(err)
				}
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			rd := bufio.NewReader(resp.Body)
			var got bytes.Buffer
			for i := range sizes {
				// Read one whole event (up to its blank line), then let the
				// upstream write the next.
				for {
					line, err := rd.ReadString('\n')
					got.WriteString(line)
					if err != nil {
						t.Fatalf("event %d: %v", i, err)
					}
					if line == "\n" {
						break
					}
				}
				acks <- i
			}
			if rest, _ := io.ReadAll(rd); len(rest) > 0 {
				got.Write(rest)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("relayed %d bytes, want %d; they differ", got.Len(), want.Len())
			}
		})
	}
}

// An event stream whose first event is slow still shows the client its
// headers at once (they are held back only briefly, to go out with the
// first event).
func TestEventStreamHeadersNotHeldForSlowFirstEvent(t *testing.T) {
	gotHeaders := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		text := "in time"
		select {
		case <-gotHeaders:
		case <-time.After(5 * time.Second):
			text = "late"
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "event: message\ndata: "+text+"\n\n")
	}))
	defer upstream.Close()
	gw := newGateway(t, gatewayOptions{})
	gw.addServer("s", upstream.URL, nil)
	tok := gw.grant("alice", "", "s").Token

	resp := gw.post("s", tok, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`, nil)
	close(gotHeaders)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "data: in time") {
		t.Fatalf("the client saw the headers only with the first event: %q", body)
	}
}

// A standalone GET stream whose client goes away ends upstream too, even
// while no event flows (the gateway checks idle streams' clients).
func TestIdleStreamClientGoneEndsUpstream(t *testing.T) {
	cancelled := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Set-Cookie", "up=1")
		io.WriteString(w, "data: hello\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(cancelled)
	}))
	defer upstream.Close()
	gw := newGateway(t, gatewayOptions{})
	gw.addServer("s", upstream.URL, nil)
	tok := gw.grant("alice", "", "s").Token

	req, _ := http.NewRequest(http.MethodGet, gw.mcpURL("s"), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Set-Cookie") != "" {
		t.Fatalf("stream answered %d %v", resp.StatusCode, resp.Header)
	}
	if line, _ := bufio.NewReader(resp.Body).ReadString('\n'); line != "data: hello\n" {
		t.Fatalf("first line %q", line)
	}
	resp.Body.Close() // not drained: closes the connection
	select {
	case <-cancelled:
	case <-time.After(15 * time.Second):
		t.Fatal("the upstream stream outlived its client by 15 s")
	}
}

// A GET stream the upstream cuts mid-event ends with an error for the
// client, not a clean (truncated) end.
func TestStreamCutUpstreamIsAnErrorDownstream(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: hel")
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}))
	defer upstream.Close()
	gw := newGateway(t, gatewayOptions{})
	gw.addServer("s", upstream.URL, nil)
	tok := gw.grant("alice", "", "s").Token
	req, _ := http.NewRequest(http.MethodGet, gw.mcpURL("s"), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, err := io.ReadAll(resp.Body); err == nil {
		t.Fatalf("a stream cut upstream ended cleanly downstream after %q", body)
	}
}

// An HTTP/1.0 client cannot read chunked bodies: its stream is relayed by
// net/http (body delimited by the connection's end), not detached.
func TestStreamToHTTP10Client(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
	}))
	defer upstream.Close()
	gw := newGateway(t, gatewayOptions{})
	gw.addServer("s", upstream.URL, nil)
	tok := gw.grant("alice", "", "s").Token

	conn, err := net.Dial("tcp", gw.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /mcp/s HTTP/1.0\r\nHost: "+gw.srv.Listener.Addr().String()+"\r\nAuthorization: Bearer "+tok+"\r\nAccept: text/event-stream\r\n\r\n")
	raw, _ := io.ReadAll(conn)
	head, body, _ := strings.Cut(string(raw), "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.0 200") || strings.Contains(strings.ToLower(head), "chunked") || body != "data: one\n\n" {
		t.Fatalf("HTTP/1.0 stream answered:\n%s", raw)
	}
}
