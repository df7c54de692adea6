package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/e2e/gatewaytest"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// callTimeout bounds one MCP operation of any client.
const callTimeout = 30 * time.Second

// legacyVersion is the protocol version deployed clients speak today.
const legacyVersion = "2025-11-25"

// mcpClient is one real MCP client connected to one endpoint. Every method
// is bounded by ctx.
type mcpClient interface {
	// ListTools returns the tool names.
	ListTools(ctx context.Context) ([]string, error)
	// CallTool calls a tool with log level "info" requested and, if progress
	// is set, a progress token.
	CallTool(ctx context.Context, name string, progress bool) (*callOutcome, error)
	// Close ends the session and the client's processes.
	Close()
}

// callOutcome is what a user of the client sees of one tool call.
type callOutcome struct {
	Text     string          // the text content, concatenated
	IsError  bool            // the tool reported an error
	Progress []timedEvent    // progress notifications, in arrival order
	Logs     []timedEvent    // log messages, in arrival order
	Elapsed  time.Duration   // from the call until its result
	HTTP     []httpResponse  // HTTP responses seen during the call, where the client exposes them
	Raw      json.RawMessage // the result as the client decoded it, for failure messages
	// ProgressToken is the token the client sent, where it chose one.
	ProgressToken string
}

type timedEvent struct {
	At   time.Duration // since the call started
	Text string        // progress message or log data
}

// httpResponse is one HTTP response a client received.
type httpResponse struct {
	Method          string `json:"method"`
	Status          int    `json:"status"`
	ContentType     string `json:"contentType"`
	WWWAuthenticate string `json:"wwwAuthenticate"`
	// body times the arrival of the body's bytes (Go clients only).
	body *timedBody
}

// timedBody records when the first and the last bytes of a response body
// arrived: an SSE response relayed as it is produced spreads over the time
// the tool runs, one buffered by a proxy arrives at once.
type timedBody struct {
	io.ReadCloser
	mu          sync.Mutex
	first, last time.Time
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		now := time.Now()
		b.mu.Lock()
		if b.first.IsZero() {
			b.first = now
		}
		b.last = now
		b.mu.Unlock()
	}
	return n, err
}

// span is the time between the first and the last byte so far.
func (b *timedBody) span() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last.Sub(b.first)
}

// statusError is a failed operation together with the HTTP statuses the
// client received while trying.
type statusError struct {
	Err      error
	Statuses []int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%v (HTTP statuses seen: %v)", e.Err, e.Statuses)
}
func (e *statusError) Unwrap() error { return e.Err }

// sawStatus reports whether err carries an HTTP response with status code.
func sawStatus(err error, code int) bool {
	var se *statusError
	if !errors.As(err, &se) {
		return false
	}
	for _, s := range se.Statuses {
		if s == code {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// Go SDK client over Streamable HTTP, in process.

// bearerRecorder adds the grant token to every request, as a user's
// HTTPClient would, and records every response.
type bearerRecorder struct {
	token string
	base  http.RoundTripper

	mu        sync.Mutex
	responses []httpResponse
}

func (b *bearerRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if b.token != "" {
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	resp, err := b.base.RoundTrip(req)
	if err == nil {
		body := &timedBody{ReadCloser: resp.Body}
		resp.Body = body
		b.mu.Lock()
		b.responses = append(b.responses, httpResponse{
			Method:          req.Method,
			Status:          resp.StatusCode,
			ContentType:     resp.Header.Get("Content-Type"),
			WWWAuthenticate: resp.Header.Get("WWW-Authenticate"),
			body:            body,
		})
		b.mu.Unlock()
	}
	return resp, err
}

func (b *bearerRecorder) mark() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.responses)
}

func (b *bearerRecorder) since(mark int) []httpResponse {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]httpResponse(nil), b.responses[mark:]...)
}

func statuses(rs []httpResponse) []int {
	var s []int
	for _, r := range rs {
		s = append(s, r.Status)
	}
	return s
}

