package gatewaytest

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// Page is an HTTP answer a browser would show.
type Page struct {
	Status      int
	ContentType string
	Location    string // the redirect target, for 3xx answers
	Body        string
}

// noRedirects is a client that returns redirects instead of following them,
// as a headless "browser" must to see each hop.
var noRedirects = &http.Client{
	Timeout:       adminTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Open GETs u without following redirects.
func Open(t testing.TB, u string) Page {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("GET %s: read body: %v", u, err)
	}
	return Page{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"),
		Location: resp.Header.Get("Location"), Body: string(body)}
}

// Authorize plays the user's browser from an authorization URL on: it opens
// authURL, which must redirect at once (an authorization server that
// approves without asking, as the test servers do), checks that the redirect
// goes to the gateway's /oauth/callback and opens it. It returns the
// callback page; the caller checks it.
func (g *Gateway) Authorize(t testing.TB, authURL string) Page {
	t.Helper()
	p := Open(t, authURL)
	if p.Status/100 != 3 || p.Location == "" {
		t.Fatalf("authorization URL %s answered %d (Location %q), want a redirect to the gateway's callback; body: %.500s",
			authURL, p.Status, p.Location, p.Body)
	}
	loc, err := url.Parse(p.Location)
	if err != nil {
		t.Fatalf("authorization redirect %q: %v", p.Location, err)
	}
	if !loc.IsAbs() {
		base, _ := url.Parse(authURL)
		loc = base.ResolveReference(loc)
	}
	if want := g.PublicURL + "/oauth/callback"; !strings.HasPrefix(loc.String(), want+"?") {
		t.Fatalf("the authorization server redirected to %s, want %s?…", loc, want)
	}
	return Open(t, loc.String())
}

// Connect runs the upstream OAuth connect flow for req headlessly: POST
// /api/v1/connections, then Authorize with the URL it answers. It fails the
// test unless the callback page says the connection is made.
func (g *Gateway) Connect(t testing.TB, req adminapi.ConnectRequest) Page {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started, conn, err := g.admin.Connect(ctx, req)
	if err != nil {
		t.Fatalf("POST /api/v1/connections %+v: %v", req, err)
	}
	if conn != nil || started == nil {
		t.Fatalf("POST /api/v1/connections %+v answered a connection at once, want an authorization URL", req)
	}
	p := g.Authorize(t, started.AuthorizationURL)
	if p.Status != http.StatusOK || !strings.HasPrefix(p.ContentType, "text/html") || !strings.Contains(p.Body, "Connected") {
		t.Fatalf("callback page: %d %s, want 200 text/html saying Connected; body: %.800s", p.Status, p.ContentType, p.Body)
	}
	return p
}

// Connections lists the gateway's upstream connections (GET /api/v1/connections).
func (g *Gateway) Connections(t testing.TB) []adminapi.Connection {
	t.Helper()
	ctx, cancel := adminCtx()
	defer cancel()
	cs, err := g.admin.ListConnections(ctx)
	if err != nil {
		t.Fatalf("GET /api/v1/connections: %v", err)
	}
	return cs
}

// Connection returns the connection of (server, user), user "" for the
// shared one, failing the test when there is none.
func (g *Gateway) Connection(t testing.TB, server, user string) adminapi.Connection {
	t.Helper()
	cs := g.Connections(t)
	for _, c := range cs {
		if c.Server == server && c.User == user {
			return c
		}
	}
	t.Fatalf("no connection of server %q for user %q among %d connections", server, user, len(cs))
	return adminapi.Connection{}
}
