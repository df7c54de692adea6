package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// evalCase is one call against a policy and what must come of it.
type evalCase struct {
	name string
	in   Input
	args string // JSON; "" for none
	// want
	allow  bool
	rule   string
	reason string // a substring of the reason
	dry    []string
}

func mustParse(t testing.TB, src string) *Policy {
	t.Helper()
	p, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

var noon = time.Date(2026, 1, 15, 11, 0, 0, 0, time.UTC) // 12:00 in Paris

func runEval(t *testing.T, src string, cases []evalCase) {
	t.Helper()
	p := mustParse(t, src)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			if c.args != "" {
				args, err := ParseArguments([]byte(c.args))
				if err != nil {
					t.Fatalf("ParseArguments: %v", err)
				}
				in.Args = args
			}
			if in.Now.IsZero() {
				in.Now = noon
			}
			d := p.Evaluate(in)
			if d.Allow != c.allow || d.RuleID != c.rule {
				t.Errorf("Evaluate = allow %v by %q (%s), want allow %v by %q", d.Allow, d.RuleID, d.Reason, c.allow, c.rule)
			}
			if d.Reason == "" || !strings.Contains(d.Reason, c.reason) {
				t.Errorf("reason %q does not contain %q", d.Reason, c.reason)
			}
			if diff := cmp.Diff(c.dry, d.DryRunDenials); diff != "" {
				t.Errorf("DryRunDenials (-want +got):\n%s", diff)
			}
			if d.RetryAfter != 0 {
				t.Errorf("RetryAfter = %v without a rate", d.RetryAfter)
			}
		})
	}
}

func TestRepositoryAllowList(t *testing.T) {
	runEval(t, `
defaults:
  github: deny
rules:
  - id: repo-allowlist
    description: Only acme repositories
    server: github
    tools: ["create_*", "get_issue"]
    effect: allow
    when: 'args.repo.startsWith("acme/") && !has(args.force)'
`, []evalCase{
		{name: "acme create", in: Input{Server: "github", Name: "create_issue"}, args: `{"repo":"acme/api","title":"x"}`,
			allow: true, rule: "repo-allowlist", reason: `allowed by rule "repo-allowlist": Only acme repositories`},
		{name: "acme get", in: Input{Server: "github", Name: "get_issue"}, args: `{"repo":"acme/api","number":7}`,
			allow: true, rule: "repo-allowlist"},
		{name: "other owner", in: Input{Server: "github", Name: "create_issue"}, args: `{"repo":"evil/api"}`,
			reason: `default for server "github" is deny`},
		{name: "prefix is not the owner", in: Input{Server: "github", Name: "create_issue"}, args: `{"repo":"acme-evil/api"}`,
			reason: `default for server "github" is deny`},
		{name: "force", in: Input{Server: "github", Name: "create_pull_request"}, args: `{"repo":"acme/api","force":true}`,
			reason: `default for server "github" is deny`},
		{name: "tool not listed", in: Input{Server: "github", Name: "list_repos"}, args: `{"repo":"acme/api"}`,
			reason: `default for server "github" is deny`},
		{name: "missing repo", in: Input{Server: "github", Name: "create_issue"}, args: `{}`,
			reason: `rule "repo-allowlist" did not apply: condition failed: no such key: repo`},
		{name: "repo not a string", in: Input{Server: "github", Name: "create_issue"}, args: `{"repo":42}`,
			reason: "condition failed"},
		{name: "no arguments", in: Input{Server: "github", Name: "create_issue"},
			reason: "condition failed"},
		{name: "other server, no default", in: Input{Server: "slack", Name: "create_issue"}, args: `{"repo":"evil/api"}`,
			allow: true, reason: `default for server "slack" is allow`},
	})
}

