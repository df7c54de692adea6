// Package gatewaytest runs real processes for end-to-end tests: the mcpgate
// binary built from ./cmd/mcpgate and the Go MCP SDK's conformance
// everything-server as an upstream. Nothing is mocked: each Gateway is a
// separate process on a free loopback port with its own data directory,
// configured through its admin API, and stopped in t.Cleanup, which also
// dumps its output when the test failed.
//
// Typical use:
//
//	func TestMain(m *testing.M) { gatewaytest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		upstream := gatewaytest.StartUpstream(t, false) // stateful
//		gw := gatewaytest.StartGateway(t, nil)
//		gw.AddServer(t, "everything", upstream)
//		id, token := gw.CreateGrant(t, "alice", "everything")
//		// connect a client to gw.URL("everything") with "Bearer "+token …
//		gw.RevokeGrant(t, id)
//	}
//
// Binaries are built once per test binary (Build) into a temporary directory
// that Main removes. Every wait is bounded. When something the tests need is
// missing (Node.js, npm), Unavailable fails the test under CI=true and skips
// it, loudly, elsewhere.
package gatewaytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/adminclient"
)

// Timeouts. Everything a test waits for is bounded by one of these.
const (
	buildTimeout   = 5 * time.Minute  // cold builds of the gateway (SQLite) are slow on 2 cores
	readyTimeout   = 20 * time.Second // process start until it answers
	stopGrace      = 5 * time.Second  // SIGTERM until SIGKILL
	adminTimeout   = 10 * time.Second // one admin API call
	upstreamModule = "github.com/modelcontextprotocol/go-sdk/conformance/everything-server"
)

// InCI reports whether the tests run in CI (CI=true), where a missing
// dependency is a failure rather than a reason to skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable reports that something the test needs cannot run here: it
// fails the test in CI and skips it elsewhere, with the reason in capitals so
// a local run does not pass silently.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("CANNOT RUN (CI=true, so this fails): %s", msg)
	}
	t.Skipf("SKIPPED, CANNOT RUN HERE (would fail under CI=true): %s", msg)
}

// RepoRoot returns the directory holding the module's go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/mcpgate/mcpgate\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod of github.com/mcpgate/mcpgate above the working directory")
		}
		dir = parent
	}
}

// Binaries are the paths of the built executables.
type Binaries struct {
	Gateway  string // mcpgate
	Upstream string // the Go SDK conformance everything-server
}

var (
	buildMu   sync.Mutex
	buildDone bool
	buildDir  string
	built     Binaries
	buildErr  error
	// gatewayErr is set when ./cmd/mcpgate does not build; the upstream
	// alone is still usable then.
	gatewayErr error
)

// Main runs the tests and removes the build directory afterwards. Use it as
// the body of TestMain in every package that calls Build.
func Main(m *testing.M) {
	code := m.Run()
	buildMu.Lock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	buildMu.Unlock()
	os.Exit(code)
}

// Build builds mcpgate (./cmd/mcpgate) and the everything-server once per
// test binary and returns their paths. Under -race both are built with
// -race: that reuses what the test build compiled, and a data race in the
// gateway fails the test that stops it.
func Build(t testing.TB) Binaries {
	t.Helper()
	b := buildAll(t)
	if gatewayErr != nil {
		t.Fatalf("build the gateway: %v", gatewayErr)
	}
	return b
}

// buildAll runs the builds once; the upstream must build, the gateway may
// fail to (gatewayErr).
func buildAll(t testing.TB) Binaries {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if !buildDone {
		buildDone = true
		built, buildErr = build(RepoRoot(t))
	}
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return built
}

func build(root string) (Binaries, error) {
	dir, err := os.MkdirTemp("", "mcpgate-e2e-bin-")
	if err != nil {
		return Binaries{}, err
	}
	buildDir = dir
	b := Binaries{
		Gateway:  filepath.Join(dir, "mcpgate"),
		Upstream: filepath.Join(dir, "everything-server"),
	}
	targets := [][2]string{{b.Upstream, upstreamModule}, {b.Gateway, "./cmd/mcpgate"}}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	// The builds share the build cache; running them side by side is faster
	// than one after the other.
	var wg sync.WaitGroup
	errs := make([]error, len(targets))
	for i, target := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"build", "-o", target[0]}
			if raceEnabled {
				args = append(args, "-race")
			}
			cmd := exec.CommandContext(ctx, "go", append(args, target[1])...)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build %s: %v\n%s", target[1], err, out)
			}
		}()
	}
	wg.Wait()
	if errs[0] != nil {
		return Binaries{}, errs[0]
	}
	gatewayErr = errs[1]
	return b, nil
}

