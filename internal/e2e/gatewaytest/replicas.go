package gatewaytest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/adminclient"
)

// This file holds what chaos tests need on top of StartGateway and
// StartUpstream: killing processes the way a crash does, restarting an
// upstream on the same address, starting replicas at the same instant and
// running a gateway that is expected to refuse to start.

// Kill ends the gateway with SIGKILL, as `kill -9` or a crash would: no
// shutdown, its connections are reset and anything it held (a refresh lease,
// a LISTEN connection) is abandoned. It returns once the process has exited.
// The cleanup registered by StartGateway finds nothing left to stop and
// still dumps the output if the test failed.
func (g *Gateway) Kill(t testing.TB) {
	t.Helper()
	if g.proc.exited() {
		return
	}
	if err := g.proc.cmd.Process.Kill(); err != nil && !g.proc.exited() {
		t.Fatalf("kill -9 %s: %v", g.BaseURL, err)
	}
	select {
	case <-g.proc.done:
	case <-time.After(stopGrace):
		t.Fatalf("%s (pid %d) still running %v after SIGKILL", g.BaseURL, g.proc.cmd.Process.Pid, stopGrace)
	}
}

// Exited reports whether the gateway process has exited.
func (g *Gateway) Exited() bool { return g.proc.exited() }

// Pid is the gateway's process id.
func (g *Gateway) Pid() int { return g.proc.cmd.Process.Pid }

// gatewayCommand is the command StartGateway runs for g on port (kept in
// step with it).
func gatewayCommand(bins Binaries, g *Gateway, opts *Options, port int) *exec.Cmd {
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
}

func newGateway(t testing.TB, bins Binaries, opts *Options) *Gateway {
	g := &Gateway{AdminToken: opts.AdminToken, DataDir: opts.DataDir, Bin: bins.Gateway}
	if g.AdminToken == "" {
		g.AdminToken = randomHex(t, 32)
	}
	if g.DataDir == "" {
		g.DataDir = t.TempDir()
	}
	return g
}

func readyzOK(hc *http.Client, port int) bool {
	resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// StartGateways starts one gateway per Options at the same instant: every
// process is launched before any is waited for, so that, for example,
// replicas on a fresh PostgreSQL schema race to migrate it. It returns when
// all answer GET /readyz with 200, and fails the test if any does not within
// the usual start timeout. Each is stopped in t.Cleanup like StartGateway's.
func StartGateways(t testing.TB, opts ...*Options) []*Gateway {
	t.Helper()
	bins := Build(t)
	hc := &http.Client{Timeout: 2 * time.Second}
	gws := make([]*Gateway, len(opts))
	procs := make([]*process, len(opts))
	ports := make([]int, len(opts))
	for i, o := range opts {
		if o == nil {
			o = &Options{}
		}
		gws[i] = newGateway(t, bins, o)
		ports[i] = freePort(t)
		p, err := startProcess(fmt.Sprintf("mcpgate#%d", i), gatewayCommand(bins, gws[i], o, ports[i]))
		if err != nil {
			t.Fatal(err)
		}
		procs[i] = p
		p.stopInCleanup(t)
	}
	errs := make([]error, len(opts))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() {
			errs[i] = waitUntil(p, readyTimeout, func() bool { return readyzOK(hc, ports[i]) })
		})
	}
	wg.Wait()
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Sprintf("gateway #%d: %v\n---- output ----\n%s", i, err, procs[i].out.String()))
		}
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d gateways started at once did not come up:\n%s", len(failed), len(opts), strings.Join(failed, "\n"))
	}
	for i, g := range gws {
		g.proc = procs[i]
		g.BaseURL = fmt.Sprintf("http://127.0.0.1:%d", ports[i])
		g.admin = adminclient.New(g.BaseURL, g.AdminToken, &http.Client{Timeout: adminTimeout})
	}
	return gws
}

// RunGateway runs `mcpgate serve` with opts when it is expected to refuse
// to start: it waits up to timeout for the process to exit and returns its
// exit code and output. A gateway that is still running at the deadline (or
// that became ready) is killed and fails the test.
func RunGateway(t testing.TB, opts *Options, timeout time.Duration) (code int, output string) {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	bins := Build(t)
	g := newGateway(t, bins, opts)
	port := freePort(t)
	p, err := startProcess("mcpgate (expected to refuse to start)", gatewayCommand(bins, g, opts, port))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		ready := readyzOK(&http.Client{Timeout: time.Second}, port)
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("the gateway was still running %v after start (ready: %v), want it to refuse to start; output:\n%s", timeout, ready, p.out.String())
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		code = 0
	case errors.As(p.err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("wait for the gateway: %v", p.err)
	}
	return code, p.out.String()
}

// Upstream is an everything-server process that can be restarted on the
// same address, which loses every session it held.
type Upstream struct {
	// URL is the MCP endpoint, as StartUpstream returns it.
	URL string

	port      int
	stateless bool
	proc      *process
}

// StartUpstreamProcess is StartUpstream with a handle for Restart.
func StartUpstreamProcess(t testing.TB, stateless bool) *Upstream {
	t.Helper()
	bins := buildAll(t)
	u := &Upstream{stateless: stateless}
	u.proc, u.port = startOnFreePort(t, u.name(), func(port int) *exec.Cmd { return u.command(bins, port) }, dialable)
	u.URL = fmt.Sprintf("http://127.0.0.1:%d/mcp", u.port)
	return u
}

func (u *Upstream) name() string { return fmt.Sprintf("everything-server(stateless=%v)", u.stateless) }

func (u *Upstream) command(bins Binaries, port int) *exec.Cmd {
	return exec.Command(bins.Upstream, "-http", "127.0.0.1:"+strconv.Itoa(port), "-stateless="+strconv.FormatBool(u.stateless))
}

func dialable(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Restart kills the upstream with SIGKILL and starts a new one on the same
// port: the URL stays valid, every session the old process held is gone.
func (u *Upstream) Restart(t testing.TB) {
	t.Helper()
	u.proc.cmd.Process.Kill()
	select {
	case <-u.proc.done:
	case <-time.After(stopGrace):
		t.Fatalf("%s still running %v after SIGKILL", u.name(), stopGrace)
	}
	bins := buildAll(t)
	var lastErr error
	// The port was ours a moment ago; binding it again may need a moment.
	for attempt := 0; attempt < 20; attempt++ {
		p, err := startProcess(u.name(), u.command(bins, u.port))
		if err != nil {
			t.Fatal(err)
		}
		err = waitUntil(p, readyTimeout, func() bool { return dialable(u.port) })
		if err == nil {
			p.stopInCleanup(t)
			u.proc = p
			return
		}
		p.stop()
		lastErr = fmt.Errorf("%w\n---- output ----\n%s", err, p.out.String())
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("restart %s on port %d: %v", u.name(), u.port, lastErr)
}
