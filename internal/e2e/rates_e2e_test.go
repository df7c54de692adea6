package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/e2e/gatewaytest"
	"github.com/mcpgate/mcpgate/internal/store/postgres/pgtest"
)

// A policy rate is one limit for the deployment, not one per replica:
// replicas on one PostgreSQL count into shared windows. Calls alternate
// between two replicas; exactly the rule's N are forwarded, the rest are
// refused with a retry time, and the grant's other tools are not affected.
func TestRateLimitIsSharedByReplicas(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const limit = 4
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(`
defaults: {"*": allow}
rules:
  - id: four-an-hour
    tools: [test_simple_text]
    effect: deny
    rate: 4/h
`), 0o600); err != nil {
		t.Fatal(err)
	}
	o := replicaOptions(pgtest.Schema(t))
	o.Env = append(o.Env, "MCPGATE_POLICY_FILE="+policyFile)
	o2 := o
	gws := gatewaytest.StartGateways(t, &o, &o2)
	up := gatewaytest.StartUpstream(t, true)
	gws[0].AddServer(t, "everything", up)
	_, token := gws[0].CreateGrant(t, "alice", "everything")
	for _, gw := range gws {
		waitForServer(ctx, t, gw, "everything", token)
	}
	// Windows are calendar hours: keep the calls inside one.
	if left := time.Until(time.Now().Truncate(time.Hour).Add(time.Hour)); left < 30*time.Second {
		time.Sleep(left + time.Second)
	}

	call := func(gw *gatewaytest.Gateway, tool string) mcpReply {
		t.Helper()
		r, err := mcpPost(ctx, newClient(), gw.URL("everything"), token, "", "tools/call",
			map[string]any{"name": tool, "arguments": map[string]any{}}, false)
		if err != nil {
			t.Fatalf("tools/call %s through %s: %v", tool, gw.BaseURL, err)
		}
		return r
	}
	forwarded := 0
	for i := range 10 {
		gw := gws[i%2]
		r := call(gw, "test_simple_text")
		switch {
		case r.ok():
			forwarded++
		case r.Error != nil && r.Error.Code == -32054 && strings.Contains(r.Error.Message, "four-an-hour") && strings.Contains(r.Error.Message, "retry in"):
		default:
			t.Fatalf("call %d through replica %d: %v; want a result or the rate's policy error", i+1, i%2, r)
		}
	}
	if forwarded != limit {
		t.Fatalf("%d of 10 calls alternating between two replicas were forwarded; want the rule's %d", forwarded, limit)
	}
	for _, gw := range gws {
		if r := call(gw, "test_error_handling"); r.Error != nil && r.Error.Code == -32054 {
			t.Fatalf("another tool was refused by the rate: %v", r)
		}
	}
	t.Logf("rate 4/h across two replicas: %d of 10 alternating calls forwarded", forwarded)
}
