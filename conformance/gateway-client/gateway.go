package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	readyTimeout = 20 * time.Second // many gateways start at once when the suite runs in parallel
	stopGrace    = 3 * time.Second  // SIGTERM until SIGKILL
	adminTimeout = 15 * time.Second // one admin API call (connecting includes upstream discovery)
)

// gateway is one mcpgate process started for one scenario.
type gateway struct {
	BaseURL    string // http://127.0.0.1:PORT, also its public URL
	adminToken string
	dataDir    string
	cmd        *exec.Cmd
	done       chan struct{}
	waitErr    error
	hc         *http.Client
	stopOnce   sync.Once
}

// gatewayBinary finds the mcpgate executable: $MCPGATE_BIN, else an mcpgate
// next to this program (scripts/conformance-client.sh builds both into one
// directory).
func gatewayBinary() (string, error) {
	if p := os.Getenv("MCPGATE_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("MCPGATE_BIN: %w", err)
		}
		return p, nil
	}
	self, err := os.Executable()
	if err == nil {
		p := filepath.Join(filepath.Dir(self), "mcpgate")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no mcpgate binary: set MCPGATE_BIN or build ./cmd/mcpgate next to this program (scripts/conformance-client.sh does)")
}

// startGateway starts `mcpgate serve` on a free loopback port with a fresh
// data directory and waits until /readyz answers 200. Its output goes to
// logw, each line prefixed.
func startGateway(ctx context.Context, logw io.Writer, env []string) (*gateway, error) {
	bin, err := gatewayBinary()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		g, err := tryStart(ctx, bin, logw, env)
		if err == nil {
			return g, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, lastErr
}

var errPortTaken = errors.New("port taken")

func tryStart(ctx context.Context, bin string, logw io.Writer, env []string) (*gateway, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp("", "mcpgate-conformance-client-")
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	g := &gateway{
		BaseURL:    "http://" + addr,
		adminToken: randomHex(32),
		dataDir:    dataDir,
		done:       make(chan struct{}),
		hc:         &http.Client{Timeout: adminTimeout},
	}
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data-dir", dataDir)
	cmd.Env = append(environWithout("MCPGATE_"),
		// The suite's mock servers listen on localhost, which may resolve to
		// either loopback address.
		"MCPGATE_EGRESS_ALLOW=127.0.0.0/8,::1/128",
		"MCPGATE_ADMIN_TOKEN="+g.adminToken,
		"MCPGATE_PUBLIC_URL="+g.BaseURL,
		"MCPGATE_SHUTDOWN_TIMEOUT=1s",
		"MCPGATE_LOG_LEVEL="+envOr("MCPGATE_CONFORMANCE_LOG_LEVEL", "debug"),
	)
	cmd.Env = append(cmd.Env, env...)
	out := &portWatch{w: &prefixWriter{prefix: "[mcpgate] ", w: logw}}
	cmd.Stdout, cmd.Stderr = out, out
	// Never outlive this program, even when it is killed outright (the
	// suite kills a client that runs past its timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = stopGrace
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	g.cmd = cmd
	go func() {
		g.waitErr = cmd.Wait()
		close(g.done)
	}()

	deadline := time.Now().Add(readyTimeout)
	probe := &http.Client{Timeout: 2 * time.Second}
	for {
		if g.answers(ctx, probe) {
			return g, nil
		}
		select {
		case <-g.done:
			g.stop()
			if out.taken() {
				return nil, errPortTaken
			}
			return nil, fmt.Errorf("mcpgate exited before it was ready: %v", g.waitErr)
		case <-ctx.Done():
			g.stop()
			return nil, fmt.Errorf("mcpgate not ready: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.stop()
			return nil, fmt.Errorf("mcpgate not ready after %v", readyTimeout)
		}
	}
}

// answers reports whether the gateway at g.BaseURL is ready and is this
// one. The port came from freePort, so until this gateway has bound it a
// sibling scenario's gateway may hold it: that one is ready too but refuses
// this gateway's admin token, and this one will exit with "address already
// in use".
func (g *gateway) answers(ctx context.Context, probe *http.Client) bool {
	resp, err := probe.Get(g.BaseURL + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.BaseURL+"/api/v1/servers", nil)
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+g.adminToken)
	resp, err = probe.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop ends the gateway (SIGTERM, then SIGKILL) and removes its data.
func (g *gateway) stop() {
	g.stopOnce.Do(func() {
		if g.cmd != nil && g.cmd.Process != nil {
			select {
			case <-g.done:
			default:
				_ = g.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-g.done:
				case <-time.After(stopGrace):
					_ = g.cmd.Process.Kill()
					<-g.done
				}
			}
		}
		os.RemoveAll(g.dataDir)
	})
}

// MCPURL is the gateway's MCP endpoint for server.
func (g *gateway) MCPURL(server string) string { return g.BaseURL + "/mcp/" + server }

// apiError is an admin API error answer.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("admin API: HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// admin calls the admin API with a JSON body and decodes a JSON answer into
// out (if not nil). It returns the HTTP status.
func (g *gateway) admin(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.BaseURL+"/api/v1"+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+g.adminToken)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		json.Unmarshal(raw, &e)
		if e.Error.Message == "" {
			e.Error.Message = strings.TrimSpace(string(raw))
		}
		return resp.StatusCode, &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("admin API %s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// environWithout is this process's environment minus variables starting
// with prefix, so that a developer's own MCPGATE_* settings cannot leak into
// the gateway under test.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

// prefixWriter writes each line with a prefix.
type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	w      io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// portWatch passes output on and notices "address already in use".
type portWatch struct {
	mu   sync.Mutex
	w    io.Writer
	seen bool
	tail []byte
}

func (p *portWatch) Write(b []byte) (int, error) {
	p.mu.Lock()
	p.tail = append(p.tail, b...)
	if bytes.Contains(p.tail, []byte("address already in use")) {
		p.seen = true
	}
	if len(p.tail) > 256 {
		p.tail = p.tail[len(p.tail)-64:]
	}
	p.mu.Unlock()
	return p.w.Write(b)
}

func (p *portWatch) taken() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}
