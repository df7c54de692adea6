package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/egress"
	"github.com/mcpgate/mcpgate/internal/grants"
	"github.com/mcpgate/mcpgate/internal/httpapi"
	"github.com/mcpgate/mcpgate/internal/oauth"
	"github.com/mcpgate/mcpgate/internal/policy"
	"github.com/mcpgate/mcpgate/internal/policyfile"
	"github.com/mcpgate/mcpgate/internal/proxy"
	"github.com/mcpgate/mcpgate/internal/registry"
	"github.com/mcpgate/mcpgate/internal/rotation"
	"github.com/mcpgate/mcpgate/internal/seal"
	"github.com/mcpgate/mcpgate/internal/store/postgres"
	"github.com/mcpgate/mcpgate/internal/store/sqlite"
	"github.com/mcpgate/mcpgate/internal/telemetry"
)

// App is a fully wired gateway. Tests boot it in-process with NewApp and Run.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	store    mcpgate.Store
	grants   *grants.Service
	registry *registry.Registry
	oauth    *oauth.Manager
	sessions *proxy.Sessions
	proxy    *proxy.Proxy
	handler  *httpapi.Handler
	listener net.Listener
	// audit records policy decisions; the proxy calls a.audit.Record.
	audit  *audit.Writer
	policy *policyfile.Loader
}

// NewApp opens the data dir, the key, the store and binds the listener.
// stdout receives the one-time bootstrap admin token.
func NewApp(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) (_ *App, err error) {
	a := &App{cfg: cfg, log: log}
	defer func() {
		if err != nil && a.audit != nil {
			a.audit.Close(context.Background())
		}
		if err != nil && a.store != nil {
			a.store.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	keyring, err := loadKeyring(cfg)
	if err != nil {
		return nil, err
	}
	if a.store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	if err := checkSealKey(ctx, a.store, keyring); err != nil {
		return nil, err
	}
	adminToken, err := loadAdminToken(cfg, stdout)
	if err != nil {
		return nil, err
	}

	a.registry = registry.New(a.store, keyring, nil)
	reg := a.registry
	declared, err := declaredServers(cfg)
	if err != nil {
		return nil, err
	}
	if err := reg.Declare(ctx, declared); err != nil {
		return nil, fmt.Errorf("config servers: %w", err)
	}

	allow, _ := cfg.EgressPrefixes()
	pooled := egress.Policy{Allow: allow}.Transport() // https upstreams (HTTP/2 where offered)
	pooled.ResponseHeaderTimeout = cfg.UpstreamTimeout
	transport := egress.Policy{Allow: allow}.InlineTransport(pooled) // cleartext HTTP/1.1 upstreams
	transport.ResponseHeaderTimeout = cfg.UpstreamTimeout
	streamTransport := egress.Policy{Allow: allow}.StreamTransport()
	streamTransport.ResponseHeaderTimeout = cfg.UpstreamTimeout

	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if a.audit, err = newAuditWriter(cfg.Audit, a.store, promReg, log, stdout); err != nil {
		return nil, err
	}

	linkKey, err := loadLinkKey(ctx, a.store, keyring)
	if err != nil {
		return nil, err
	}
	oauthClient := egress.Policy{Allow: allow}.Client()
	oauthClient.Timeout = 30 * time.Second
	idp, err := identityProvider(cfg)
	if err != nil {
		return nil, err
	}
	a.oauth = oauth.New(oauth.Config{
		Store: a.store, Sealer: keyring, Credentials: serverCredentials{reg}, HTTPClient: oauthClient,
		PublicURL: cfg.PublicURL, LinkKey: linkKey, IdentityProvider: idp, Logger: log,
		WorkloadIdentityTokenFile: cfg.WorkloadIdentityTokenFile,
	})
	promReg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mcpgate_upstream_connections_in_memory",
		Help: "Upstream connections this process holds in memory, access tokens unsealed (idle ones leave after 15 minutes).",
	}, func() float64 { return float64(a.oauth.CachedConnections()) }))

	a.grants = grants.New(a.store, nil, log)
	a.sessions = proxy.NewSessions(a.store)
	// Replicas on PostgreSQL share rate windows, so that a limit holds for
	// the deployment rather than for each replica; a lone SQLite process
	// counts in memory.
	var rates policy.SharedRates
	if storeKind(cfg) == "postgres" {
		rates = a.store
	}
	if a.policy, err = loadPolicy(cfg, log, rates); err != nil {
		return nil, err
	}
	a.proxy = proxy.New(proxy.Options{
		Transport: transport, StreamTransport: streamTransport, Credentials: a.oauth, ConnectHelp: a.connectHelp,
		Policy: a.policy, Auditor: a.audit,
		Sessions: a.sessions, MaxBodyBytes: cfg.MaxBodyBytes,
		Observer: telemetry.New(promReg, log), Logger: log,
	})
	origins, err := httpapi.NewOriginPolicy(cfg.PublicURL, cfg.AllowedOrigins, cfg.Addr)
	if err != nil {
		return nil, err
	}
	a.handler = httpapi.New(httpapi.Deps{
		Store: a.store, Registry: reg, Grants: a.grants, Proxy: a.proxy, Sessions: a.sessions, OAuth: a.oauth, Policy: a.policy,
		AdminToken: adminToken, Origins: origins, Gatherer: promReg, Logger: log,
		// The meta values checkSealKey and loadLinkKey seal.
		Rotator: rotation.New(a.store, keyring, "seal_check", "connect_link_key", oauth.DPoPKeyMeta),
	})
	if a.listener, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return a, nil
}