func TestReadOnlyTools(t *testing.T) {
	runEval(t, `
rules:
  - id: read-only
    description: this gateway is read-only
    tools: ["create_*", "delete_*", "update_*"]
    effect: deny
`, []evalCase{
		{name: "create", in: Input{Server: "github", Name: "create_issue"}, rule: "read-only",
			reason: `denied by rule "read-only": this gateway is read-only`},
		{name: "delete", in: Input{Server: "jira", Name: "delete_ticket"}, rule: "read-only"},
		{name: "update", in: Input{Server: "jira", Name: "update_ticket"}, rule: "read-only"},
		{name: "read", in: Input{Server: "github", Name: "get_issue"}, allow: true, reason: "is allow"},
		{name: "glob is anchored", in: Input{Server: "github", Name: "recreate_issue"}, allow: true},
		{name: "other method", in: Input{Server: "fs", Method: MethodResourcesRead, Name: "create_notes.txt"}, allow: true},
		{name: "unknown method", in: Input{Server: "fs", Method: "tools/list", Name: "create_x"}, allow: true},
	})
}

func TestBusinessHours(t *testing.T) {
	paris := func(month time.Month, day, hour, min int) time.Time {
		loc, err := time.LoadLocation("Europe/Paris")
		if err != nil {
			t.Fatal(err)
		}
		return time.Date(2026, month, day, hour, min, 0, 0, loc).UTC()
	}
	runEval(t, `
rules:
  - id: no-deletes-after-hours
    description: deletes only 9:00-18:00 Paris time
    tools: ["delete_*"]
    effect: deny
    when: 'now.getHours("Europe/Paris") < 9 || now.getHours("Europe/Paris") >= 18'
  - id: no-weekend-deploys
    tools: [deploy]
    effect: deny
    when: 'now.getDayOfWeek("Europe/Paris") in [0, 6]'
`, []evalCase{
		{name: "10:00", in: Input{Name: "delete_branch", Now: paris(1, 15, 10, 0)}, allow: true},
		{name: "08:59", in: Input{Name: "delete_branch", Now: paris(1, 15, 8, 59)}, rule: "no-deletes-after-hours"},
		{name: "09:00", in: Input{Name: "delete_branch", Now: paris(1, 15, 9, 0)}, allow: true},
		{name: "17:59", in: Input{Name: "delete_branch", Now: paris(1, 15, 17, 59)}, allow: true},
		{name: "18:00", in: Input{Name: "delete_branch", Now: paris(1, 15, 18, 0)}, rule: "no-deletes-after-hours"},
		// 16:30 UTC is 18:30 in Paris in summer: the zone, not UTC, decides.
		{name: "summer 16:30 UTC", in: Input{Name: "delete_branch", Now: time.Date(2026, 7, 1, 16, 30, 0, 0, time.UTC)},
			rule: "no-deletes-after-hours"},
		{name: "winter 16:30 UTC", in: Input{Name: "delete_branch", Now: time.Date(2026, 1, 15, 16, 30, 0, 0, time.UTC)},
			allow: true},
		{name: "not a delete", in: Input{Name: "get_branch", Now: paris(1, 15, 23, 0)}, allow: true},
		{name: "saturday", in: Input{Name: "deploy", Now: paris(1, 17, 12, 0)}, rule: "no-weekend-deploys"},
		{name: "friday", in: Input{Name: "deploy", Now: paris(1, 16, 12, 0)}, allow: true},
	})
}

