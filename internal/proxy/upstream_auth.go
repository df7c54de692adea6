package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/oauth"
)

// Credentials is the upstream token custody the proxy calls on (implemented
// by oauth.Manager).
type Credentials interface {
	Token(ctx context.Context, server, user string) (oauth.Credential, error)
	Rejected(ctx context.Context, cred oauth.Credential) error
	InsufficientScope(ctx context.Context, cred oauth.Credential, scopes []string) error
}

// challengeRecorder is implemented by oauth.Manager: it remembers an
// upstream's 401 challenge for the next authorization of (server, user).
type challengeRecorder interface {
	Challenged(server, user string, wwwAuthenticate []string)
}

// ConnectHelp tells a user how to (re)connect a server; set by the wiring.
type ConnectHelp func(server, user string) (command, url string)

// CodeUpstreamAuth is the JSON-RPC code for "the gateway holds no usable
// authorization at this server for you": distinct from a bad grant (401,
// CodeUnauthorized in httpapi).
const CodeUpstreamAuth = -32053

// roundTrip sends the request upstream with the user's upstream token. On a
// 401 it has the token refreshed (or the winner's re-read) and retries once,
// so an agent never sees an expiry. It answers the client itself and returns
// ok=false when the exchange cannot go on.
func (p *Proxy) roundTrip(x *exchange, body []byte) (*http.Response, bool) {
	var cred oauth.Credential
	if p.creds != nil {
		var err error
		if cred, err = p.creds.Token(x.ctx, x.up.Name, x.grant.User); err != nil {
			p.connectionFailed(x, err)
			return nil, false
		}
	}
	nonceRetried := false
	for attempt := 0; ; attempt++ {
		out, err := p.outbound(x, body)
		if err != nil {
			p.fail(x, http.StatusBadRequest, CodeInvalidRequest, err.Error())
			return nil, false
		}
		if cred.Token != "" {
			if err := p.authorize(x, out, cred); err != nil {
				p.connectionFailed(x, err)
				return nil, false
			}
		}
		transport := p.transport
		if out.Method == http.MethodGet {
			transport = p.streamTrans
		}
		resp, err := transport.RoundTrip(out)
		if err != nil {
			p.upstreamFailed(x, err)
			return nil, false
		}
		switch {
		case !nonceRetried && p.dpopNonce(out, resp, cred):
			// RFC 9449 §9: the server wants a proof with its nonce; one
			// retry, which is not a token refresh.
			discard(resp)
			nonceRetried = true
			attempt--
			continue
		case resp.StatusCode == http.StatusUnauthorized:
			discard(resp)
			// The authorization this answer leads to should start from the
			// challenge of this very call (its scope, its resource metadata).
			if rec, ok := p.creds.(challengeRecorder); ok {
				rec.Challenged(x.up.Name, x.grant.User, resp.Header.Values("WWW-Authenticate"))
			}
			if cred.Token == "" || p.creds == nil {
				x.rec.UpstreamError = "unauthorized"
				if p.creds != nil {
					p.connectionFailed(x, &oauth.ConnectionError{Kind: mcpgate.ErrNotConnected, Server: x.up.Name, User: x.grant.User})
					return nil, false
				}
				p.fail(x, http.StatusBadGateway, CodeUpstream, fmt.Sprintf("upstream server %q refused the gateway's credentials (HTTP 401); an administrator must fix its connection", x.up.Name))
				return nil, false
			}
			if attempt > 0 {
				x.rec.UpstreamError = "unauthorized"
				p.fail(x, http.StatusBadGateway, CodeUpstream, fmt.Sprintf("upstream server %q rejected a freshly refreshed token (HTTP 401)", x.up.Name))
				return nil, false
			}
			if err := p.creds.Rejected(x.ctx, cred); err != nil {
				p.connectionFailed(x, err)
				return nil, false
			}
			if cred, err = p.creds.Token(x.ctx, x.up.Name, x.grant.User); err != nil {
				p.connectionFailed(x, err)
				return nil, false
			}
			continue
		case resp.StatusCode == http.StatusForbidden && cred.Token != "":
			if scopes, ok := insufficientScope(resp); ok {
				discard(resp)
				if err := p.creds.InsufficientScope(x.ctx, cred, scopes); err != nil {
					p.log.Warn("recording step-up failed", "server", x.up.Name, "err", err)
				}
				p.connectionFailed(x, &oauth.ConnectionError{Kind: ErrStepUp, Server: x.up.Name, User: cred.User,
					Detail: "the server asks for scopes: " + strings.Join(scopes, " ")})
				return nil, false
			}
		}
		return resp, true
	}
}

