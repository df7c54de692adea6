// Command tokenproxy is a tiny header-injecting reverse proxy used by
// scripts/conformance.sh.
//
// The MCP conformance suite's server mode sends no credentials, while mcpgate
// requires `Authorization: Bearer <grant token>` on every /mcp/<server>
// request. tokenproxy sits between the two: it forwards every request to
// -target unchanged (same method, path, query, body, Host and headers) except
// that it sets the Authorization header, and it flushes response bytes to the
// client immediately so Server-Sent Events stream through without buffering.
//
//	tokenproxy -listen 127.0.0.1:PORT -target http://127.0.0.1:GWPORT -token-file FILE
//
// The token is read from -token-file, or from the TOKENPROXY_TOKEN environment
// variable when no file is given. It is never accepted as a flag value, so it
// does not show up in process listings.
//
// Request bodies are read in full before they are forwarded (see bufferBody
// for the Go net/http race this avoids). -v logs every request and response
// (method, Host, Origin, Mcp-* headers, status, bytes, aborts).
//
// It uses only the standard library.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

const tokenEnv = "TOKENPROXY_TOKEN"

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("tokenproxy: ")

	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	target := flag.String("target", "", "base URL to forward to, e.g. http://127.0.0.1:8080")
	tokenFile := flag.String("token-file", "", "file holding the bearer token (default: $"+tokenEnv+")")
	verbose := flag.Bool("v", false, "log every request")
	flag.Parse()

	if err := run(*listen, *target, *tokenFile, *verbose); err != nil {
		log.Fatal(err)
	}
}

func run(listen, target, tokenFile string, verbose bool) error {
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}
	if target == "" {
		return errors.New("-target is required")
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-target %q: want an absolute http(s) URL", target)
	}
	token, err := loadToken(tokenFile)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           newProxy(u, token, verbose),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if verbose {
		srv.ConnState = func(c net.Conn, st http.ConnState) {
			if st == http.StateNew || st == http.StateClosed {
				log.Printf("conn %s %s", c.RemoteAddr(), st)
			}
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Printf("listening on http://%s, forwarding to %s", ln.Addr(), u)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// SSE responses never end on their own; do not wait for them long.
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	return nil
}

// loadToken reads the bearer token from file (or the environment when file is
// empty) and trims surrounding whitespace.
func loadToken(file string) (string, error) {
	var raw string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading token: %w", err)
		}
		raw = string(b)
	} else {
		raw = os.Getenv(tokenEnv)
	}
	tok := strings.TrimSpace(raw)
	if tok == "" {
		return "", fmt.Errorf("no token: pass -token-file or set $%s", tokenEnv)
	}
	if strings.ContainsAny(tok, "\r\n") {
		return "", errors.New("token must be a single line")
	}
	return tok, nil
}

func newProxy(target *url.URL, token string, verbose bool) http.Handler {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 256
	// Be transparent: never add Accept-Encoding: gzip on the client's behalf
	// (and then silently decompress); pass whatever the client asked for.
	tr.DisableCompression = true

	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// Keep the Host the client sent: the gateway's DNS-rebinding /
			// Host checks must see exactly what the conformance suite sent.
			r.Out.Host = r.In.Host
			r.Out.Header.Set("Authorization", "Bearer "+token)
		},
		Transport: tr,
		// Flush every write immediately: SSE must not be buffered.
		FlushInterval: -1,
		ErrorLog:      log.Default(),
	}
	h := bufferBody(rp)
	if !verbose {
		return h
	}
	var seq atomic.Uint64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := seq.Add(1)
		start := time.Now()
		log.Printf("#%d -> [%s] %s %s Host=%s Origin=%q Mcp-Method=%q Mcp-Session-Id=%q Accept=%q",
			id, r.RemoteAddr, r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("Origin"),
			r.Header.Get("Mcp-Method"), r.Header.Get("Mcp-Session-Id"), r.Header.Get("Accept"))
		rw := &statusWriter{ResponseWriter: w}
		defer func() {
			// ReverseProxy aborts a response whose upstream body fails mid-copy by
			// panicking with http.ErrAbortHandler; log that, then let it propagate.
			p := recover()
			outcome := ""
			if p != nil {
				outcome = fmt.Sprintf(" ABORTED (%v)", p)
			}
			if err := context.Cause(r.Context()); err != nil {
				outcome += fmt.Sprintf(" (request context: %v)", err)
			}
			log.Printf("#%d <- %d %s %dB in %s%s", id, rw.status, rw.Header().Get("Content-Type"),
				rw.bytes, time.Since(start).Round(time.Microsecond), outcome)
			if p != nil {
				panic(p)
			}
		}()
		h.ServeHTTP(rw, r)
	})
}

// maxBody bounds a buffered request body. MCP requests are small JSON-RPC
// messages; the conformance suite never sends anything near this.
const maxBody = 32 << 20

// bufferBody reads the whole request body before proxying it.
//
// Streaming the inbound body straight into the outbound request is racy with
// Go's HTTP/1 server and Transport (golang/go#40747): as soon as the upstream
// answers, the proxy writes the response headers, and the server then closes
// the inbound body; if the Transport's writeLoop has not yet done its final
// "is there more than Content-Length?" read, that read fails with "invalid
// Read on closed Body" and the Transport tears down the upstream connection,
// cutting the response mid-stream ("ReverseProxy read error during body copy:
// use of closed network connection"). The conformance suite hit this in about
// one run in three. A buffered body never touches the inbound one again.
func bufferBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			r.Body.Close()
			if err != nil {
				http.Error(w, "tokenproxy: reading request body: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.ContentLength = int64(len(b))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
			if len(b) == 0 {
				r.Body = http.NoBody
			}
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the response status and size for -v logging. Unwrap lets
// http.ResponseController reach the underlying Flusher.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