func TestAmountLimit(t *testing.T) {
	runEval(t, `
defaults:
  payments: deny
rules:
  - id: small-payments
    server: payments
    tools: [create_payment]
    effect: allow
    when: 'args.amount <= 1000'
  - id: no-huge-refunds
    server: payments
    tools: [refund]
    effect: deny
    when: 'args.amount > 5000'
  - id: refunds
    server: payments
    tools: [refund]
    effect: allow
`, []evalCase{
		{name: "150", in: Input{Server: "payments", Name: "create_payment"}, args: `{"amount":150}`, allow: true, rule: "small-payments"},
		{name: "150.5", in: Input{Server: "payments", Name: "create_payment"}, args: `{"amount":150.5}`, allow: true, rule: "small-payments"},
		{name: "1000", in: Input{Server: "payments", Name: "create_payment"}, args: `{"amount":1000}`, allow: true, rule: "small-payments"},
		{name: "1e3", in: Input{Server: "payments", Name: "create_payment"}, args: `{"amount":1e3}`, allow: true, rule: "small-payments"},
		{name: "1000.01", in: Input{Server: "payments", Name: "create_payment"}, args: `{"amount":1000.01}`},
		{name: "huge exponent", in: Input{Server: "payments", Name: "create_payment"}, args: `{"amount":1e999}`},
		{name: "negative", in: Input{Server: "payments", Name: "create_payment"}, args: `{"amount":-5}`, allow: true, rule: "small-payments"},
		{name: "string amount", in: Input{Server: "payments", Name: "create_payment"}, args: `{"amount":"150"}`,
			reason: "condition failed"},
		{name: "refund 50", in: Input{Server: "payments", Name: "refund"}, args: `{"amount":50}`, allow: true, rule: "refunds"},
		{name: "refund 6000", in: Input{Server: "payments", Name: "refund"}, args: `{"amount":6000}`, rule: "no-huge-refunds"},
		{name: "refund without amount fails closed", in: Input{Server: "payments", Name: "refund"}, args: `{}`,
			rule: "no-huge-refunds", reason: `denied by rule "no-huge-refunds" (condition failed, failing closed: no such key: amount)`},
		{name: "refund with a string amount fails closed", in: Input{Server: "payments", Name: "refund"}, args: `{"amount":"6000"}`,
			rule: "no-huge-refunds", reason: "condition failed"},
	})
}

func TestUsersAndGrants(t *testing.T) {
	runEval(t, `
defaults:
  "*": deny
rules:
  - id: staff
    users: [alice, "team-*"]
    effect: allow
  - id: laptop
    grants: [laptop, gr_123]
    tools: [get_issue]
    effect: allow
  - id: no-ci-writes
    users: ["ci-*"]
    tools: ["create_*"]
    effect: deny
`, []evalCase{
		{name: "alice", in: Input{Server: "github", Name: "create_issue", User: "alice"}, allow: true, rule: "staff"},
		{name: "team member", in: Input{Server: "github", Name: "create_issue", User: "team-ops"}, allow: true, rule: "staff"},
		{name: "bob", in: Input{Server: "github", Name: "create_issue", User: "bob"}, reason: `default for server "github" is deny`},
		{name: "user glob is anchored", in: Input{Server: "github", Name: "create_issue", User: "xteam-ops"}},
		{name: "grant label", in: Input{Server: "github", Name: "get_issue", User: "bob", GrantLabel: "laptop"}, allow: true, rule: "laptop"},
		{name: "grant id", in: Input{Server: "github", Name: "get_issue", User: "bob", GrantID: "gr_123"}, allow: true, rule: "laptop"},
		{name: "other grant", in: Input{Server: "github", Name: "get_issue", User: "bob", GrantID: "gr_9", GrantLabel: "phone"}},
		{name: "grant on another tool", in: Input{Server: "github", Name: "create_issue", User: "bob", GrantLabel: "laptop"}},
		{name: "ci denied", in: Input{Server: "github", Name: "create_issue", User: "ci-main", GrantLabel: "laptop"}, rule: "no-ci-writes"},
	})
}

