package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/egress"
	"github.com/mcpgate/mcpgate/internal/grants"
	"github.com/mcpgate/mcpgate/internal/httpapi"
	"github.com/mcpgate/mcpgate/internal/oauth"
	"github.com/mcpgate/mcpgate/internal/policyfile"
	"github.com/mcpgate/mcpgate/internal/proxy"
	"github.com/mcpgate/mcpgate/internal/registry"
	"github.com/mcpgate/mcpgate/internal/rotation"
	"github.com/mcpgate/mcpgate/internal/seal"
	"github.com/mcpgate/mcpgate/internal/store/postgres"
	"github.com/mcpgate/mcpgate/internal/store/postgres/pgtest"
	"github.com/mcpgate/mcpgate/internal/store/sqlite"
	"github.com/mcpgate/mcpgate/internal/telemetry"
)

const adminToken = "test-admin-token-0123456789"

// gateway is a fully wired handler on an httptest server, over a real SQLite
// store in a temp dir.
type gateway struct {
	t       testing.TB
	srv     *httptest.Server
	handler *httpapi.Handler
	logs    *bytes.Buffer
	logMu   *sync.Mutex
	store   mcpgate.Store
	auditor *audit.Writer
}

type gatewayOptions struct {
	postgres        bool // PostgreSQL store instead of SQLite
	maxBody         int64
	upstreamTimeout time.Duration
	now             func() time.Time
	policyFile      string        // a policy file to enforce
	auditInterval   time.Duration // the audit writer's flush interval (default 10 ms)
	workloadToken   string        // the gateway's workload identity token file
}

func newGateway(t testing.TB, o gatewayOptions) *gateway {
	t.Helper()
	ctx := context.Background()
	var st mcpgate.Store
	var err error
	if o.postgres {
		st, err = postgres.Open(ctx, pgtest.Schema(t))
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "gw.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := seal.NewKeyring(seal.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	lw := &lockedWriter{w: logs}
	log := slog.New(slog.NewTextHandler(lw, nil))
	if o.maxBody == 0 {
		o.maxBody = 4 << 20
	}
	tr := &egress.InlineTransport{DialContext: (&net.Dialer{}).DialContext, ResponseHeaderTimeout: o.upstreamTimeout,
		Fallback: &http.Transport{ResponseHeaderTimeout: o.upstreamTimeout}}
	t.Cleanup(tr.CloseIdleConnections)
	// Streams go through small buffers, as in the real wiring.
	streamTr := &egress.StreamTransport{DialContext: (&net.Dialer{}).DialContext, ResponseHeaderTimeout: o.upstreamTimeout}
	reg := registry.New(st, keys, nil)
	sessions := proxy.NewSessions(st)
	mgr := oauth.New(oauth.Config{Store: st, Sealer: keys, Credentials: regCreds{reg},
		HTTPClient: &http.Client{Timeout: 10 * time.Second}, PublicURL: "http://gateway.invalid", Logger: log,
		LinkKey: []byte("0123456789abcdef0123456789abcdef"), WorkloadIdentityTokenFile: o.workloadToken})
	promReg := prometheus.NewRegistry()
	pol, err := policyfile.New(o.policyFile, log)
	if err != nil {
		t.Fatal(err)
	}
	if o.auditInterval == 0 {
		o.auditInterval = 10 * time.Millisecond
	}
	aw, err := audit.NewWriter(audit.Options{Store: st, Logger: log, FlushInterval: o.auditInterval})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { aw.Close(context.Background()) })
	g := &gateway{t: t, logs: logs, logMu: &lw.mu, store: st, auditor: aw}
	h := httpapi.New(httpapi.Deps{
		Store: st, Registry: reg, Grants: grants.New(st, o.now, log), Sessions: sessions, OAuth: mgr,
		Policy: pol,
		Proxy: proxy.New(proxy.Options{Transport: tr, StreamTransport: streamTr, Credentials: mgr, Sessions: sessions, MaxBodyBytes: o.maxBody,
			Policy: pol, Auditor: aw,
			Observer: telemetry.New(promReg, log), Logger: log}),
		AdminToken: adminToken, Gatherer: promReg, Logger: log, Now: o.now,
		Rotator: rotation.New(st, keys),
	})
	g.srv = httptest.NewServer(h)
	t.Cleanup(g.srv.Close)
	origins, err := httpapi.NewOriginPolicy(g.srv.URL, nil, g.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	h.Origins = origins
	g.handler = h
	return g
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// logText returns what the gateway logged so far.
func (g *gateway) logText() string {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	return g.logs.String()
}

// admin calls the admin API and decodes the answer into out (if not nil).
func (g *gateway) admin(method, path string, in, out any) int {
	g.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, g.srv.URL+path, body)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			g.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

func (g *gateway) addServer(name, url string, headers map[string]string) {
	g.t.Helper()
	if code := g.admin("POST", "/api/v1/servers", adminapi.CreateServerRequest{Name: name, URL: url, Headers: headers}, nil); code != http.StatusCreated {
		g.t.Fatalf("add server %s: status %d", name, code)
	}
}

func (g *gateway) grant(user string, ttl string, servers ...string) adminapi.CreatedGrant {
	g.t.Helper()
	var out adminapi.CreatedGrant
	if code := g.admin("POST", "/api/v1/grants", adminapi.CreateGrantRequest{User: user, Servers: servers, TTL: ttl}, &out); code != http.StatusCreated {
		g.t.Fatalf("create grant: status %d", code)
	}
	return out
}

func (g *gateway) revoke(id string) {
	g.t.Helper()
	if code := g.admin("POST", "/api/v1/grants/"+id+"/revoke", nil, nil); code != http.StatusOK {
		g.t.Fatalf("revoke: status %d", code)
	}
}

func (g *gateway) mcpURL(server string) string { return g.srv.URL + "/mcp/" + server }

// post sends a raw JSON-RPC body with the given headers.
func (g *gateway) post(server, token, body string, hdr map[string]string) *http.Response {
	g.t.Helper()
	req, _ := http.NewRequest("POST", g.mcpURL(server), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// rpcError decodes a JSON-RPC error body.
func rpcError(t *testing.T, resp *http.Response) (code int, msg string) {
	t.Helper()
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("body %q is not a JSON-RPC error: %v", b, err)
	}
	return e.Error.Code, e.Error.Message
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

// forEachStore runs f once per store backend.
func forEachStore(t *testing.T, f func(t *testing.T, postgres bool)) {
	for _, pg := range []bool{false, true} {
		name := "sqlite"
		if pg {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) { f(t, pg) })
	}
}

type regCreds struct{ reg *registry.Registry }

func (r regCreds) OAuthClient(ctx context.Context, server string) (oauth.PreRegistered, error) {
	c, err := r.reg.OAuthClient(ctx, server)
	return oauth.PreRegistered{ClientID: c.ID, Secret: c.Secret, AuthMethod: c.AuthMethod, Scopes: c.Scopes}, err
}