// notifications collects progress and log notifications for the call in
// progress.
type notifications struct {
	mu       sync.Mutex
	start    time.Time
	progress []timedEvent
	logs     []timedEvent
}

func (n *notifications) reset() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.start, n.progress, n.logs = time.Now(), nil, nil
}

func (n *notifications) addProgress(msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.progress = append(n.progress, timedEvent{At: time.Since(n.start), Text: msg})
}

func (n *notifications) addLog(data any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.logs = append(n.logs, timedEvent{At: time.Since(n.start), Text: fmt.Sprint(data)})
}

// take waits until no notification arrived for settleQuiet (at most
// settleMax) and moves the notifications into o. The Go SDK runs
// notification handlers asynchronously, so the last one sent before a result
// can be handled after CallTool has returned.
func (n *notifications) take(o *callOutcome) {
	deadline := time.Now().Add(settleMax)
	count := -1
	for time.Now().Before(deadline) {
		n.mu.Lock()
		c := len(n.progress) + len(n.logs)
		n.mu.Unlock()
		if c == count {
			break
		}
		count = c
		time.Sleep(settleQuiet)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	o.Progress, o.Logs = n.progress, n.logs
}

const (
	settleQuiet = 100 * time.Millisecond
	settleMax   = time.Second
)

// goSession is a Go SDK client session, over HTTP or stdio.
type goSession struct {
	cs     *mcp.ClientSession
	rec    *bearerRecorder // nil over stdio
	notes  *notifications
	modern bool // 2026-07-28: per-request _meta instead of logging/setLevel
}

func newGoClient(notes *notifications) *mcp.Client {
	return mcp.NewClient(&mcp.Implementation{Name: "mcpgate-e2e-go", Version: "1.0.0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			notes.addProgress(r.Params.Message)
		},
		LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
			notes.addLog(r.Params.Data)
		},
	})
}

// connectGo connects the Go SDK client to url with token. version "" means
// the SDK's default (2026-07-28, falling back to initialize).
func connectGo(ctx context.Context, url, token, version string) (*goSession, error) {
	rec := &bearerRecorder{token: token, base: http.DefaultTransport.(*http.Transport).Clone()}
	notes := &notifications{}
	transport := &mcp.StreamableClientTransport{
		Endpoint:   url,
		HTTPClient: &http.Client{Transport: rec},
		MaxRetries: 2,
	}
	var opts *mcp.ClientSessionOptions
	if version != "" {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: version}
	}
	cs, err := newGoClient(notes).Connect(ctx, transport, opts)
	if err != nil {
		return nil, &statusError{Err: err, Statuses: statuses(rec.since(0))}
	}
	s := &goSession{cs: cs, rec: rec, notes: notes}
	if err := s.init(ctx); err != nil {
		cs.Close()
		return nil, err
	}
	return s, nil
}

// init requests log messages the way the negotiated era allows.
func (s *goSession) init(ctx context.Context) error {
	s.modern = s.cs.InitializeResult().ProtocolVersion >= "2026-07-28"
	if s.modern {
		return nil
	}
	if err := s.cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
		return fmt.Errorf("logging/setLevel: %w", err)
	}
	return nil
}

func (s *goSession) fail(err error, mark int) error {
	if s.rec == nil {
		return err
	}
	return &statusError{Err: err, Statuses: statuses(s.rec.since(mark))}
}

