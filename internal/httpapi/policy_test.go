package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// countingUpstream is a real SDK server whose tools count their calls, so a
// test can prove a denied call never reached it.
type countingUpstream struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls map[string]int
}

func newCountingUpstream(t testing.TB, stateless, jsonResponse bool) *countingUpstream {
	u := &countingUpstream{calls: map[string]int{}}
	s := mcp.NewServer(&mcp.Implementation{Name: "github-like", Version: "1"}, nil)
	for _, name := range []string{"get_issue", "create_issue", "delete_repo", "pay"} {
		mcp.AddTool(s, &mcp.Tool{Name: name}, func(ctx context.Context, req *mcp.CallToolRequest, args map[string]any) (*mcp.CallToolResult, any, error) {
			u.mu.Lock()
			u.calls[name]++
			u.mu.Unlock()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " done"}}}, nil, nil
		})
	}
	u.srv = httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: stateless, JSONResponse: jsonResponse}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *countingUpstream) count(tool string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[tool]
}

const testPolicy = `
defaults:
  "*": allow
rules:
  - id: no-deletes
    server: github
    tools: ["delete_*"]
    effect: deny
    description: repositories are never deleted through agents
  - id: acme-only
    server: github
    tools: [create_issue]
    effect: deny
    when: '!args.repo.startsWith("acme/")'
  - id: small-payments
    server: github
    tools: [pay]
    effect: deny
    when: 'args.amount > 1000.0'
  - id: mallory-read-only
    server: github
    users: [mallory]
    tools: ["create_*", "pay"]
    effect: deny
`