func TestConditionVariables(t *testing.T) {
	runEval(t, `
defaults:
  "*": deny
rules:
  - id: vars
    server: "*"
    tools: ["*"]
    methods: [tools/call, resources/read, prompts/get]
    effect: allow
    when: >
      user == "alice" && grant.id == "gr_1" && grant.label == "laptop" &&
      server == "fs" && tool.startsWith("file:///srv/") && method == "resources/read" &&
      now > timestamp("2026-01-01T00:00:00Z") && size(args) == 0
  - id: nested
    tools: [search]
    effect: allow
    when: 'args.filter.labels.exists(l, l == "bug") && args.page.size <= 50 && args.flags[1] == true'
`, []evalCase{
		{name: "all variables", in: Input{Server: "fs", Method: MethodResourcesRead, Name: "file:///srv/a/b.txt", User: "alice",
			GrantID: "gr_1", GrantLabel: "laptop"}, allow: true, rule: "vars"},
		{name: "wrong method", in: Input{Server: "fs", Method: MethodPromptsGet, Name: "file:///srv/a", User: "alice",
			GrantID: "gr_1", GrantLabel: "laptop"}},
		{name: "nested arguments", in: Input{Server: "s", Name: "search"},
			args: `{"filter":{"labels":["p1","bug"]},"page":{"size":20},"flags":[false,true]}`, allow: true, rule: "nested"},
		{name: "nested arguments, no match", in: Input{Server: "s", Name: "search"},
			args: `{"filter":{"labels":["p1"]},"page":{"size":20},"flags":[false,true]}`},
		{name: "nested arguments, index out of range", in: Input{Server: "s", Name: "search"},
			args: `{"filter":{"labels":["bug"]},"page":{"size":20},"flags":[]}`, reason: "condition failed"},
	})
}

func TestResourcesAndPrompts(t *testing.T) {
	runEval(t, `
defaults:
  files: deny
rules:
  - id: public-files
    server: files
    methods: [resources/read]
    tools: ["file:///srv/public/*"]
    effect: allow
  - id: prompts
    server: files
    methods: [prompts/get]
    tools: ["summarize"]
    effect: allow
`, []evalCase{
		{name: "public file", in: Input{Server: "files", Method: MethodResourcesRead, Name: "file:///srv/public/a.txt"},
			allow: true, rule: "public-files"},
		{name: "star does not cross /", in: Input{Server: "files", Method: MethodResourcesRead, Name: "file:///srv/public/x/a.txt"}},
		{name: "private file", in: Input{Server: "files", Method: MethodResourcesRead, Name: "file:///srv/private/a.txt"}},
		{name: "same name as a tool", in: Input{Server: "files", Name: "file:///srv/public/a.txt"}},
		{name: "prompt", in: Input{Server: "files", Method: MethodPromptsGet, Name: "summarize"}, allow: true, rule: "prompts"},
	})
}

func TestGlobServers(t *testing.T) {
	runEval(t, `
defaults:
  "*": deny
rules:
  - id: git-hosts
    server: "git*"
    tools: [get_file]
    effect: allow
  - id: any-server-ping
    server: "*"
    tools: [ping]
    effect: allow
  - id: exact
    server: jira
    effect: allow
`, []evalCase{
		{name: "github", in: Input{Server: "github", Name: "get_file"}, allow: true, rule: "git-hosts"},
		{name: "gitlab", in: Input{Server: "gitlab", Name: "get_file"}, allow: true, rule: "git-hosts"},
		{name: "bitbucket", in: Input{Server: "bitbucket", Name: "get_file"}, reason: `default for server "bitbucket" is deny`},
		{name: "ping anywhere", in: Input{Server: "bitbucket", Name: "ping"}, allow: true, rule: "any-server-ping"},
		{name: "exact server, any tool", in: Input{Server: "jira", Name: "anything/with/slashes"}, allow: true, rule: "exact"},
		{name: "exact server is exact", in: Input{Server: "jira2", Name: "x"}},
	})
}

