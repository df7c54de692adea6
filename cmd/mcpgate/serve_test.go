package main

// End-to-end tests of "mcpgate serve" as a user runs it: the binary is built
// once (with -race when the tests are) and started as a real process with
// its own data directory, environment and signals. Upstream MCP servers are
// small fakes served by the test process on loopback.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/adminclient"
)

// gatewayBin is the mcpgate binary, built on first use and removed by TestMain.
var gatewayBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if gatewayBin.dir != "" {
		os.RemoveAll(gatewayBin.dir)
	}
	os.Exit(code)
}

// raceEnabled reports whether this test binary was built with -race, so the
// gateway under test can be too.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// binary returns the path of the mcpgate binary, building it the first time.
func binary(t *testing.T) string {
	t.Helper()
	gatewayBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "mcpgate-serve-test-")
		if err != nil {
			gatewayBin.err = err
			return
		}
		gatewayBin.dir = dir
		gatewayBin.path = filepath.Join(dir, "mcpgate")
		args := []string{"build", "-o", gatewayBin.path}
		if raceEnabled() {
			args = append(args, "-race")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", append(args, ".")...).CombinedOutput()
		if err != nil {
			gatewayBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if gatewayBin.err != nil {
		t.Fatal(gatewayBin.err)
	}
	return gatewayBin.path
}

// syncBuffer collects a process's output; it is written by exec's copying
// goroutine and read by the test.
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan string // receives the listen address once, if not nil
}

// listening matches the readiness log line in text and JSON format.
var listening = regexp.MustCompile(`mcpgate listening"[ ,]"?addr"?[=:]"?([^\s",]+)`)

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.ready != nil {
		if m := listening.FindSubmatch(b.buf.Bytes()); m != nil {
			b.ready <- string(m[1])
			b.ready = nil
		}
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is one gateway process.
type proc struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	ready          chan string
	exited         chan struct{}
	code           int
	// URL is the gateway's base URL once it is ready.
	URL string
}

// baseEnv is the environment of every gateway process: the test's own minus
// any MCPGATE_* setting, loopback upstreams allowed, a short drain.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MCPGATE_") {
			env = append(env, kv)
		}
	}
	return append(env, "MCPGATE_EGRESS_ALLOW=127.0.0.0/8", "MCPGATE_SHUTDOWN_TIMEOUT=5s")
}

// start runs the binary with args; env entries (KEY=VALUE) override baseEnv.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{
		t:      t,
		cmd:    exec.Command(binary(t), args...),
		stdout: &syncBuffer{},
		ready:  make(chan string, 1),
		exited: make(chan struct{}),
	}
	p.stderr = &syncBuffer{ready: p.ready}
	p.cmd.Env = append(baseEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("the gateway reported a data race:\n%s", p.stderr)
		}
	})
	return p
}

// serve starts "mcpgate serve" on a free loopback port with dataDir and
// waits until it listens.
func serve(t *testing.T, dataDir string, env []string, args ...string) *proc {
	t.Helper()
	p := start(t, env, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, args...)...)
	select {
	case addr := <-p.ready:
		p.URL = "http://" + addr
	case <-p.exited:
		t.Fatalf("gateway exited with %d before listening; stderr:\n%s", p.code, p.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("gateway not listening after 30s; stderr:\n%s", p.stderr)
	}
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.exited
		p.t.Fatalf("gateway still running after %v; killed. stderr:\n%s", timeout, p.stderr)
		return -1
	}
}

// signal sends SIGTERM.
func (p *proc) terminate() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
}

// stop sends SIGTERM and requires a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	p.terminate()
	if code := p.wait(15 * time.Second); code != 0 {
		p.t.Fatalf("gateway exited with %d after SIGTERM; stderr:\n%s", code, p.stderr)
	}
}

// runToExit runs the binary and waits for it to exit on its own.
func runToExit(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := start(t, env, args...)
	code = p.wait(30 * time.Second)
	return code, p.stdout.String(), p.stderr.String()
}

