package oauthtest

import (
	"net/http"
	"time"
)

// SetSubject sets the user that subsequent authorizations are approved as.
func (a *AuthServer) SetSubject(subject string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.subject = subject
}

// SetDenyAuthorization makes /authorize answer error=access_denied (true) or
// approve (false).
func (a *AuthServer) SetDenyAuthorization(deny bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.deny = deny
}

// SetAccessTTL changes the lifetime of access tokens issued from now on.
func (a *AuthServer) SetAccessTTL(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.accessTTL = d
}

// FailNextToken makes the next n token requests fail with status and a JSON
// error body before they are processed (no code is consumed, no token rotated).
// The error code follows the status: 400 invalid_grant, 401 invalid_client,
// 403 unauthorized_client, 429/503 temporarily_unavailable, other server_error.
func (a *AuthServer) FailNextToken(n int, status int) {
	a.FailNextTokenWith(n, status, defaultErrorCode(status))
}

// FailNextTokenWith is FailNextToken with an explicit OAuth error code.
func (a *AuthServer) FailNextTokenWith(n int, status int, errorCode string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failN, a.failStatus, a.failCode = n, status, errorCode
}

func defaultErrorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_grant"
	case http.StatusUnauthorized:
		return "invalid_client"
	case http.StatusForbidden:
		return "unauthorized_client"
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return "temporarily_unavailable"
	default:
		return "server_error"
	}
}

// SetTokenLatency delays every token request by d before it is processed. The
// request is processed after the delay even if the client has given up
// meanwhile — a timed-out client may thus miss a rotation.
func (a *AuthServer) SetTokenLatency(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.latency = d
}

// DropNextTokenResponses makes the next n token requests be processed
// normally (codes consumed, refresh tokens rotated) and then lose their
// response: the connection is closed without an answer.
func (a *AuthServer) DropNextTokenResponses(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dropN = n
}

// RevokeAll revokes every token family and outstanding authorization code.
func (a *AuthServer) RevokeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, f := range a.familyOrder {
		f.revoked = true
	}
	for _, c := range a.codes {
		c.used = true
	}
}

// RevokeFamily revokes every token descended from one authorization.
func (a *AuthServer) RevokeFamily(family string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if f := a.families[family]; f != nil {
		f.revoked = true
	}
}

// FamilyRevoked reports whether a token family has been revoked.
func (a *AuthServer) FamilyRevoked(family string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.families[family]
	return f != nil && f.revoked
}

// ExpireAccessTokens makes every access token issued so far expired.
func (a *AuthServer) ExpireAccessTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for _, t := range a.tokens {
		if t.kind == kindAccess && t.expiry.After(past) {
			t.expiry = past
		}
	}
}
