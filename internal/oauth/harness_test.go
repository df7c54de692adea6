package oauth_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/oauth"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
	"github.com/mcpgate/mcpgate/internal/seal"
	"github.com/mcpgate/mcpgate/internal/store/sqlite"
)

// fixture is a gateway-side OAuth manager over a real SQLite store, an
// authorization server that rotates refresh tokens, and an MCP server that
// checks its tokens.
type fixture struct {
	t      *testing.T
	store  *sqlite.DB
	dbPath string
	keys   *seal.Keyring
	as     *oauthtest.AuthServer
	up     *oauthtest.ProtectedMCPServer
	mgr    *oauth.Manager
	pre    preRegistered
	logs   *bytes.Buffer
}

type preRegistered map[string]oauth.PreRegistered

func (p preRegistered) OAuthClient(_ context.Context, server string) (oauth.PreRegistered, error) {
	return p[server], nil
}

func newFixture(t *testing.T, asOpts oauthtest.AuthServerOptions, upOpts oauthtest.ProtectedMCPServerOptions) *fixture {
	t.Helper()
	f := &fixture{t: t, pre: preRegistered{}, logs: &bytes.Buffer{}}
	f.dbPath = filepath.Join(t.TempDir(), "gw.db")
	var err error
	if f.store, err = sqlite.Open(context.Background(), f.dbPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	if f.keys, err = seal.NewKeyring(seal.GenerateKey()); err != nil {
		t.Fatal(err)
	}
	f.as = oauthtest.NewAuthServer(t, asOpts)
	f.up = oauthtest.NewProtectedMCPServer(t, f.as, upOpts)
	f.addServer("upstream", f.up.URL())
	f.mgr = f.newManager("proc-1")
	return f
}

func (f *fixture) newManager(id string) *oauth.Manager {
	return oauth.New(oauth.Config{
		Store: f.store, Sealer: f.keys, Credentials: f.pre,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		PublicURL:  "https://gw.example", ProcessID: id,
		LinkKey: []byte("0123456789abcdef0123456789abcdef"),
		Logger:  slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
}

func (f *fixture) addServer(name, u string) {
	f.t.Helper()
	now := time.Now().UTC()
	if err := f.store.CreateServer(context.Background(), mcpgate.Server{Name: name, URL: u, Source: "api", CreatedAt: now, UpdatedAt: now, Version: 1}); err != nil {
		f.t.Fatal(err)
	}
}

// authorize runs the browser's part headlessly: open the authorization URL
// without following the redirect and return the callback's query.
func (f *fixture) authorize(authURL string) url.Values {
	f.t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		f.t.Fatalf("authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

// connect runs the whole flow for user ("" shared) and returns the connection.
func (f *fixture) connect(user string) mcpgate.Connection {
	f.t.Helper()
	started, err := f.mgr.Start(context.Background(), "upstream", user)
	if err != nil {
		f.t.Fatalf("start: %v", err)
	}
	c, err := f.mgr.Complete(context.Background(), f.authorize(started.AuthorizationURL))
	if err != nil {
		f.t.Fatalf("complete: %v", err)
	}
	return c
}

func (f *fixture) token(user string) (oauth.Credential, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return f.mgr.Token(ctx, "upstream", user)
}

// dbBytes is the whole database as a dump would see it.
func (f *fixture) dbBytes() []byte {
	var all []byte
	for _, suffix := range []string{"", "-wal"} {
		b, _ := os.ReadFile(f.dbPath + suffix)
		all = append(all, b...)
	}
	return all
}
