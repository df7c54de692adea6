package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
)

// benchTB lets internal/oauthtest's fakes, whose constructors take a
// testing.TB, run in this program: it overrides every method they call.
// The embedded TB is nil; a method not overridden here would panic.
type benchTB struct{ testing.TB }

func (benchTB) Helper()                         {}
func (benchTB) Name() string                    { return "mcpgate-bench" }
func (benchTB) Cleanup(f func())                { addCleanup(f) }
func (benchTB) Logf(format string, args ...any) { log.Printf("oauthtest: "+format, args...) }
func (benchTB) Log(args ...any)                 { log.Print(append([]any{"oauthtest: "}, args...)...) }
func (benchTB) Errorf(format string, args ...any) {
	log.Printf("oauthtest error: "+format, args...)
}
func (benchTB) Error(args ...any) { log.Print(append([]any{"oauthtest error: "}, args...)...) }
func (benchTB) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("oauthtest fatal: "+format, args...))
}
func (benchTB) Fatal(args ...any) { panic(fmt.Sprint(append([]any{"oauthtest fatal: "}, args...)...)) }
func (benchTB) Failed() bool      { return false }
func (benchTB) TempDir() string {
	d, err := os.MkdirTemp(runDir, "oauthtest-")
	if err != nil {
		panic(err)
	}
	return d
}

var cleanups struct {
	mu sync.Mutex
	fs []func()
}

func addCleanup(f func()) {
	cleanups.mu.Lock()
	cleanups.fs = append(cleanups.fs, f)
	cleanups.mu.Unlock()
}