func (s *goSession) ListTools(ctx context.Context) ([]string, error) {
	mark := s.mark()
	res, err := s.cs.ListTools(ctx, nil)
	if err != nil {
		return nil, s.fail(err, mark)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	return names, nil
}

func (s *goSession) mark() int {
	if s.rec == nil {
		return 0
	}
	return s.rec.mark()
}

func (s *goSession) CallTool(ctx context.Context, name string, progress bool) (*callOutcome, error) {
	params := &mcp.CallToolParams{Name: name, Arguments: map[string]any{}}
	if s.modern {
		params.Meta = mcp.Meta{mcp.MetaKeyLogLevel: "info"}
	}
	if progress {
		params.SetProgressToken(progressToken)
	}
	s.notes.reset()
	mark := s.mark()
	start := time.Now()
	res, err := s.cs.CallTool(ctx, params)
	if err != nil {
		return nil, s.fail(err, mark)
	}
	o := &callOutcome{Elapsed: time.Since(start), IsError: res.IsError}
	if progress {
		o.ProgressToken = progressToken
	}
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			o.Text += tc.Text
		}
	}
	o.Raw, _ = json.Marshal(res)
	s.notes.take(o) // also lets the response body reach its end
	if s.rec != nil {
		o.HTTP = s.rec.since(mark)
	}
	return o, nil
}

func (s *goSession) Close() { s.cs.Close() }

// progressToken is the token the Go clients send; the everything-server's
// progress tool answers with it.
const progressToken = "e2e-progress-token"

// ---------------------------------------------------------------------------
// TypeScript SDK client: e2e/node/ts-client.mjs, driven line by line.

type tsSession struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *lockedBuffer
	done   chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tsAnswer is one answer line of ts-client.mjs.
type tsAnswer struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  struct {
		Name    string `json:"name"`
		Message string `json:"message"`
		Code    int    `json:"code"`
	} `json:"error"`
	MS       int64 `json:"ms"`
	Progress []struct {
		MS      int64  `json:"ms"`
		Message string `json:"message"`
	} `json:"progress"`
	Logs []struct {
		MS   int64 `json:"ms"`
		Data any   `json:"data"`
	} `json:"logs"`
	HTTP []httpResponse `json:"http"`
}

// startTS starts the TypeScript SDK client for url and connects it.
func startTS(ctx context.Context, t testing.TB, url, token string) (*tsSession, error) {
	node := gatewaytest.NodeModules(t)
	cmd := exec.Command(node.Bin, node.Script("ts-client.mjs"), url)
	cmd.Dir = node.Dir
	cmd.Env = append(cmd.Environ(), "MCPGATE_TOKEN="+token)
	s := &tsSession{cmd: cmd, lines: make(chan string, 64), stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = s.stderr
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node ts-client.mjs: %w", err)
	}
	// Read every answer, then reap the process (Wait must come after the
	// last read from the pipe). An answer nobody waits for any more (its
	// command timed out) is dropped rather than blocking the reader.
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			select {
			case s.lines <- sc.Text():
			default:
			}
		}
		close(s.lines)
		cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("---- stderr of ts-client.mjs ----\n%s---- end ----", s.stderr.String())
		}
	})
	a, err := s.do(ctx, map[string]any{"op": "connect"})
	if err != nil {
		return nil, err
	}
	if !a.OK {
		return nil, a.err()
	}
	if a, err = s.do(ctx, map[string]any{"op": "setLoggingLevel", "level": "info"}); err != nil {
		return nil, err
	} else if !a.OK {
		return nil, a.err()
	}
	return s, nil
}

func (a *tsAnswer) err() error {
	return &statusError{
		Err:      fmt.Errorf("TS SDK %s (code %d): %s", a.Error.Name, a.Error.Code, a.Error.Message),
		Statuses: statuses(a.HTTP),
	}
}

// do sends one command and waits for its answer.
func (s *tsSession) do(ctx context.Context, cmd map[string]any) (*tsAnswer, error) {
	b, _ := json.Marshal(cmd)
	if _, err := s.stdin.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("write to ts-client.mjs: %w (stderr: %s)", err, s.stderr.String())
	}
	select {
	case line, ok := <-s.lines:
		if !ok {
			return nil, fmt.Errorf("ts-client.mjs exited without answering %s (stderr: %s)", b, s.stderr.String())
		}
		var a tsAnswer
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			return nil, fmt.Errorf("ts-client.mjs answered %q: %w", line, err)
		}
		return &a, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("ts-client.mjs did not answer %s: %w", b, ctx.Err())
	}
}

