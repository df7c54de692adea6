// Package proxy is the transparent MCP proxy. It forwards the Streamable HTTP
// exchange between a client and one upstream server as it is: bodies are
// never re-encoded, SSE is relayed event by event with immediate flushing,
// and a client disconnect cancels the upstream request. It reads only the
// JSON-RPC envelope (to route, log and refuse malformed input), strips the
// client's credentials, adds the upstream's, and binds every upstream session
// to the grant that created it.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/policy"
	"github.com/mcpgate/mcpgate/internal/registry"
)

// Observer is told about every proxied request once it has finished.
type Observer interface {
	ObserveRequest(ctx context.Context, rec Record)
}

// Record describes one proxied request for logs and metrics.
type Record struct {
	Server        string
	GrantID       string
	User          string
	HTTPMethod    string
	RPCMethod     string
	Tool          string
	Status        int
	Duration      time.Duration
	UpstreamError string // "", "unreachable", "timeout", "reset", "unauthorized"
	PolicyDenied  bool
}

// Proxy forwards requests to upstream servers.
type Proxy struct {
	transport   http.RoundTripper
	streamTrans http.RoundTripper
	creds       Credentials
	connectHelp ConnectHelp
	policy      PolicySource
	auditor     Auditor
	clients     clientNames
	sessions    *Sessions
	maxBody     int64
	observer    Observer
	log         *slog.Logger
	now         func() time.Time

	detachedWG sync.WaitGroup // detached streams still running

	// streams is cancelled by EndStreams to close standalone GET streams.
	streams    context.Context
	endStreams context.CancelFunc
}

// Options configure a Proxy.
type Options struct {
	Transport http.RoundTripper
	// StreamTransport carries GET requests (standalone event streams that
	// may stay open for hours); nil means Transport.
	StreamTransport http.RoundTripper
	// Credentials supplies upstream OAuth tokens; nil means static headers only.
	Credentials Credentials
	// ConnectHelp builds the instructions in "not connected" errors.
	ConnectHelp ConnectHelp
	// Policy decides ruled calls and filters tool lists; nil means none.
	Policy PolicySource
	// Auditor records every policy decision; nil means none.
	Auditor      Auditor
	Sessions     *Sessions
	MaxBodyBytes int64
	Observer     Observer
	Logger       *slog.Logger
}

// New returns a Proxy.
func New(o Options) *Proxy {
	p := &Proxy{
		transport: o.Transport, streamTrans: o.StreamTransport, creds: o.Credentials, connectHelp: o.ConnectHelp, policy: o.Policy, auditor: o.Auditor, sessions: o.Sessions, maxBody: o.MaxBodyBytes,
		observer: o.Observer, log: o.Logger, now: time.Now,
	}
	if p.streamTrans == nil {
		p.streamTrans = p.transport
	}
	p.streams, p.endStreams = context.WithCancel(context.Background())
	return p
}

// EndStreams ends every standalone GET stream, now and from now on, so that a
// draining gateway does not wait for streams that never finish; clients
// reconnect (with Last-Event-ID) to another instance.
func (p *Proxy) EndStreams() { p.endStreams() }

// exchange is the state of one proxied request.
type exchange struct {
	w     http.ResponseWriter
	r     *http.Request
	ctx   context.Context // r's context, also ended by EndStreams for GET
	up    *registry.Upstream
	grant mcpgate.Grant
	env   Envelope
	rec   Record
	start time.Time

	// endStream ends a GET stream's upstream request; detached is set once
	// the stream has been handed to a goroutine of its own (detach.go).
	endStream func()
	detached  bool

	decision   *policy.Decision  // set for ruled calls when a policy is in force
	filter     func(string) bool // tools/list filter, when a policy is in force
	clientName string
}

