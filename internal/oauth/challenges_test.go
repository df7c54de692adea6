package oauth_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/oauthtest"
)

// The authorization a refused call leads to starts from that call's
// challenge, not from the gateway's own probe: a server may let initialize
// through (the probe then sees no challenge) and challenge tools/list with a
// scope (found by the MCP conformance suite's auth/scope-step-up scenario).
func TestStartUsesTheRecordedChallenge(t *testing.T) {
	f := newFixture(t, oauthtest.AuthServerOptions{}, oauthtest.ProtectedMCPServerOptions{ScopesSupported: []string{"read"}})
	ctx := context.Background()
	scopeOf := func(user string) []string {
		t.Helper()
		s, err := f.mgr.Start(ctx, "upstream", user)
		if err != nil {
			t.Fatalf("start for %q: %v", user, err)
		}
		u, _ := url.Parse(s.AuthorizationURL)
		return strings.Fields(u.Query().Get("scope"))
	}
	if sc := scopeOf("alice"); slices.Contains(sc, "write") {
		t.Fatalf("without a recorded challenge the probe decides: %v", sc)
	}
	f.mgr.Challenged("upstream", "alice", []string{`Bearer error="invalid_token", scope="write", resource_metadata="` + f.up.PRMURL() + `"`})
	if sc := scopeOf("alice"); !slices.Contains(sc, "write") || slices.Contains(sc, "read") {
		t.Fatalf("the recorded challenge's scope must be requested (and not the metadata's): %v", sc)
	}
	if sc := scopeOf("bob"); slices.Contains(sc, "write") {
		t.Fatalf("alice's challenge must not decide bob's authorization: %v", sc)
	}
	// Values without a bearer challenge change nothing.
	f.mgr.Challenged("upstream", "bob", []string{`Basic realm="x"`})
	if sc := scopeOf("bob"); slices.Contains(sc, "write") {
		t.Fatalf("a non-bearer challenge was used: %v", sc)
	}
	// The flow completes with the recorded challenge's scope.
	c := f.connect("alice")
	if !slices.Contains(c.Scopes, "write") {
		t.Fatalf("connection scopes: %v", c.Scopes)
	}
}