func (s *tsSession) ListTools(ctx context.Context) ([]string, error) {
	a, err := s.do(ctx, map[string]any{"op": "listTools"})
	if err != nil {
		return nil, err
	}
	if !a.OK {
		return nil, a.err()
	}
	var r struct {
		Tools []string `json:"tools"`
	}
	if err := json.Unmarshal(a.Result, &r); err != nil {
		return nil, err
	}
	return r.Tools, nil
}

func (s *tsSession) CallTool(ctx context.Context, name string, progress bool) (*callOutcome, error) {
	a, err := s.do(ctx, map[string]any{"op": "callTool", "name": name, "arguments": map[string]any{}, "progress": progress})
	if err != nil {
		return nil, err
	}
	if !a.OK {
		return nil, a.err()
	}
	var r struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal(a.Result, &r); err != nil {
		return nil, err
	}
	o := &callOutcome{IsError: r.IsError, Elapsed: time.Duration(a.MS) * time.Millisecond, HTTP: a.HTTP, Raw: a.Result}
	for _, c := range r.Content {
		if c.Type == "text" {
			o.Text += c.Text
		}
	}
	for _, p := range a.Progress {
		o.Progress = append(o.Progress, timedEvent{At: time.Duration(p.MS) * time.Millisecond, Text: p.Message})
	}
	for _, l := range a.Logs {
		o.Logs = append(o.Logs, timedEvent{At: time.Duration(l.MS) * time.Millisecond, Text: fmt.Sprint(l.Data)})
	}
	return o, nil
}

func (s *tsSession) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.do(ctx, map[string]any{"op": "close"})
	s.kill()
}

// kill closes stdin, on which the script exits, and kills it if it has not
// within 5 s.
func (s *tsSession) kill() {
	s.stdin.Close()
	select {
	case <-s.done:
		return
	case <-time.After(5 * time.Second):
	}
	s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
}

// ---------------------------------------------------------------------------
// mcp-remote: the Go SDK client over stdio, talking to mcp-remote, which
// bridges to the Streamable HTTP endpoint with the token in a header.

type remoteSession struct {
	*goSession
	stderr *lockedBuffer
}

// startRemote starts `mcp-remote URL --header "Authorization: Bearer ${MCPGATE_TOKEN}"`
// with the token in its environment, as the mcp-remote README shows, and
// connects the Go SDK client to it over stdio with the legacy protocol (what
// desktop hosts speak).
func startRemote(ctx context.Context, t testing.TB, url, token string, extraArgs ...string) (*remoteSession, error) {
	node := gatewaytest.NodeModules(t)
	args := []string{node.PackageBin("mcp-remote"), url,
		"--header", "Authorization: Bearer ${MCPGATE_TOKEN}",
		// Bounded: never wait for a human in a browser.
		"--auth-timeout", "5",
	}
	// Whatever happens to the session, the process ends with the test.
	procCtx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cmd := exec.CommandContext(procCtx, node.Bin, append(args, extraArgs...)...)
	cmd.Dir = node.Dir
	cmd.Env = append(cmd.Environ(),
		"MCPGATE_TOKEN="+token,
		// Keep mcp-remote's OAuth state out of the user's home.
		"MCP_REMOTE_CONFIG_DIR="+t.TempDir(),
		// No browser may be opened by a test.
		"BROWSER=true",
	)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- stderr of mcp-remote ----\n%s---- end ----", stderr.String())
		}
	})
	notes := &notifications{}
	cs, err := newGoClient(notes).Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second},
		&mcp.ClientSessionOptions{ProtocolVersion: legacyVersion})
	if err != nil {
		return nil, fmt.Errorf("connect through mcp-remote: %w (stderr: %s)", err, stderr.String())
	}
	s := &remoteSession{goSession: &goSession{cs: cs, notes: notes}, stderr: stderr}
	if err := s.init(ctx); err != nil {
		cs.Close()
		return nil, err
	}
	return s, nil
}