// runCleanups runs the registered cleanups, last first, once.
func runCleanups() {
	cleanups.mu.Lock()
	fs := cleanups.fs
	cleanups.fs = nil
	cleanups.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// stormResult is M5: expiry storms across many upstream OAuth connections.
type stormResult struct {
	users, perUser int
	ttl            time.Duration
	seedTook       time.Duration
	sessionsTook   time.Duration
	bursts         []burst // at ttl, then one with longTTL
	longTTL        time.Duration
	presented      int // refresh tokens presented at all (whole run)
	maxPresented   int // the most any one refresh token was presented
	multi          int // refresh tokens presented more than once
	reuse          int
	tokenErrors    int
	// Between bursts: the gateway's background sweeper refreshes every
	// connection at 75% (±5%) of its token's lifetime, used or not.
	idleTime       time.Duration
	idleRefreshes  int
	idleGatewayCPU time.Duration
	err            error
}

// burst is one storm: every user calls at once on expired tokens.
type burst struct {
	ttl                    time.Duration // access-token lifetime in force
	calls, failed          int
	errs                   []string
	took                   time.Duration // start → last answer
	refreshes              int           // successful refresh_token grants at the provider
	upstream401            int
	gatewayCPU, harnessCPU time.Duration
	foreign                time.Duration
	lat                    []time.Duration
}

// stormCallsPerUser is how many calls each user makes at once in a burst:
// two, so that every connection also has concurrent callers of its own.
const stormCallsPerUser = 2

// runStorm seeds cfg.users per-user OAuth connections through the admin
// API's connect flow against an oauthtest AuthServer with short access
// tokens and connects one session per user. Then, cfg.stormRound times, it
// waits until every access token has expired and has every user call at
// once, waiting for every answer before the next burst; a last burst runs
// after the provider switched to tokens that outlive a burst.
func runStorm(ctx context.Context, cfg config, bins binaries) *stormResult {
	r := &stormResult{users: cfg.users, perUser: stormCallsPerUser, ttl: cfg.stormTTL, longTTL: 20 * time.Second}
	defer runCleanups()
	tb := benchTB{}
	as := oauthtest.NewAuthServer(tb, oauthtest.AuthServerOptions{AccessTTL: cfg.stormTTL, RequireResource: true})
	up := oauthtest.NewProtectedMCPServer(tb, as, oauthtest.ProtectedMCPServerOptions{})
	g, err := startGateway("gateway-m5", bins.gateway)
	if err != nil {
		r.err = err
		return r
	}
	defer g.stop()
	const server = "oauth"
	if err := g.addServer(server, up.URL()); err != nil {
		r.err = err
		return r
	}

	log.Printf("M5: seeding %d per-user connections (admin API connect flow, headless authorization), access tokens of %v", cfg.users, cfg.stormTTL)
	t0 := time.Now()
	tokens := make([]string, cfg.users)
	browser := &http.Client{Timeout: adminTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := parallel(ctx, cfg.users, 8, func(i int) error {
		user := fmt.Sprintf("user%04d", i)
		if err := connectUser(ctx, g, browser, server, user); err != nil {
			return fmt.Errorf("connect %s: %w", user, err)
		}
		tok, err := g.grant(user, server)
		tokens[i] = tok
		return err
	}); err != nil {
		r.err = err
		return r
	}
	r.seedTook = time.Since(t0)

	t0 = time.Now()
	tr := &http.Transport{MaxIdleConnsPerHost: 4 * cfg.users, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpgate-bench", Version: "1.0.0"}, nil)
	sessions := make([]*mcp.ClientSession, cfg.users)
	defer func() {
		for _, cs := range sessions {
			if cs != nil {
				cs.Close()
			}
		}
	}()
	if err := parallel(ctx, cfg.users, 16, func(i int) error {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		// No standalone GET stream: 1,000 of them would only add idle
		// connections to a measurement of refreshes.
		cs, err := client.Connect(cctx, &mcp.StreamableClientTransport{
			Endpoint:             g.mcpURL(server),
			HTTPClient:           &http.Client{Transport: newBearerTransport(tokens[i], tr)},
			DisableStandaloneSSE: true,
		}, &mcp.ClientSessionOptions{ProtocolVersion: eraLegacy})
		sessions[i] = cs
		return err
	}); err != nil {
		r.err = fmt.Errorf("connect the sessions: %w", err)
		return r
	}
	r.sessionsTook = time.Since(t0)
	log.Printf("  seeded in %v, %d sessions connected in %v", r.seedTook.Round(time.Millisecond), cfg.users, r.sessionsTook.Round(time.Millisecond))

	ttls := make([]time.Duration, cfg.stormRound)
	for i := range ttls {
		ttls[i] = cfg.stormTTL
	}
	ttls = append(ttls, r.longTTL)
	for i, ttl := range ttls {
		// Every token handed out before the previous burst ended (lifetime
		// cfg.stormTTL) has expired after this wait, unless the gateway's
		// sweeper refreshed it meanwhile.
		idle := meter(g.child, nil)
		before := as.Stats().Refreshes
		time.Sleep(cfg.stormTTL + 500*time.Millisecond)
		u := idle()
		r.idleTime += cfg.stormTTL + 500*time.Millisecond
		r.idleRefreshes += as.Stats().Refreshes - before
		r.idleGatewayCPU += u.proxyCPU
		if ttl != cfg.stormTTL {
			as.SetAccessTTL(ttl)
		}
		b := stormBurst(ctx, as, up, g, sessions)
		b.ttl = ttl
		log.Printf("  burst %d (tokens of %v): %d calls, %d failed, %d refreshes in %v (gateway CPU %v, harness CPU %v, other load %v); upstream 401s %d",
			i+1, ttl, b.calls, b.failed, b.refreshes, b.took.Round(time.Millisecond), b.gatewayCPU.Round(10*time.Millisecond),
			b.harnessCPU.Round(10*time.Millisecond), b.foreign.Round(10*time.Millisecond), b.upstream401)
		r.bursts = append(r.bursts, b)
	}
	st := as.Stats()
	r.reuse, r.tokenErrors = st.ReuseDetections, st.TokenErrors
	for _, n := range as.RefreshesPerGeneration() {
		r.presented++
		r.maxPresented = max(r.maxPresented, n)
		if n > 1 {
			r.multi++
		}
	}
	log.Printf("  refresh tokens presented: %d, more than once: %d (max %d); reuse detections %d, token errors %d",
		r.presented, r.multi, r.maxPresented, r.reuse, r.tokenErrors)
	return r
}

// stormBurst has every session make stormCallsPerUser whoami calls at once
// and waits for every answer.
func stormBurst(ctx context.Context, as *oauthtest.AuthServer, up *oauthtest.ProtectedMCPServer, g *gateway, sessions []*mcp.ClientSession) burst {
	var (
		b  burst
		mu sync.Mutex
		wg sync.WaitGroup
	)
	before, upBefore := as.Stats(), up.Stats()
	stop := meter(g.child, nil)
	start := time.Now()
	for _, cs := range sessions {
		for range stormCallsPerUser {
			wg.Go(func() {
				cctx, cancel := context.WithTimeout(ctx, callTimeout)
				defer cancel()
				t := time.Now()
				res, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
				if err == nil && res.IsError {
					err = fmt.Errorf("whoami answered an error result: %s", contentText(res))
				}
				done := time.Now()
				mu.Lock()
				defer mu.Unlock()
				b.calls++
				b.lat = append(b.lat, done.Sub(t))
				b.took = max(b.took, done.Sub(start))
				if err != nil {
					b.failed++
					if len(b.errs) < 3 {
						b.errs = append(b.errs, err.Error())
					}
				}
			})
		}
	}
	wg.Wait()
	u := stop()
	b.gatewayCPU, b.harnessCPU, b.foreign = u.proxyCPU, u.harnessCPU, u.foreign
	st, upSt := as.Stats(), up.Stats()
	b.refreshes = st.Refreshes - before.Refreshes
	b.upstream401 = upSt.Unauthorized - upBefore.Unauthorized
	return b
}

// connectUser runs the admin API's connect flow for user and plays the
// browser: the authorization server approves at once and redirects to the
// gateway's callback, which must say the connection is made.
func connectUser(ctx context.Context, g *gateway, browser *http.Client, server, user string) error {
	cctx, cancel := adminCtx()
	defer cancel()
	started, conn, err := g.admin.Connect(cctx, adminapi.ConnectRequest{Server: server, User: user})
	if err != nil {
		return err
	}
	if conn != nil || started == nil {
		return fmt.Errorf("POST /api/v1/connections answered a connection at once, want an authorization URL")
	}
	loc, err := open(ctx, browser, started.AuthorizationURL, http.StatusFound)
	if err != nil {
		return err
	}
	body, err := open(ctx, browser, loc, http.StatusOK)
	if err != nil {
		return err
	}
	if !strings.Contains(body, "Connected") {
		return fmt.Errorf("the callback page does not say Connected: %.300s", body)
	}
	return nil
}

// open GETs u without following redirects and checks the status; it
// returns the redirect target for 3xx, else the body.
func open(ctx context.Context, hc *http.Client, u string, want int) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 3 && want/100 == 3 {
		loc, err := resp.Location()
		if err != nil {
			return "", fmt.Errorf("GET %s: redirect without a usable Location: %w", u, err)
		}
		return loc.String(), nil
	}
	if resp.StatusCode != want {
		return "", fmt.Errorf("GET %s: %s, want %d: %.300s", redact(u), resp.Status, want, b)
	}
	return string(b), nil
}

// redact drops the query (codes, state) from a URL for error messages.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.RawQuery = ""
	return p.String()
}