// syncBuffer is a bytes.Buffer safe for the process's writer goroutine and
// the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// process is one child process with its combined output captured.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

func startProcess(name string, cmd *exec.Cmd) (*process, error) {
	p := &process{name: name, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	cmd.WaitDelay = stopGrace
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after stopGrace. It reports whether the
// process needed the kill.
func (p *process) stop() (killed bool) {
	if p.exited() {
		return false
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return false
	case <-time.After(stopGrace):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(stopGrace):
	}
	return true
}

// stopInCleanup registers the stop of p and the dump of its output when the
// test failed.
func (p *process) stopInCleanup(t testing.TB) {
	t.Cleanup(func() {
		killed := p.stop()
		if killed {
			t.Logf("%s did not exit within %v of SIGTERM and was killed", p.name, stopGrace)
		}
		if strings.Contains(p.out.String(), "WARNING: DATA RACE") {
			t.Errorf("%s (built with -race) reported a data race", p.name)
		}
		if t.Failed() {
			t.Logf("---- output of %s (%s) ----\n%s---- end of %s output ----", p.name, strings.Join(p.cmd.Args, " "), p.out.String(), p.name)
		}
	})
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitUntil polls ready until it returns true, the process exits or the
// deadline passes.
func waitUntil(p *process, timeout time.Duration, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if ready() {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready (%v)", p.name, p.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v", p.name, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startOnFreePort starts a process on a free port, retrying when the port
// was taken between choosing and binding it.
func startOnFreePort(t testing.TB, name string, mk func(port int) *exec.Cmd, ready func(port int) bool) (*process, int) {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		p, err := startProcess(name, mk(port))
		if err != nil {
			t.Fatal(err)
		}
		err = waitUntil(p, readyTimeout, func() bool { return ready(port) })
		if err == nil {
			p.stopInCleanup(t)
			return p, port
		}
		p.stop()
		lastErr = fmt.Errorf("%w\n---- output of %s ----\n%s", err, name, p.out.String())
		if !strings.Contains(p.out.String(), "address already in use") {
			break
		}
	}
	t.Fatalf("start %s: %v", name, lastErr)
	return nil, 0
}

// StartUpstream starts the everything-server on a free loopback port and
// returns its MCP endpoint URL. stateless selects the server's stateless
// Streamable HTTP mode (no Mcp-Session-Id); false gives legacy sessions.
func StartUpstream(t testing.TB, stateless bool) string {
	t.Helper()
	bins := buildAll(t)
	_, port := startOnFreePort(t, fmt.Sprintf("everything-server(stateless=%v)", stateless),
		func(port int) *exec.Cmd {
			return exec.Command(bins.Upstream, "-http", "127.0.0.1:"+strconv.Itoa(port), "-stateless="+strconv.FormatBool(stateless))
		},
		func(port int) bool {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
			if err != nil {
				return false
			}
			c.Close()
			return true
		})
	// The server answers MCP on every path.
	return fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
}

// Options adjust a gateway. The zero value (or nil) is a gateway on a free
// loopback port, a fresh data directory and a random admin token, allowed to
// dial loopback upstreams.
type Options struct {
	// Env adds or overrides environment variables (KEY=VALUE) of the gateway.
	Env []string
	// Args are appended to `mcpgate serve --addr … --data-dir …`.
	Args []string
	// DataDir reuses a data directory (to restart a gateway on the same
	// state); empty means a new t.TempDir().
	DataDir string
	// AdminToken is the admin token to use (for several gateways sharing
	// one store); empty means a random one.
	AdminToken string
	// PublicURL overrides MCPGATE_PUBLIC_URL (default http://<addr>), e.g.
	// to give several gateways sharing one store the same public URL, as
	// replicas behind one load balancer have.
	PublicURL string
}

// Gateway is a running mcpgate process.
type Gateway struct {
	// BaseURL is http://127.0.0.1:PORT, also the public URL.
	BaseURL string
	// AdminToken authenticates admin API calls.
	AdminToken string
	// DataDir is the gateway's data directory.
	DataDir string
	// Bin is the mcpgate executable, for CLI calls.
	Bin string
	// PublicURL is the gateway's MCPGATE_PUBLIC_URL (BaseURL unless
	// Options.PublicURL was set).
	PublicURL string

	proc  *process
	admin *adminclient.Client
}

// StartGateway starts mcpgate serve and waits until GET /readyz answers 200.
// The process is stopped in t.Cleanup; its output is logged if the test failed.
func StartGateway(t testing.TB, opts *Options) *Gateway {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	bins := Build(t)
	g := &Gateway{AdminToken: opts.AdminToken, DataDir: opts.DataDir, Bin: bins.Gateway}
	if g.AdminToken == "" {
		g.AdminToken = randomHex(t, 32)
	}
	if g.DataDir == "" {
		g.DataDir = t.TempDir()
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	p, port := startOnFreePort(t, "mcpgate",
		func(port int) *exec.Cmd {
			addr := "127.0.0.1:" + strconv.Itoa(port)
			args := append([]string{"serve", "--addr", addr, "--data-dir", g.DataDir}, opts.Args...)
			cmd := exec.Command(bins.Gateway, args...)
			publicURL := "http://" + addr
			if opts.PublicURL != "" {
				publicURL = opts.PublicURL
			}
			g.PublicURL = publicURL
			cmd.Env = append(gatewayEnv(),
				"MCPGATE_EGRESS_ALLOW=127.0.0.0/8",
				"MCPGATE_ADMIN_TOKEN="+g.AdminToken,
				"MCPGATE_PUBLIC_URL="+publicURL,
				"MCPGATE_SHUTDOWN_TIMEOUT=2s",
			)
			cmd.Env = append(cmd.Env, opts.Env...)
			return cmd
		},
		func(port int) bool {
			resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
			if err != nil {
				return false
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return false
			}
			// And this gateway: until it has bound the port, another test's
			// gateway may hold it, and that one refuses our admin token
			// (ours then exits with "address already in use").
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/api/v1/servers", port), nil)
			req.Header.Set("Authorization", "Bearer "+g.AdminToken)
			if resp, err = hc.Do(req); err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	g.proc = p
	g.BaseURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	g.admin = adminclient.New(g.BaseURL, g.AdminToken, &http.Client{Timeout: adminTimeout})
	return g
}

// gatewayEnv is the test process's environment without MCPGATE_* variables,
// so a developer's own settings cannot leak into the gateway under test.
func gatewayEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MCPGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// URL is the MCP endpoint of server through the gateway.
func (g *Gateway) URL(server string) string { return g.BaseURL + "/mcp/" + server }

// Admin returns an admin API client for the gateway.
func (g *Gateway) Admin() *adminclient.Client { return g.admin }

// Output returns what the gateway printed so far.
func (g *Gateway) Output() string { return g.proc.out.String() }

func adminCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), adminTimeout)
}

// AddServer registers an upstream server.
func (g *Gateway) AddServer(t testing.TB, name, url string) {
	t.Helper()
	ctx, cancel := adminCtx()
	defer cancel()
	if _, err := g.admin.CreateServer(ctx, adminapi.CreateServerRequest{Name: name, URL: url}); err != nil {
		t.Fatalf("add server %q (%s): %v", name, url, err)
	}
}

// CreateGrant creates a grant for user on servers and returns its id and
// its token (which the gateway shows only here).
func (g *Gateway) CreateGrant(t testing.TB, user string, servers ...string) (id, token string) {
	t.Helper()
	ctx, cancel := adminCtx()
	defer cancel()
	cg, err := g.admin.CreateGrant(ctx, adminapi.CreateGrantRequest{User: user, Servers: servers})
	if err != nil {
		t.Fatalf("create grant for %q on %v: %v", user, servers, err)
	}
	if cg.ID == "" || cg.Token == "" {
		t.Fatalf("create grant for %q on %v: answer without id or token: %+v", user, servers, cg.Grant)
	}
	return cg.ID, cg.Token
}

// RevokeGrant revokes a grant through the admin API and checks that the
// gateway reports it revoked.
func (g *Gateway) RevokeGrant(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := adminCtx()
	defer cancel()
	gr, err := g.admin.RevokeGrant(ctx, id)
	if err != nil {
		t.Fatalf("revoke grant %s: %v", id, err)
	}
	if gr.Status != adminapi.GrantRevoked {
		t.Fatalf("revoke grant %s: status %q, want %q", id, gr.Status, adminapi.GrantRevoked)
	}
}

// CLI runs the mcpgate command line (for example "grant", "revoke", ID)
// against this gateway, with MCPGATE_URL, MCPGATE_ADMIN_TOKEN and
// MCPGATE_DATA_DIR set, and returns its combined output. A non-zero exit
// fails the test.
func (g *Gateway) CLI(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.Bin, args...)
	cmd.Env = append(gatewayEnv(),
		"MCPGATE_URL="+g.BaseURL,
		"MCPGATE_ADMIN_TOKEN="+g.AdminToken,
		"MCPGATE_DATA_DIR="+g.DataDir,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mcpgate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
