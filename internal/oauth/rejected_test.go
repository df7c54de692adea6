package oauth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/oauth"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
)

// When the upstream rejects a token (401) and the refresh that follows
// fails, Rejected must say why the way Token does — a *ConnectionError the
// proxy turns into the reauth or refresh-failing JSON-RPC error — and not
// return the raw refresh error, which the proxy can only answer with a 503
// "try again" (found end to end: a user revoking the gateway at the provider
// before the token expired got 503s instead of the connect link).
func TestRejectedThenRefreshFailureIsAConnectionError(t *testing.T) {
	tests := []struct {
		name   string
		user   string // "" for the shared connection
		break_ func(*oauthtest.AuthServer)
		want   error
		detail string
	}{
		{"revoked at the provider", "alice", (*oauthtest.AuthServer).RevokeAll, mcpgate.ErrReauthRequired, "invalid_grant"},
		{"revoked, shared connection", "", (*oauthtest.AuthServer).RevokeAll, mcpgate.ErrReauthRequired, "invalid_grant"},
		{"provider down", "alice", func(a *oauthtest.AuthServer) { a.FailNextToken(10, 503) }, oauth.ErrRefreshFailing, "503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{})
			f.connect(tt.user)
			cred, err := f.token(tt.user)
			if err != nil || cred.Token == "" {
				t.Fatalf("token: %+v %v", cred, err)
			}
			tt.break_(f.as)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = f.mgr.Rejected(ctx, cred)
			var ce *oauth.ConnectionError
			if !errors.As(err, &ce) || !errors.Is(err, tt.want) {
				t.Fatalf("Rejected after the refresh failed: %T %v; want a *oauth.ConnectionError of kind %v", err, err, tt.want)
			}
			if ce.Server != "upstream" || ce.User != tt.user || !strings.Contains(ce.Detail, tt.detail) {
				t.Errorf("connection error %+v; want server upstream, user %q, detail naming %s", ce, tt.user, tt.detail)
			}
			// A connection that needs re-authorization says so to Token too
			// (a failing refresh keeps the old token, which Token still hands
			// out until it expires).
			if _, terr := f.token(tt.user); tt.want == mcpgate.ErrReauthRequired && !errors.Is(terr, tt.want) {
				t.Errorf("Token after Rejected: %v; want %v", terr, tt.want)
			}
		})
	}
}