// Serve proxies r to up on behalf of grant. The caller has authenticated the
// grant for up.
func (p *Proxy) Serve(w http.ResponseWriter, r *http.Request, up *registry.Upstream, grant mcpgate.Grant) {
	start := p.now()
	x := &exchange{w: w, r: r, ctx: r.Context(), up: up, grant: grant, start: start, rec: Record{
		Server: up.Name, GrantID: grant.ID, User: grant.User, HTTPMethod: r.Method,
	}}
	p.serve(x)
	x.rec.Duration = p.now().Sub(start)
	if p.observer != nil {
		p.observer.ObserveRequest(r.Context(), x.rec)
	}
}

func (p *Proxy) serve(x *exchange) {
	r := x.r
	var body []byte
	switch r.Method {
	case http.MethodPost:
		var ok bool
		if body, ok = p.readBody(x); !ok {
			return
		}
	case http.MethodGet:
		// A stream may outlive this handler (detach.go), so its context is
		// its own: ended when the client goes away, by EndStreams, or when
		// the stream is over.
		ctx, cancel := context.WithCancel(context.WithoutCancel(x.ctx))
		stopDrain := context.AfterFunc(p.streams, cancel)
		stopClient := context.AfterFunc(r.Context(), cancel)
		x.ctx = ctx
		x.endStream = func() { stopDrain(); cancel() }
		defer func() {
			stopClient() // a detached stream's client is watched by the pump
			if !x.detached {
				x.endStream()
			}
		}()
	case http.MethodDelete:
	default:
		x.w.Header().Set("Allow", "GET, POST, DELETE")
		p.fail(x, http.StatusMethodNotAllowed, CodeInvalidRequest, "method "+r.Method+" is not allowed; MCP uses POST, GET and DELETE")
		return
	}

	sid := r.Header.Get("Mcp-Session-Id")
	var sidHash string
	if sid != "" {
		sidHash = HashSessionID(sid)
		s, err := p.sessions.Lookup(r.Context(), sidHash)
		if err != nil && !errors.Is(err, mcpgate.ErrNotFound) {
			p.log.Error("session lookup failed", "server", x.up.Name, "err", err)
			p.fail(x, http.StatusServiceUnavailable, CodeInternal, "the gateway could not check the session; try again")
			return
		}
		if err != nil || s.GrantID != x.grant.ID || s.Server != x.up.Name {
			p.fail(x, http.StatusNotFound, CodeSession, "session not found: start a new session with initialize")
			return
		}
	}

	if sidHash != "" {
		x.clientName = p.clientName(sidHash)
	}
	if pol := p.currentPolicy(); pol != nil && r.Method == http.MethodPost {
		if ruled(x.env.Method) || x.env.Batch {
			if !p.decide(x, pol, body) {
				p.audit(x, 0)
				return
			}
		}
		if x.env.Method == "tools/list" {
			x.filter = visibleTools(x, pol)
		}
	}

	resp, ok := p.roundTrip(x, body)
	if !ok {
		p.audit(x, x.rec.Status)
		return
	}
	defer func() {
		if !x.detached {
			resp.Body.Close()
		}
	}()
	defer p.audit(x, resp.StatusCode)

	if newSID := resp.Header.Get("Mcp-Session-Id"); sid == "" && newSID != "" {
		if x.env.Method == "initialize" {
			p.rememberClient(HashSessionID(newSID), body)
		}
		err := p.sessions.Bind(r.Context(), mcpgate.Session{
			IDHash: HashSessionID(newSID), Server: x.up.Name, GrantID: x.grant.ID, CreatedAt: p.now().UTC(),
		})
		if err != nil {
			p.log.Error("session bind failed", "server", x.up.Name, "err", err)
			p.fail(x, http.StatusServiceUnavailable, CodeInternal, "the gateway could not record the session; try again")
			return
		}
	}
	if sidHash != "" && (resp.StatusCode == http.StatusNotFound || (r.Method == http.MethodDelete && resp.StatusCode/100 == 2)) {
		if err := p.sessions.Forget(context.WithoutCancel(r.Context()), sidHash); err != nil {
			p.log.Warn("session forget failed", "server", x.up.Name, "err", err)
		}
	}
	p.relay(x, resp)
}