func (p *proc) admin(token string) *adminclient.Client {
	return adminclient.New(p.URL, token, &http.Client{Timeout: 10 * time.Second})
}

// bounded is a bounded context for one step of a test.
func bounded(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// callTool sends a tools/call for tool to server through the gateway.
func (p *proc) callTool(c context.Context, token, server, tool string) (*http.Response, string, error) {
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, tool)
	req, err := http.NewRequestWithContext(c, http.MethodPost, p.URL+"/mcp/"+server, strings.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// upstream is a fake MCP server: tools/call "echo" answers at once, "slow"
// after delay; GET opens an SSE stream that stays open.
type upstream struct {
	*httptest.Server
	delay       time.Duration
	slowStarted chan struct{} // receives when a slow call reaches the upstream
	done        chan struct{} // closed at cleanup to release held handlers

	mu      sync.Mutex
	headers []http.Header // of every POST
}

func newUpstream(t *testing.T, delay time.Duration) *upstream {
	u := &upstream{delay: delay, slowStarted: make(chan struct{}, 10), done: make(chan struct{})}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serveHTTP))
	t.Cleanup(u.Close)
	t.Cleanup(func() { close(u.done) }) // runs before Close
	return u
}

func (u *upstream) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		u.mu.Lock()
		u.headers = append(u.headers, r.Header.Clone())
		u.mu.Unlock()
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if msg.Params.Name == "slow" {
			u.slowStarted <- struct{}{}
			select {
			case <-time.After(u.delay):
			case <-r.Context().Done():
				return
			case <-u.done:
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"%s done"}]}}`, msg.ID, msg.Params.Name)
	case http.MethodGet:
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-u.done:
		}
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (u *upstream) seen() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.headers)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func serverNames(t *testing.T, c *adminclient.Client) map[string]string {
	t.Helper()
	list, err := c.ListServers(bounded(t))
	if err != nil {
		t.Fatalf("list servers: %v", err)
	}
	out := map[string]string{}
	for _, s := range list {
		out[s.Name] = s.Source
	}
	return out
}

var bootstrapToken = regexp.MustCompile(`mcpga_[A-Za-z0-9_-]{43}`)

func TestServeFirstStart(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")

	p := serve(t, dataDir, nil)
	if got := fileMode(t, dataDir); got != 0o700 {
		t.Errorf("data dir mode = %04o, want 0700", got)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "mcpgate.db")); err != nil {
		t.Errorf("no database: %v", err)
	}
	for _, name := range []string{"seal.key", "admin-token"} {
		if got := fileMode(t, filepath.Join(dataDir, name)); got != 0o600 {
			t.Errorf("%s mode = %04o, want 0600", name, got)
		}
	}
	token := strings.TrimSpace(readFile(t, filepath.Join(dataDir, "admin-token")))
	if !bootstrapToken.MatchString(token) {
		t.Fatalf("admin-token file holds %q", token)
	}
	sealKey := readFile(t, filepath.Join(dataDir, "seal.key"))

	if _, err := p.admin(token).CreateServer(bounded(t), adminapi.CreateServerRequest{
		Name: "gh", URL: "https://mcp.example.com/mcp", Headers: map[string]string{"X-Api-Key": "k"},
	}); err != nil {
		t.Fatalf("create server: %v", err)
	}
	if _, err := p.admin("mcpga_wrong").ListServers(bounded(t)); !isStatus(err, http.StatusUnauthorized) {
		t.Errorf("wrong admin token: %v, want 401", err)
	}
	p.stop()

	if n := strings.Count(p.stdout.String(), token); n != 1 || !strings.Contains(p.stdout.String(), "Bootstrap admin token") {
		t.Errorf("first start printed the admin token %d times on stdout:\n%s", n, p.stdout)
	}
	if strings.Contains(p.stderr.String(), token) {
		t.Errorf("the admin token is in the log:\n%s", p.stderr)
	}

	// Second start: same token, same key, data kept, nothing printed.
	p = serve(t, dataDir, nil)
	if got := serverNames(t, p.admin(token)); got["gh"] != "api" {
		t.Errorf("after restart, servers = %v, want gh from the API", got)
	}
	p.stop()
	if out := p.stdout.String(); out != "" {
		t.Errorf("second start printed on stdout:\n%s", out)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(dataDir, "admin-token"))); got != token {
		t.Errorf("admin token changed from %q to %q", token, got)
	}
	if got := readFile(t, filepath.Join(dataDir, "seal.key")); got != sealKey {
		t.Error("seal.key changed on restart")
	}
}

// get fetches url and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(bounded(t), http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func isStatus(err error, status int) bool {
	var apiErr *adminclient.APIError
	return errors.As(err, &apiErr) && apiErr.Status == status
}

func TestServeAdminTokenFromEnv(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	const token = "env-admin-token-0123456789abcdef"

	p := serve(t, dataDir, []string{"MCPGATE_ADMIN_TOKEN=" + token})
	if _, err := os.Stat(filepath.Join(dataDir, "admin-token")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("admin-token file written although MCPGATE_ADMIN_TOKEN is set: %v", err)
	}
	if _, err := p.admin(token).ListServers(bounded(t)); err != nil {
		t.Errorf("the configured token does not work: %v", err)
	}
	p.stop()
	if out := p.stdout.String(); out != "" {
		t.Errorf("stdout:\n%s", out)
	}
	if strings.Contains(p.stderr.String(), token) {
		t.Errorf("the admin token is in the log:\n%s", p.stderr)
	}

	code, _, stderr := runToExit(t, []string{"MCPGATE_ADMIN_TOKEN=short"}, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	if code != 1 || !strings.Contains(stderr, "admin token: use at least 16 characters") || strings.Contains(stderr, "short") {
		t.Errorf("short admin token: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestServeCheckConfig runs in-process: --check-config must not start anything.
func TestServeCheckConfig(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "MCPGATE_") {
			t.Setenv(k, "")
		}
	}
	t.Setenv("CHECK_GH_TOKEN", "Bearer gh-secret")
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const server = "servers:\n  - name: gh\n    url: https://mcp.example.com/mcp\n    headers:\n      Authorization: {env: CHECK_GH_TOKEN}\n"
	tests := []struct {
		name       string
		config     string
		env        map[string]string
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{name: "valid", config: "log: {format: json}\n" + server, wantStdout: "configuration is valid\n"},
		{name: "empty file", config: "", wantStdout: "configuration is valid\n"},
		{name: "unknown top-level key", config: "adress: 127.0.0.1:1\n", wantCode: 1,
			wantStderr: []string{"mcpgate: ", "line 1", "adress"}},
		{name: "unknown server key", config: server + "    headerz: {}\n", wantCode: 1,
			wantStderr: []string{"line 6", "headerz"}},
		{name: "bad log format", config: "log:\n  format: xml\n", wantCode: 1,
			wantStderr: []string{"invalid configuration", `log.format "xml"`}},
		{name: "bad duration", config: "shutdown_timeout: soon\n", wantCode: 1,
			wantStderr: []string{"line 1", "soon"}},
		{name: "duplicate server", config: server + strings.Replace(server, "servers:\n", "", 1), wantCode: 1,
			wantStderr: []string{`servers[1]: duplicate server name "gh"`}},
		{name: "header variable unset", config: strings.Replace(server, "CHECK_GH_TOKEN", "CHECK_UNSET", 1), wantCode: 1,
			wantStderr: []string{`server "gh" header "Authorization": environment variable CHECK_UNSET is empty or unset`}},
		{name: "bad environment", config: "", env: map[string]string{"MCPGATE_UPSTREAM_TIMEOUT": "2m30"}, wantCode: 1,
			wantStderr: []string{`MCPGATE_UPSTREAM_TIMEOUT="2m30"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			path := write(strings.ReplaceAll(tt.name, " ", "_")+".yaml", tt.config)
			r := runCLI(t, "", "serve", "--check-config", "--config", path, "--data-dir", dataDir)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			if r.stdout != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", r.stdout, tt.wantStdout)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if strings.Contains(r.stdout+r.stderr, "gh-secret") {
				t.Errorf("output reveals a secret:\n%s%s", r.stdout, r.stderr)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("--check-config touched the data dir: %v", err)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		r := runCLI(t, "", "serve", "--check-config", "--config", filepath.Join(dir, "nope.yaml"), "--data-dir", dataDir)
		if r.code != 1 || !strings.Contains(r.stderr, "nope.yaml") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("MCPGATE_CONFIG", func(t *testing.T) {
		t.Setenv("MCPGATE_CONFIG", write("env.yaml", "log: {level: loud}\n"))
		r := runCLI(t, "", "serve", "--check-config", "--data-dir", dataDir)
		if r.code != 1 || !strings.Contains(r.stderr, `log.level "loud"`) {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestServeConfigServers(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, 0)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	configPath := filepath.Join(dir, "mcpgate.yaml")
	const token = "config-admin-token-0123456789"
	env := []string{"MCPGATE_ADMIN_TOKEN=" + token, "UPSTREAM_KEY=k-from-env", "MCPGATE_CONFIG=" + configPath}
	writeConfig := func(servers ...string) {
		var b strings.Builder
		b.WriteString("servers:\n")
		for _, name := range servers {
			fmt.Fprintf(&b, "  - name: %s\n    url: %s/mcp\n    headers:\n      X-Upstream-Key: {env: UPSTREAM_KEY}\n", name, up.URL)
		}
		if err := os.WriteFile(configPath, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	writeConfig("cfg1", "cfg2")
	p := serve(t, dataDir, env)

	// "mcpgate server list" as a user runs it against the running gateway.
	code, stdout, stderr := runToExit(t, []string{"MCPGATE_URL=" + p.URL, "MCPGATE_ADMIN_TOKEN=" + token}, "server", "list", "-o", "json")
	if code != 0 {
		t.Fatalf("server list: exit %d: %s", code, stderr)
	}
	var list adminapi.ServerList
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("server list -o json: %v\n%s", err, stdout)
	}
	if len(list.Servers) != 2 {
		t.Fatalf("servers = %+v, want cfg1 and cfg2", list.Servers)
	}
	for i, name := range []string{"cfg1", "cfg2"} {
		s := list.Servers[i]
		if s.Name != name || s.Source != "config" || !slices.Equal(s.Headers, []string{"X-Upstream-Key"}) {
			t.Errorf("server %d = %+v, want %s from config with header X-Upstream-Key", i, s, name)
		}
	}
	code, stdout, _ = runToExit(t, []string{"MCPGATE_URL=" + p.URL, "MCPGATE_ADMIN_TOKEN=" + token}, "server", "list")
	if code != 0 || !regexp.MustCompile(`(?m)^cfg1 .* config `).MatchString(stdout) {
		t.Errorf("server list: exit %d:\n%s", code, stdout)
	}

	// The header value from {env: UPSTREAM_KEY} reaches the upstream; the
	// client's grant token does not.
	c := p.admin(token)
	g, err := c.CreateGrant(bounded(t), adminapi.CreateGrantRequest{User: "ann", Servers: []string{"cfg1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, body, err := p.callTool(bounded(t), g.Token, "cfg1", "echo")
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(body, "echo done") {
		t.Fatalf("tools/call through cfg1: %v %v %s", err, resp, body)
	}
	seen := up.seen()
	if len(seen) != 1 || seen[0].Get("X-Upstream-Key") != "k-from-env" || seen[0].Get("Authorization") != "" {
		t.Errorf("upstream saw headers %v", seen)
	}

	if _, err := c.CreateServer(bounded(t), adminapi.CreateServerRequest{Name: "api1", URL: up.URL + "/mcp"}); err != nil {
		t.Fatal(err)
	}
	p.stop()

	// cfg2 leaves the file: it leaves the gateway; the API's server stays.
	writeConfig("cfg1")
	p = serve(t, dataDir, env)
	want := map[string]string{"cfg1": "config", "api1": "api"}
	if got := serverNames(t, p.admin(token)); !equalMaps(got, want) {
		t.Errorf("after removing cfg2 from the file: servers = %v, want %v", got, want)
	}
	p.stop()

	// A declared name taken by an API server refuses to start.
	writeConfig("cfg1", "api1")
	code, _, stderr = runToExit(t, env, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	if code != 1 || !strings.Contains(stderr, `server "api1" is declared in the config but was added through the API`) {
		t.Errorf("name collision: exit %d, stderr:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "mcpgate listening") {
		t.Errorf("gateway listened despite the collision:\n%s", stderr)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestServeWrongSealKey(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	const token = "seal-admin-token-0123456789"
	env := []string{"MCPGATE_ADMIN_TOKEN=" + token}

	p := serve(t, dataDir, env)
	if _, err := p.admin(token).CreateServer(bounded(t), adminapi.CreateServerRequest{
		Name: "gh", URL: "https://mcp.example.com/mcp", Headers: map[string]string{"Authorization": "Bearer sealed"},
	}); err != nil {
		t.Fatal(err)
	}
	p.stop()

	snapshot := func() map[string][32]byte {
		out := map[string][32]byte{}
		entries, err := os.ReadDir(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			out[e.Name()] = sha256.Sum256([]byte(readFile(t, filepath.Join(dataDir, e.Name()))))
		}
		return out
	}
	before := snapshot()

	var other [32]byte
	rand.Read(other[:])
	wrong := base64.StdEncoding.EncodeToString(other[:])
	code, _, stderr := runToExit(t, append(env, "MCPGATE_SEAL_KEY="+wrong), "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	if code != 1 || !strings.Contains(stderr, "the sealing key does not match this database") {
		t.Errorf("wrong sealing key: exit %d, stderr:\n%s", code, stderr)
	}
	if strings.Contains(stderr, wrong) || strings.Contains(stderr, "mcpgate listening") {
		t.Errorf("stderr reveals the key or the gateway listened:\n%s", stderr)
	}
	after := snapshot()
	for name, sum := range before {
		if after[name] != sum {
			t.Errorf("%s changed after a refused start", name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s appeared after a refused start", name)
		}
	}

	// The right key, given through the environment, opens the database.
	right := strings.TrimSpace(readFile(t, filepath.Join(dataDir, "seal.key")))
	p = serve(t, dataDir, append(env, "MCPGATE_SEAL_KEY="+right))
	if got := serverNames(t, p.admin(token)); got["gh"] != "api" {
		t.Errorf("servers = %v", got)
	}
	p.stop()
}

// TestServeStoreDSNFromEnv: a store DSN given as {env: VAR} is used, not
// silently replaced by the embedded SQLite database.
func TestServeStoreDSNFromEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	configPath := filepath.Join(dir, "mcpgate.yaml")
	if err := os.WriteFile(configPath, []byte("store:\n  dsn: {env: TEST_PG_DSN}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runToExit(t, []string{"TEST_PG_DSN=postgres://mcpgate:pw-not-logged@127.0.0.1:1/none?connect_timeout=2"},
		"serve", "--config", configPath, "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	if code != 1 || !strings.Contains(stderr, "open postgres store") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "pw-not-logged") {
		t.Errorf("stderr reveals the DSN's password:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "mcpgate.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an SQLite database was created instead: %v", err)
	}
}