func TestEvaluationOrder(t *testing.T) {
	runEval(t, `
defaults:
  "*": deny
  open: allow
rules:
  - id: allow-all-github
    server: github
    effect: allow
  - id: allow-issues
    server: github
    tools: [create_issue]
    effect: allow
  - id: deny-secrets
    server: github
    when: 'has(args.title) && args.title.contains("secret")'
    effect: deny
  - id: deny-secrets-again
    server: github
    when: 'has(args.title) && args.title.contains("secret")'
    effect: deny
  - id: deny-open-deletes
    server: open
    tools: ["delete_*"]
    effect: deny
`, []evalCase{
		{name: "deny overrides an earlier allow; first deny reported", in: Input{Server: "github", Name: "create_issue"},
			args: `{"title":"the secret plan"}`, rule: "deny-secrets"},
		{name: "first allow in file order", in: Input{Server: "github", Name: "create_issue"},
			args: `{"title":"hello"}`, allow: true, rule: "allow-all-github"},
		{name: "listed default", in: Input{Server: "open", Name: "get"}, allow: true, reason: `default for server "open" is allow`},
		{name: "deny over listed default", in: Input{Server: "open", Name: "delete_x"}, rule: "deny-open-deletes"},
		{name: "star default", in: Input{Server: "closed", Name: "get"}, reason: `default for server "closed" is deny`},
	})
}

func TestDryRun(t *testing.T) {
	runEval(t, `
rules:
  - id: would-block-deletes
    tools: ["delete_*"]
    effect: deny
    mode: dry-run
  - id: would-block-big
    effect: deny
    mode: dry-run
    when: 'args.size > 10'
  - id: block-admin
    tools: [delete_admin]
    effect: deny
  - id: dry-allow-is-inert
    tools: [get]
    effect: allow
    mode: dry-run
`, []evalCase{
		{name: "would deny, proceeds", in: Input{Server: "s", Name: "delete_x"}, args: `{"size":1}`, allow: true,
			dry: []string{"would-block-deletes"}},
		{name: "two would deny", in: Input{Server: "s", Name: "delete_x"}, args: `{"size":11}`, allow: true,
			dry: []string{"would-block-deletes", "would-block-big"}},
		{name: "condition failure would deny", in: Input{Server: "s", Name: "get"}, args: `{}`, allow: true,
			dry: []string{"would-block-big"}},
		{name: "enforced deny still reports dry-run", in: Input{Server: "s", Name: "delete_admin"}, args: `{"size":1}`,
			rule: "block-admin", dry: []string{"would-block-deletes"}},
		{name: "nothing", in: Input{Server: "s", Name: "get"}, args: `{"size":1}`, allow: true},
	})
}

func TestNilPolicyAndEmptyPolicy(t *testing.T) {
	var p *Policy
	if d := p.Evaluate(Input{Server: "s", Name: "t"}); !d.Allow || d.Reason == "" {
		t.Errorf("nil policy: %+v", d)
	}
	if !p.Visible(Input{Server: "s", Name: "t"}) {
		t.Error("nil policy hides")
	}
	for _, src := range []string{"", "---\n", "# nothing\n", "defaults: {}\nrules: []\n"} {
		p := mustParse(t, src)
		if d := p.Evaluate(Input{Server: "s", Name: "t"}); !d.Allow || d.Reason != `default for server "s" is allow` {
			t.Errorf("%q: %+v", src, d)
		}
	}
}

func TestNowDefaultsToClock(t *testing.T) {
	p := mustParse(t, `
rules:
  - id: future
    effect: deny
    when: 'now < timestamp("2000-01-01T00:00:00Z")'
`)
	if d := p.Evaluate(Input{Server: "s", Name: "t"}); !d.Allow {
		t.Errorf("zero Now was not replaced by the clock: %+v", d)
	}
}