// Addr is the bound listen address.
func (a *App) Addr() string { return a.listener.Addr().String() }

// Run serves until ctx ends, then drains: new connections are refused,
// standalone SSE streams are ended so clients reconnect elsewhere, in-flight
// requests get ShutdownTimeout to finish, and whatever remains is cut.
func (a *App) Run(ctx context.Context) error {
	defer a.store.Close()
	base, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(a.proxy.EndStreams)

	var wg sync.WaitGroup
	bg, stopBG := context.WithCancel(context.Background())
	wg.Go(func() { a.grants.RunFlusher(bg, 5*time.Second) })
	wg.Go(func() { every(bg, time.Hour, a.collectSessions) })
	if storeKind(a.cfg) == "postgres" {
		wg.Go(func() { every(bg, time.Minute, a.collectRateWindows) })
	}
	wg.Go(func() { a.oauth.Run(bg) })
	wg.Go(func() { a.policy.Watch(bg, time.Second) })
	wg.Go(func() { a.reloadOnSIGHUP(bg) })
	wg.Go(func() { a.followChanges(bg) })
	wg.Go(func() { audit.RunRetention(bg, a.store, a.cfg.Audit.Retention, a.log) })

	a.log.Info("mcpgate listening", "addr", a.Addr(), "public_url", a.cfg.PublicURL, "store", storeKind(a.cfg))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(a.listener) }()

	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		a.log.Info("shutting down", "deadline", a.cfg.ShutdownTimeout)
		a.handler.SetDraining()
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		if serr := srv.Shutdown(sctx); serr != nil {
			a.log.Warn("drain deadline passed; cutting remaining requests", "err", serr)
			// Close the connections before cancelling the handlers: a handler
			// whose upstream call is cancelled writes nothing, and on a live
			// connection that would reach the client as an empty 200.
			srv.Close()
			cancelAll()
		}
		// Detached streams (not net/http's any more) were ended by
		// EndStreams; let them write their last chunk.
		if werr := a.proxy.WaitStreams(sctx); werr != nil {
			a.log.Warn("drain deadline passed with streams still closing", "err", werr)
		}
		cancel()
		err = <-errc
	}
	stopBG()
	wg.Wait()
	a.closeAudit() // the server has drained: nothing records any more
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// every calls f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}

// collectSessions removes week-old session bindings (run hourly).
func (a *App) collectSessions(ctx context.Context) {
	if n, err := a.store.DeleteSessionsBefore(ctx, time.Now().Add(-7*24*time.Hour)); err != nil {
		a.log.Warn("session cleanup failed", "err", err)
	} else if n > 0 {
		a.log.Info("removed old session bindings", "count", n)
	}
}

// collectRateWindows removes ended rate windows (run every minute: a 10/s
// rule opens a window per key every second).
func (a *App) collectRateWindows(ctx context.Context) {
	if _, err := a.store.DeleteRatesBefore(ctx, time.Now().Add(-time.Second)); err != nil {
		a.log.Warn("rate window cleanup failed", "err", err)
	}
}

func storeKind(cfg config.Config) string {
	if cfg.Store.DSN.IsSet() {
		return "postgres"
	}
	return "sqlite"
}

