package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseFullRule(t *testing.T) {
	p := mustParse(t, `
defaults:            # per-server default effect
  "*": allow
  github: deny
rules:
  - id: repo-allowlist
    description: Only acme repositories
    server: github
    tools: ["create_*", "get_issue"]
    methods: [tools/call]
    users: [alice, "team-*"]
    grants: [gr_123, laptop]
    effect: allow
    when: 'args.repo.startsWith("acme/") && !has(args.force)'
    rate: 10/m
    mode: enforce
`)
	if len(p.rules) != 1 {
		t.Fatalf("%d rules", len(p.rules))
	}
	r := p.rules[0]
	if r.id != "repo-allowlist" || r.description != "Only acme repositories" || r.server.s != "github" ||
		len(r.names) != 2 || r.methods != methodBit(MethodToolsCall) || len(r.users) != 2 || len(r.grants) != 2 ||
		r.effect != Allow || r.prog == nil || r.rate != (Rate{N: 10, Per: time.Minute}) || r.mode != Enforce {
		t.Errorf("rule = %+v", r)
	}
	if p.defaultEffect("github") != Deny || p.defaultEffect("slack") != Allow {
		t.Errorf("defaults = %v", p.defaults)
	}
}

func TestParseRates(t *testing.T) {
	for src, want := range map[string]Rate{
		"1/s":    {1, time.Second},
		"10/m":   {10, time.Minute},
		"5000/h": {5000, time.Hour},
	} {
		got, err := parseRate(src)
		if err != nil || got != want || got.String() != src {
			t.Errorf("parseRate(%q) = %v, %v", src, got, err)
		}
	}
	for _, src := range []string{"", "10", "0/m", "-1/m", "10/d", "10/min", "x/m", "10/ m", "1e3/s", "2000000000/s"} {
		if _, err := parseRate(src); err == nil {
			t.Errorf("parseRate(%q) succeeded", src)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name       string
		src        string
		line, col  int
		rule, text string
	}{
		{"unknown top-level key", "defaults: {}\nrule: []\n", 2, 1, "", `unknown key "rule"`},
		{"unknown rule key", "rules:\n  - id: a\n    effect: allow\n    tool: [x]\n", 4, 5, "a", `unknown key "tool"`},
		{"missing id", "rules:\n  - effect: allow\n", 2, 5, "", "needs an id"},
		{"empty id", "rules:\n  - id: ''\n    effect: allow\n", 2, 5, "", "needs an id"},
		{"duplicate id", "rules:\n  - id: a\n    effect: allow\n  - id: a\n    effect: deny\n", 4, 5, "a", "duplicate rule id"},
		{"missing effect", "rules:\n  - id: a\n    tools: [x]\n", 2, 5, "a", "effect is required"},
		{"bad effect", "rules:\n  - id: a\n    effect: permit\n", 3, 13, "a", `effect must be allow or deny, not "permit"`},
		{"bad mode", "rules:\n  - id: a\n    effect: deny\n    mode: audit\n", 4, 11, "a", "mode must be"},
		{"bad glob", "rules:\n  - id: a\n    effect: deny\n    tools: [ok, \"[x\"]\n", 4, 17, "a", "bad glob"},
		{"bad server glob", "rules:\n  - id: a\n    effect: deny\n    server: \"[\"\n", 4, 13, "a", "bad glob"},
		{"empty tools", "rules:\n  - id: a\n    effect: deny\n    tools: []\n", 4, 12, "a", "must not be empty"},
		{"tools not a list", "rules:\n  - id: a\n    effect: deny\n    tools: create_issue\n", 4, 12, "a", "must be a list"},
		{"null server", "rules:\n  - id: a\n    effect: deny\n    server: ~\n", 4, 13, "a", "must be a string"},
		{"bad method", "rules:\n  - id: a\n    effect: deny\n    methods: [tools/list]\n", 4, 15, "a", "methods entries must be"},
		{"bad rate", "rules:\n  - id: a\n    effect: deny\n    rate: 10/d\n", 4, 11, "a", "rate unit"},
		{"CEL syntax", "rules:\n  - id: a\n    effect: deny\n    when: 'args.x ==='\n", 4, 11, "a", "when:"},
		{"CEL unknown variable", "rules:\n  - id: a\n    effect: deny\n    when: 'request.x == 1'\n", 4, 11, "a", "undeclared reference"},
		{"CEL not boolean", "rules:\n  - id: a\n    effect: deny\n    when: 'user + \"x\"'\n", 4, 11, "a", "must be boolean, not string"},
		{"CEL dyn is not boolean", "rules:\n  - id: a\n    effect: deny\n    when: 'args.flag'\n", 4, 11, "a", "must be boolean"},
		{"CEL type error", "rules:\n  - id: a\n    effect: deny\n    when: 'user > 3'\n", 4, 11, "a", "no matching overload"},
		{"empty when", "rules:\n  - id: a\n    effect: deny\n    when: ' '\n", 4, 11, "a", "must not be empty"},
		{"duplicate key", "rules:\n  - id: a\n    effect: deny\n    effect: allow\n", 4, 5, "a", `duplicate key "effect"`},
		{"duplicate top key", "rules: []\nrules: []\n", 2, 1, "", `duplicate key "rules"`},
		{"alias", "x: &t [a]\n", 1, 1, "", `unknown key "x"`},
		{"alias in rule", "rules:\n  - id: a\n    effect: deny\n    tools: &t [a]\n    users: *t\n", 5, 12, "a", "aliases are not supported"},
		{"bad default", "defaults:\n  github: maybe\n", 2, 11, "", "effect must be allow or deny"},
		{"glob default", "defaults:\n  \"git*\": deny\n", 2, 3, "", "defaults keys are server names"},
		{"rules not a list", "rules: {id: a}\n", 1, 8, "", "rules must be a list"},
		{"rule not a mapping", "rules:\n  - a\n", 2, 5, "", "a rule must be a mapping"},
		{"root not a mapping", "- a\n", 1, 1, "", "expected a mapping"},
		{"two documents", "rules: []\n---\nrules: []\n", 2, 1, "", "single YAML document"},
		{"syntax", "rules: [\n", 1, 0, "", "yaml: did not find expected node content"},
		{"syntax without a line", "a: 'x", 0, 0, "", "yaml: found unexpected end of stream"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.src))
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error = %v, want *Error", err)
			}
			if pe.Line != c.line || pe.Column != c.col || pe.Rule != c.rule || !strings.Contains(pe.Msg, c.text) {
				t.Errorf("error = %+v (%v), want line %d col %d rule %q containing %q", pe, err, c.line, c.col, c.rule, c.text)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	_, err := Parse([]byte("rules:\n  - id: repo-allowlist\n    effect: allow\n    when: 'args.repo'\n"))
	const want = `policy:4:11: rule "repo-allowlist": when: condition must be boolean, not dyn`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}
