package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// tokenResponse is an RFC 6749 §5.1 answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    any    `json:"expires_in"` // a number; some servers send a string
	Scope        string `json:"scope"`
}

// TokenError is a failure at the token endpoint. Permanent errors (4xx, e.g.
// invalid_grant) mean the connection must be re-authorized; the others
// (5xx, timeouts, lost responses) are retried later with the old token kept.
type TokenError struct {
	Status      int    // 0 when no HTTP answer arrived
	Code        string // RFC 6749 §5.2 error code, if any
	Description string
	Err         error // transport error, if any
}

func (e *TokenError) Error() string {
	switch {
	case e.Err != nil:
		return "token endpoint unreachable: " + e.Err.Error()
	case e.Code != "":
		msg := fmt.Sprintf("token endpoint answered %d %s", e.Status, e.Code)
		if e.Description != "" {
			msg += ": " + e.Description
		}
		return msg
	}
	return fmt.Sprintf("token endpoint answered HTTP %d", e.Status)
}

func (e *TokenError) Unwrap() error { return e.Err }

// Permanent reports whether retrying cannot help.
func (e *TokenError) Permanent() bool {
	return e.Err == nil && e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests && e.Status != http.StatusRequestTimeout
}

// token is a validated token response.
type token struct {
	Access    string
	Refresh   string
	Type      string
	ExpiresAt time.Time // zero: unknown
	Scopes    []string
}

// requestToken posts form to the token endpoint with the client's
// authentication and parses the answer.
//
// The audience is the authorization server's issuer. When it takes DPoP
// proofs (see dpop.go) every request carries one, and a use_dpop_nonce
// answer (RFC 9449 §8) is retried once with the server's nonce.
func (m *Manager) requestToken(ctx context.Context, endpoint string, c client, audience string, form url.Values) (token, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	dpop := m.dpopSupported(audience)
	for attempt := 0; ; attempt++ {
		req, err := m.tokenHTTPRequest(ctx, endpoint, c, audience, form)
		if err != nil {
			return token{}, err
		}
		if dpop {
			proof, err := m.dpopProof(ctx, http.MethodPost, endpoint, "", m.dpopNonce("as "+audience))
			if err != nil {
				return token{}, err
			}
			req.Header.Set("DPoP", proof)
		}
		resp, err := m.cfg.HTTPClient.Do(req)
		if err != nil {
			return token{}, &TokenError{Err: err}
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return token{}, &TokenError{Status: resp.StatusCode, Err: err}
		}
		if dpop {
			m.setDPoPNonce("as "+audience, resp.Header.Get("DPoP-Nonce"))
		}
		if resp.StatusCode != http.StatusOK {
			te := answerError(resp.StatusCode, body)
			if dpop && attempt == 0 && te.Code == "use_dpop_nonce" && resp.Header.Get("DPoP-Nonce") != "" {
				continue
			}
			return token{}, te
		}
		return m.parseToken(resp.Header.Get("Content-Type"), body, dpop)
	}
}

// answerError is a token endpoint's error answer (RFC 6749 §5.2).
func answerError(status int, body []byte) *TokenError {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	json.Unmarshal(body, &e)
	return &TokenError{Status: status, Code: truncate(e.Error, 60), Description: truncate(e.Description, 200)}
}

func (m *Manager) tokenHTTPRequest(ctx context.Context, endpoint string, c client, audience string, form url.Values) (*http.Request, error) {
	form = cloneValues(form)
	var basicUser, basicPass string
	switch c.AuthMethod {
	case "client_secret_basic":
		basicUser, basicPass = url.QueryEscape(c.ID), url.QueryEscape(c.Secret)
	case "client_secret_post":
		form.Set("client_id", c.ID)
		form.Set("client_secret", c.Secret)
	case "private_key_jwt":
		assertion, err := signClientAssertion(c.Secret, c.ID, audience, m.now())
		if err != nil {
			return nil, err
		}
		form.Set("client_id", c.ID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	default: // none: a public client identifies itself
		form.Set("client_id", c.ID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basicUser != "" {
		req.SetBasicAuth(basicUser, basicPass)
	}
	return req, nil
}

// ErrBadTokenResponse means the token endpoint's answer was unusable.
var ErrBadTokenResponse = errors.New("unusable token response")

// parseToken reads a token response; a DPoP token is acceptable only when
// the request carried a proof.
func (m *Manager) parseToken(contentType string, body []byte, dpop bool) (token, error) {
	var tr tokenResponse
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return token{}, fmt.Errorf("%w: %v", ErrBadTokenResponse, err)
		}
		tr = tokenResponse{AccessToken: v.Get("access_token"), TokenType: v.Get("token_type"),
			RefreshToken: v.Get("refresh_token"), ExpiresIn: v.Get("expires_in"), Scope: v.Get("scope")}
	} else if err := json.Unmarshal(body, &tr); err != nil {
		return token{}, fmt.Errorf("%w: not JSON", ErrBadTokenResponse)
	}
	if tr.AccessToken == "" {
		return token{}, fmt.Errorf("%w: no access_token", ErrBadTokenResponse)
	}
	typ := "Bearer"
	switch {
	case tr.TokenType == "" || strings.EqualFold(tr.TokenType, "bearer"):
	case dpop && strings.EqualFold(tr.TokenType, "dpop"):
		typ = "DPoP"
	default:
		return token{}, fmt.Errorf("%w: token_type %q is not supported (Bearer, or DPoP where the server takes proofs)", ErrBadTokenResponse, truncate(tr.TokenType, 20))
	}
	t := token{Access: tr.AccessToken, Refresh: tr.RefreshToken, Type: typ, Scopes: strings.Fields(tr.Scope)}
	if secs, ok := expiresIn(tr.ExpiresIn); ok {
		t.ExpiresAt = m.now().Add(time.Duration(secs) * time.Second)
	}
	return t, nil
}

// expiresIn accepts a positive number or numeric string; anything else means
// "unknown lifetime".
func expiresIn(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		if x > 0 && x < 1e9 {
			return int64(x), true
		}
	case string:
		var n int64
		if _, err := fmt.Sscan(x, &n); err == nil && n > 0 && n < 1e9 {
			return n, true
		}
	}
	return 0, false
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+4)
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