// readBody reads and checks a POST body. It answers the client itself and
// returns ok=false when the body is refused.
func (p *Proxy) readBody(x *exchange) ([]byte, bool) {
	r := x.r
	if r.ContentLength > p.maxBody {
		p.fail(x, http.StatusRequestEntityTooLarge, CodeInvalidRequest, fmt.Sprintf("request body exceeds the %d-byte limit", p.maxBody))
		return nil, false
	}
	body, err := readAll(r.Body, r.ContentLength, p.maxBody)
	if errors.Is(err, errTooLarge) {
		p.fail(x, http.StatusRequestEntityTooLarge, CodeInvalidRequest, fmt.Sprintf("request body exceeds the %d-byte limit", p.maxBody))
		return nil, false
	}
	if err != nil {
		p.fail(x, http.StatusBadRequest, CodeParseError, "could not read the request body")
		return nil, false
	}
	env, err := ParseEnvelope(body)
	if err != nil {
		var ee *errEnvelope
		errors.As(err, &ee)
		p.fail(x, http.StatusBadRequest, ee.code, ee.msg)
		return nil, false
	}
	x.env = env
	x.rec.RPCMethod, x.rec.Tool = env.Method, env.Name
	if env.Batch {
		x.rec.RPCMethod = "batch"
		if v := r.Header.Get("Mcp-Protocol-Version"); v >= "2025-06-18" {
			p.fail(x, http.StatusBadRequest, CodeInvalidRequest, "JSON-RPC batches are not supported by protocol version "+v)
			return nil, false
		}
	}
	if h := r.Header.Get("Mcp-Method"); h != "" && !env.Batch && h != env.Method {
		p.fail(x, http.StatusBadRequest, CodeHeaderMismatch, fmt.Sprintf("Mcp-Method header %q does not match the body's method %q", h, env.Method))
		return nil, false
	}
	if h := r.Header.Get("Mcp-Name"); h != "" && !env.Batch && env.Name != "" && h != env.Name {
		p.fail(x, http.StatusBadRequest, CodeHeaderMismatch, fmt.Sprintf("Mcp-Name header %q does not match the body's name %q", h, env.Name))
		return nil, false
	}
	return body, true
}

var errTooLarge = errors.New("body too large")

// readAll reads at most limit bytes, sizing the buffer from Content-Length.
func readAll(r io.Reader, contentLength, limit int64) ([]byte, error) {
	size := int64(512)
	if contentLength > 0 {
		size = contentLength + 1
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

func (p *Proxy) upstreamFailed(x *exchange, err error) {
	if x.ctx.Err() != nil {
		x.rec.Status = 499 // the client went away; the upstream request was cancelled
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		x.rec.UpstreamError = "timeout"
		p.fail(x, http.StatusGatewayTimeout, CodeUpstream, fmt.Sprintf("upstream server %q did not answer in time", x.up.Name))
		return
	}
	x.rec.UpstreamError = "unreachable"
	p.log.Warn("upstream request failed", "server", x.up.Name, "err", err)
	p.fail(x, http.StatusBadGateway, CodeUpstream, fmt.Sprintf("upstream server %q is unreachable: %s", x.up.Name, reason(err)))
}

// reason gives a short cause without internal URLs.
func reason(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// fail answers the client with a JSON-RPC error.
func (p *Proxy) fail(x *exchange, status, code int, msg string) {
	x.rec.Status = status
	WriteError(x.w, status, x.env.ID, code, msg)
}

// WriteError writes a JSON-RPC error response with the given HTTP status.
func WriteError(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string) {
	WriteErrorData(w, status, id, code, msg, nil)
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// WriteErrorData is WriteError with a data member.
func WriteErrorData(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string, data any) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	body, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   rpcError        `json:"error"`
	}{JSONRPC: "2.0", ID: id, Error: rpcError{code, msg, data}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}