func TestVisible(t *testing.T) {
	p := mustParse(t, `
defaults:
  github: deny
  "*": allow
rules:
  - id: read-only
    tools: ["delete_*"]
    effect: deny
  - id: issues
    server: github
    tools: [get_issue]
    effect: allow
  - id: acme-only
    server: github
    tools: [create_issue]
    effect: allow
    when: 'args.repo.startsWith("acme/")'
  - id: big-bodies
    server: github
    tools: [get_issue]
    effect: deny
    when: 'size(args.body) > 1000'
  - id: limited
    server: slack
    tools: [post]
    effect: deny
    rate: 1/m
  - id: dry
    server: slack
    tools: [archive]
    effect: deny
    mode: dry-run
  - id: alice-admin
    server: github
    users: [alice]
    tools: [admin]
    effect: allow
  - id: no-bots
    users: ["bot-*"]
    effect: deny
`)
	cases := []struct {
		in   Input
		want bool
	}{
		{Input{Server: "github", Name: "get_issue"}, true},      // allow rule, a conditional deny does not hide
		{Input{Server: "github", Name: "create_issue"}, true},   // conditional allow could allow
		{Input{Server: "github", Name: "list_repos"}, false},    // default deny, no allow rule
		{Input{Server: "github", Name: "delete_repo"}, false},   // unconditional deny
		{Input{Server: "slack", Name: "delete_channel"}, false}, // unconditional deny, default allow
		{Input{Server: "slack", Name: "post"}, true},            // a rate is not a deny
		{Input{Server: "slack", Name: "archive"}, true},         // dry-run is not enforced
		{Input{Server: "github", Name: "admin", User: "alice"}, true},
		{Input{Server: "github", Name: "admin", User: "bob"}, false},
		{Input{Server: "slack", Name: "post", User: "bot-1"}, false},
		{Input{Server: "github", Method: MethodResourcesRead, Name: "get_issue"}, false}, // rules are for tools/call
		{Input{Server: "slack", Method: MethodResourcesRead, Name: "delete_x"}, true},
	}
	for _, c := range cases {
		if got := p.Visible(c.in); got != c.want {
			t.Errorf("Visible(%+v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestVisibleAgreesWithEvaluate checks that a hidden name is never allowed.
func TestVisibleAgreesWithEvaluate(t *testing.T) {
	p := benchPolicy(t)
	ins, _ := benchInputs(t)
	for _, in := range ins {
		for _, name := range []string{in.Name, "op_0", "op_9", "delete_x", "other"} {
			in := in
			in.Name = name
			if !p.Visible(in) && p.Evaluate(in).Allow {
				t.Errorf("%s/%s for %s: hidden but allowed", in.Server, name, in.User)
			}
		}
	}
}

func TestConcurrentEvaluate(t *testing.T) {
	p := benchPolicy(t)
	ins, want := benchInputs(t)
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				k := (i + g) % len(ins)
				if d := p.Evaluate(ins[k]); d.RuleID != want[k] {
					t.Errorf("input %d: %+v", k, d)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}

func TestNeedsArguments(t *testing.T) {
	p := mustParse(t, `
rules:
  - id: repo
    server: github
    tools: ["create_*"]
    effect: allow
    when: 'args.repo.startsWith("acme/")'
  - id: hours
    server: github
    tools: ["delete_*"]
    effect: deny
    when: 'now.getHours("Europe/Paris") < 9'
  - id: alice-size
    users: [alice]
    effect: deny
    mode: dry-run
    when: 'size(args) > 10'
  - id: shadowed
    server: other
    effect: deny
    when: '[1, 2].exists(x, x > 1) && user == "bob"'
`)
	cases := []struct {
		in   Input
		want bool
	}{
		{Input{Server: "github", Name: "create_issue"}, true},
		{Input{Server: "github", Name: "delete_repo"}, false},
		{Input{Server: "github", Name: "get_issue"}, false},
		{Input{Server: "slack", Name: "post", User: "alice"}, true},
		{Input{Server: "other", Name: "x"}, false},
		{Input{Server: "github", Method: MethodResourcesRead, Name: "create_x"}, false},
	}
	for _, c := range cases {
		if got := p.NeedsArguments(c.in); got != c.want {
			t.Errorf("NeedsArguments(%+v) = %v, want %v", c.in, got, c.want)
		}
	}
	var nilPolicy *Policy
	if nilPolicy.NeedsArguments(Input{}) {
		t.Error("nil policy needs arguments")
	}
}