// dpopProver is implemented by oauth.Manager: DPoP proofs for
// sender-constrained (token type DPoP) upstream tokens.
type dpopProver interface {
	DPoPProof(ctx context.Context, cred oauth.Credential, method, target string) (string, error)
	DPoPNonce(target, nonce string)
}

// authorize puts cred on out: "Bearer token", or for a DPoP-bound token
// "DPoP token" with a fresh proof of possession for this request.
func (p *Proxy) authorize(x *exchange, out *http.Request, cred oauth.Credential) error {
	if !strings.EqualFold(cred.TokenType, "DPoP") {
		out.Header.Set("Authorization", "Bearer "+cred.Token)
		return nil
	}
	prover, ok := p.creds.(dpopProver)
	if !ok {
		return errors.New("the upstream token is DPoP-bound and the gateway cannot sign proofs")
	}
	proof, err := prover.DPoPProof(x.ctx, cred, out.Method, out.URL.String())
	if err != nil {
		return err
	}
	out.Header.Set("Authorization", "DPoP "+cred.Token)
	out.Header.Set("DPoP", proof)
	return nil
}

// dpopNonce records a DPoP-Nonce the upstream sent for a DPoP-bound token
// and reports whether resp is a use_dpop_nonce challenge to retry.
func (p *Proxy) dpopNonce(out *http.Request, resp *http.Response, cred oauth.Credential) bool {
	nonce := resp.Header.Get("DPoP-Nonce")
	if nonce == "" || !strings.EqualFold(cred.TokenType, "DPoP") {
		return false
	}
	prover, ok := p.creds.(dpopProver)
	if !ok {
		return false
	}
	prover.DPoPNonce(out.URL.String(), nonce)
	if resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	cs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		return false
	}
	for _, c := range cs {
		if c.Scheme == "dpop" && c.Params["error"] == "use_dpop_nonce" {
			return true
		}
	}
	return false
}

// ErrStepUp: the upstream wants scopes the connection does not have.
var ErrStepUp = errors.New("the server needs more permissions than the connection has; it must be re-authorized with the additional scopes")

func insufficientScope(resp *http.Response) ([]string, bool) {
	cs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		return nil, false
	}
	for _, c := range cs {
		if c.Scheme == "bearer" && c.Params["error"] == "insufficient_scope" {
			return strings.Fields(c.Params["scope"]), true
		}
	}
	return nil, false
}

func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// connectionFailed answers a call that has no usable upstream authorization
// with a JSON-RPC error saying why and how to connect. It is HTTP 200 for a
// request (the client gets an ordinary, readable error result), 403 otherwise.
func (p *Proxy) connectionFailed(x *exchange, err error) {
	var ce *oauth.ConnectionError
	if !errors.As(err, &ce) {
		if x.ctx.Err() != nil {
			x.rec.Status = 499
			return
		}
		p.log.Error("upstream credentials failed", "server", x.up.Name, "err", err)
		p.fail(x, http.StatusServiceUnavailable, CodeInternal, "the gateway could not obtain upstream credentials; try again")
		return
	}
	reason := "not_connected"
	switch {
	case errors.Is(ce, mcpgate.ErrReauthRequired):
		reason = "reauth_required"
	case errors.Is(ce, ErrStepUp):
		reason = "step_up_required"
	case errors.Is(ce, oauth.ErrRefreshFailing):
		reason = "refresh_failing"
	}
	user := ce.User
	if user == "" {
		user = x.grant.User
	}
	msg := fmt.Sprintf("upstream server %q: %s", x.up.Name, ce.Error())
	data := map[string]string{"server": x.up.Name, "user": user, "reason": reason}
	if reason != "refresh_failing" && p.connectHelp != nil {
		cmd, url := p.connectHelp(x.up.Name, ce.User)
		data["connect_command"] = cmd
		msg += ". To connect, run: " + cmd
		if url != "" {
			data["connect_url"] = url
			msg += " or open " + url
		}
	}
	x.rec.UpstreamError = reason
	status := http.StatusOK
	if len(x.env.ID) == 0 || x.env.Method == "" {
		status = http.StatusForbidden
	}
	x.rec.Status = status
	WriteErrorData(x.w, status, x.env.ID, CodeUpstreamAuth, msg, data)
}