func writePolicy(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyEnforcedThroughGateway(t *testing.T) {
	for _, mode := range []struct {
		name            string
		stateless, json bool
	}{{"sse-stateful", false, false}, {"json-stateless", true, true}} {
		t.Run(mode.name, func(t *testing.T) {
			up := newCountingUpstream(t, mode.stateless, mode.json)
			gw := newGateway(t, gatewayOptions{policyFile: writePolicy(t, testPolicy)})
			gw.addServer("github", up.srv.URL, nil)
			alice, err := connect(t, gw.mcpURL("github"), gw.grant("alice", "", "github").Token)
			if err != nil {
				t.Fatal(err)
			}
			defer alice.Close()
			mallory, err := connect(t, gw.mcpURL("github"), gw.grant("mallory", "", "github").Token)
			if err != nil {
				t.Fatal(err)
			}
			defer mallory.Close()

			names := func(cs *mcp.ClientSession) []string {
				res, err := cs.ListTools(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, tool := range res.Tools {
					out = append(out, tool.Name)
				}
				slices.Sort(out)
				return out
			}
			if got := names(alice); !slices.Equal(got, []string{"create_issue", "get_issue", "pay"}) {
				t.Errorf("alice sees %v", got)
			}
			if got := names(mallory); !slices.Equal(got, []string{"get_issue"}) {
				t.Errorf("mallory sees %v", got)
			}

			call := func(cs *mcp.ClientSession, tool string, args map[string]any) (*mcp.CallToolResult, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
			}
			tests := []struct {
				cs       *mcp.ClientSession
				tool     string
				args     map[string]any
				deniedBy string
			}{
				{alice, "get_issue", map[string]any{"repo": "x/y"}, ""},
				{alice, "create_issue", map[string]any{"repo": "acme/web"}, ""},
				{alice, "create_issue", map[string]any{"repo": "evil/web"}, "acme-only"},
				{alice, "delete_repo", map[string]any{"repo": "acme/web"}, "no-deletes"},
				{alice, "pay", map[string]any{"amount": 999.5}, ""},
				{alice, "pay", map[string]any{"amount": 1500}, "small-payments"},
				{alice, "pay", map[string]any{}, "small-payments"}, // condition error: fail closed
				{mallory, "create_issue", map[string]any{"repo": "acme/web"}, "mallory-read-only"},
			}
			for _, tt := range tests {
				before := up.count(tt.tool)
				res, err := call(tt.cs, tt.tool, tt.args)
				after := up.count(tt.tool)
				if tt.deniedBy == "" {
					if err != nil || res.IsError || after != before+1 {
						t.Errorf("%s %v: want allowed and forwarded, got %v (upstream calls %d→%d)", tt.tool, tt.args, err, before, after)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("policy rule %q", tt.deniedBy)) {
					t.Errorf("%s %v: want denied by %s, got %v", tt.tool, tt.args, tt.deniedBy, err)
				}
				if after != before {
					t.Errorf("%s %v: a denied call reached the upstream", tt.tool, tt.args)
				}
			}

			// Every decision is in the audit log.
			var events []mcpgate.AuditEvent
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				events, _ = gw.store.QueryAudit(context.Background(), mcpgate.AuditQuery{Limit: 100})
				if len(events) >= len(tests) {
					break
				}
			}
			if len(events) != len(tests) {
				t.Fatalf("audit rows: %d, want %d", len(events), len(tests))
			}
			denied := 0
			for _, e := range events {
				if e.Decision == mcpgate.DecisionDeny {
					denied++
					if e.RuleID == "" || e.Reason == "" || e.UpstreamStatus != 0 {
						t.Errorf("deny row: %+v", e)
					}
				} else if e.UpstreamStatus != 200 {
					t.Errorf("allow row without the upstream status: %+v", e)
				}
				if e.ClientName == "" && !mode.stateless {
					t.Errorf("audit row without the client name: %+v", e)
				}
			}
			if denied != 5 {
				t.Errorf("denied rows: %d, want 5", denied)
			}
		})
	}
}

func TestPolicyRefusesDuplicateKeysAndMismatchedHeaders(t *testing.T) {
	up := newCountingUpstream(t, true, true)
	gw := newGateway(t, gatewayOptions{policyFile: writePolicy(t, testPolicy)})
	gw.addServer("github", up.srv.URL, nil)
	tok := gw.grant("alice", "", "github").Token
	hdr := map[string]string{"MCP-Protocol-Version": "2026-07-28"}
	// Each of these would let the rule read one value and an upstream that
	// decodes with encoding/json (last one wins, member names matched
	// ignoring case) another.
	for _, tt := range []struct{ name, body, says string }{
		{"repeated argument", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_issue","arguments":{"repo":"acme/x","repo":"evil/x"}}}`, "duplicate"},
		{"repeated arguments", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_issue","arguments":{"repo":"acme/x"},"arguments":{"repo":"evil/x"}}}`, "params.arguments appears twice"},
		{"arguments in another case", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_issue","arguments":{"repo":"acme/x"},"Arguments":{"repo":"evil/x"}}}`, "params.arguments appears twice"},
		{"params in another case", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_issue","arguments":{"repo":"acme/x"}},"PARAMS":{"name":"create_issue","arguments":{"repo":"evil/x"}}}`, "appears twice"},
	} {
		resp := gw.post("github", tok, tt.body, hdr)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: status %d", tt.name, resp.StatusCode)
		}
		if code, msg := rpcError(t, resp); code != -32600 || !strings.Contains(msg, tt.says) {
			t.Fatalf("%s: %d %q, want -32600 saying %q", tt.name, code, msg, tt.says)
		}
	}
	up.mu.Lock()
	if n := up.calls["create_issue"]; n != 0 {
		t.Fatalf("the upstream got %d of the refused calls", n)
	}
	up.mu.Unlock()
	mismatch := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_issue","arguments":{}}}`
	hdr["Mcp-Method"], hdr["Mcp-Name"] = "tools/call", "delete_repo"
	if resp := gw.post("github", tok, mismatch, hdr); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("Mcp-Name mismatch: status %d", resp.StatusCode)
	} else if code, _ := rpcError(t, resp); code != -32020 {
		t.Fatalf("Mcp-Name mismatch: code %d", code)
	}
	if up.count("create_issue")+up.count("get_issue") != 0 {
		t.Fatal("a refused request reached the upstream")
	}
}

// Rewriting the policy file under load fails no request, and the new rules
// take over.
func TestPolicyReloadUnderLoad(t *testing.T) {
	up := newCountingUpstream(t, true, true)
	path := writePolicy(t, testPolicy)
	gw := newGateway(t, gatewayOptions{policyFile: path})
	gw.addServer("github", up.srv.URL, nil)
	cs, err := connect(t, gw.mcpURL("github"), gw.grant("alice", "", "github").Token)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	stop := make(chan struct{})
	var failed, ok atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_issue", Arguments: map[string]any{"repo": "acme/x"}})
				cancel()
				if err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	for i := range 30 {
		body := testPolicy
		if i%3 == 2 {
			body = "rules: [ this is not a policy" // refused; the old policy stays
		}
		os.WriteFile(path, []byte(body+fmt.Sprintf("\n# revision %d\n", i)), 0o600)
		var st adminapi.PolicyStatus
		gw.admin("POST", "/api/v1/policy/reload", nil, &st)
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Fatalf("during reloads: %d ok, %d failed", ok.Load(), failed.Load())
	}
	// A bad file is refused with its position, and the policy stays in force.
	os.WriteFile(path, []byte("rules:\n  - id: x\n    effect: maybe\n"), 0o600)
	var e adminapi.ErrorBody
	if code := gw.admin("POST", "/api/v1/policy/reload", nil, &e); code != http.StatusBadRequest || !strings.Contains(e.Error.Message, ":3:") {
		t.Fatalf("bad policy: %d %+v", code, e)
	}
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "delete_repo", Arguments: map[string]any{}}); err == nil {
		t.Fatal("the previous policy must stay in force")
	}
}

func TestPolicyTestEndpoint(t *testing.T) {
	gw := newGateway(t, gatewayOptions{policyFile: writePolicy(t, testPolicy)})
	var d adminapi.PolicyDecision
	gw.admin("POST", "/api/v1/policy/test", adminapi.PolicyTestRequest{User: "alice", Server: "github", Name: "pay", Args: []byte(`{"amount": 5000}`)}, &d)
	if d.Allow || d.RuleID != "small-payments" || !d.Visible {
		t.Fatalf("decision: %+v", d)
	}
	gw.admin("POST", "/api/v1/policy/test", adminapi.PolicyTestRequest{User: "mallory", Server: "github", Name: "pay"}, &d)
	if d.Allow || d.Visible {
		t.Fatalf("mallory pay: %+v", d)
	}
}

func TestPolicyRateLimit(t *testing.T) {
	up := newCountingUpstream(t, true, true)
	gw := newGateway(t, gatewayOptions{policyFile: writePolicy(t, `
rules:
  - id: two-reads-a-minute
    server: github
    tools: [get_issue]
    effect: allow
    rate: 2/m
`)})
	gw.addServer("github", up.srv.URL, nil)
	call := func(token string) error {
		cs, err := connect(t, gw.mcpURL("github"), token)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		_, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_issue", Arguments: map[string]any{}})
		return err
	}
	tok := gw.grant("alice", "", "github").Token
	for i := range 2 {
		if err := call(tok); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if err := call(tok); err == nil || !strings.Contains(err.Error(), "two-reads-a-minute") || !strings.Contains(err.Error(), "retry after") {
		t.Fatalf("third call: %v", err)
	}
	if n := up.count("get_issue"); n != 2 {
		t.Fatalf("upstream saw %d calls, want 2", n)
	}
	// Another grant has its own budget.
	if err := call(gw.grant("alice", "", "github").Token); err != nil {
		t.Fatalf("another grant: %v", err)
	}
}
