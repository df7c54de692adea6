package postgres

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/store/postgres/pgtest"
)

// cutProxy forwards TCP connections to PostgreSQL until cut: then every
// connection is closed and new ones are refused, as while the server
// restarts, until restore. Frozen, it forwards nothing and closes nothing,
// as in a network partition, until thawed.
type cutProxy struct {
	t       *testing.T
	network string
	target  string
	addr    string
	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]bool
	frozen  bool
	thawed  *sync.Cond
}

func newCutProxy(t *testing.T, dsn string) (*cutProxy, string) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{t: t, network: "tcp", target: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), conns: map[net.Conn]bool{}}
	p.thawed = sync.NewCond(&p.mu)
	if strings.HasPrefix(cfg.Host, "/") {
		p.network, p.target = "unix", fmt.Sprintf("%s/.s.PGSQL.%d", cfg.Host, cfg.Port)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Host = p.addr
		return p, u.String()
	}
	host, port, _ := net.SplitHostPort(p.addr)
	return p, dsn + " host=" + host + " port=" + port // later settings win
}

func (p *cutProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *cutProxy) keep(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *cutProxy) pipe(client net.Conn) {
	p.waitThawed()
	server, err := net.DialTimeout(p.network, p.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	if !p.keep(client) || !p.keep(server) {
		client.Close()
		server.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { p.copy(server, client); done <- struct{}{} }()
	go func() { p.copy(client, server); done <- struct{}{} }()
	<-done
	client.Close()
	server.Close()
}

// copy forwards src to dst, holding data back while frozen.
func (p *cutProxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.waitThawed()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *cutProxy) waitThawed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.frozen {
		p.thawed.Wait()
	}
}

func (p *cutProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = true
}

func (p *cutProxy) thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = false
	p.thawed.Broadcast()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = false
	p.thawed.Broadcast()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) restore() {
	p.t.Helper()
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("listen again on %s: %v", p.addr, err)
}

// After an outage the feed must reconnect (and so resync) soon after the
// database is back, however long the outage lasted: until it does, this
// process serves what it cached and misses changes, such as a grant revoked
// through another replica (found by the PostgreSQL outage e2e test: after
// 3.5 s without the database, the doubling backoff, capped at 5 s and never
// reset, reconnected only 2.8 s after the database was back).
func TestFeedReconnectsSoonAfterAnOutage(t *testing.T) {
	proxy, dsn := newCutProxy(t, pgtest.Schema(t))
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resyncs := make(chan time.Time, 16)
	go db.Subscribe(ctx, func(mcpgate.Change) {}, func() { resyncs <- time.Now() })
	select {
	case <-resyncs:
	case <-time.After(5 * time.Second):
		t.Fatal("the feed never connected")
	}
	for _, outage := range []time.Duration{3500 * time.Millisecond, 1200 * time.Millisecond} {
		proxy.cut()
		time.Sleep(outage)
		proxy.restore()
		back := time.Now()
		select {
		case at := <-resyncs:
			if d := at.Sub(back); d > time.Second {
				t.Errorf("after a %v outage the feed reconnected %v after the database was back; want ≤ 1 s", outage, d.Round(time.Millisecond))
			} else {
				t.Logf("after a %v outage the feed reconnected %v after the database was back", outage, d.Round(time.Millisecond))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("after a %v outage the feed did not reconnect within 10 s", outage)
		}
	}
}