func openStore(ctx context.Context, cfg config.Config) (mcpgate.Store, error) {
	if cfg.Store.DSN.IsSet() {
		// The DSN may come from {env} or {file}: resolve it, never ignore it.
		dsn, err := cfg.Store.DSN.Resolve(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("store dsn: %w", err)
		}
		st, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres store: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "mcpgate.db"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	return st, nil
}

func loadKeyring(cfg config.Config) (*seal.Keyring, error) {
	switch {
	case cfg.SealKey.IsSet():
		v, err := cfg.SealKey.Resolve(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("seal key: %w", err)
		}
		primary, older, err := seal.ParseKeyFile([]byte(strings.ReplaceAll(v, ",", "\n")))
		if err != nil {
			return nil, fmt.Errorf("MCPGATE_SEAL_KEY: %w", err)
		}
		return seal.NewKeyring(primary, older...)
	case cfg.SealKeyFile != "":
		data, err := os.ReadFile(cfg.SealKeyFile)
		if err != nil {
			return nil, fmt.Errorf("seal key file: %w", err)
		}
		primary, older, err := seal.ParseKeyFile(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.SealKeyFile, err)
		}
		return seal.NewKeyring(primary, older...)
	}
	k, _, err := seal.LoadOrCreateKeyring(filepath.Join(cfg.DataDir, "seal.key"))
	return k, err
}

// checkSealKey refuses to start with a key that cannot open what the store
// was sealed with: better no gateway than one that writes unreadable secrets.
func checkSealKey(ctx context.Context, st mcpgate.Store, k *seal.Keyring) error {
	const key = "seal_check"
	aad := []byte("meta/" + key)
	sealed, err := k.Seal([]byte("mcpgate"), aad)
	if err != nil {
		return err
	}
	stored, err := st.PutMetaIfAbsent(ctx, key, base64.StdEncoding.EncodeToString(sealed))
	if err != nil {
		return fmt.Errorf("seal key check: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(stored)
	if err == nil {
		_, err = k.Open(raw, aad)
	}
	if err != nil {
		id, _ := k.KeyID(raw)
		return fmt.Errorf("the sealing key does not match this database (its secrets were sealed with key id %q; this gateway has %s): refusing to start; provide the right MCPGATE_SEAL_KEY / MCPGATE_SEAL_KEY_FILE", id, k.PrimaryID())
	}
	return nil
}

// loadAdminToken returns the configured admin token, or the one in the data
// dir, or creates one there and prints it once.
func loadAdminToken(cfg config.Config, stdout io.Writer) (string, error) {
	if cfg.AdminToken.IsSet() {
		v, err := cfg.AdminToken.Resolve(os.Getenv)
		if err != nil {
			return "", fmt.Errorf("admin token: %w", err)
		}
		if len(v) < 16 {
			return "", errors.New("admin token: use at least 16 characters")
		}
		return v, nil
	}
	path := filepath.Join(cfg.DataDir, "admin-token")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("admin token: %w", err)
	}
	var raw [32]byte
	rand.Read(raw[:])
	tok := "mcpga_" + base64.RawURLEncoding.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("admin token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	fmt.Fprintf(stdout, "Bootstrap admin token (shown once; also saved to %s):\n  %s\n", path, tok)
	return tok, nil
}

func declaredServers(cfg config.Config) ([]registry.Input, error) {
	var out []registry.Input
	for _, s := range cfg.Servers {
		in := registry.Input{Name: s.Name, URL: s.URL, Headers: map[string]string{}, Source: mcpgate.SourceConfig}
		for k, v := range s.Headers {
			val, err := v.Resolve(os.Getenv)
			if err != nil {
				return nil, fmt.Errorf("server %q header %q: %w", s.Name, k, err)
			}
			in.Headers[k] = val
		}
		if s.OAuth != nil {
			in.OAuthClientID = s.OAuth.ClientID
			in.OAuthAuthMethod, in.OAuthScopes = s.OAuth.AuthMethod, s.OAuth.Scopes
			if s.OAuth.ClientSecret.IsSet() {
				v, err := s.OAuth.ClientSecret.Resolve(os.Getenv)
				if err != nil {
					return nil, fmt.Errorf("server %q oauth client secret: %w", s.Name, err)
				}
				in.OAuthClientSecret = v
			}
			if s.OAuth.PrivateKey.IsSet() {
				v, err := s.OAuth.PrivateKey.Resolve(os.Getenv)
				if err != nil {
					return nil, fmt.Errorf("server %q oauth private key: %w", s.Name, err)
				}
				in.OAuthPrivateKey = v
			}
		}
		out = append(out, in)
	}
	return out, nil
}
