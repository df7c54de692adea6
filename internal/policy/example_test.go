package policy_test

import (
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate/internal/policy"
)

func Example() {
	p, err := policy.Parse([]byte(`
defaults:
  github: deny
rules:
  - id: repo-allowlist
    description: only acme repositories
    server: github
    tools: ["create_*", "get_issue"]
    effect: allow
    when: 'args.repo.startsWith("acme/")'
  - id: no-force
    server: github
    effect: deny
    when: 'has(args.force) && args.force'
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, raw := range []string{
		`{"repo":"acme/api","title":"Fix"}`,
		`{"repo":"acme/api","force":true}`,
		`{"repo":"evil/api"}`,
	} {
		args, err := policy.ParseArguments([]byte(raw))
		if err != nil {
			fmt.Println(err)
			return
		}
		d := p.Evaluate(policy.Input{Server: "github", Name: "create_issue", User: "alice", Args: args, Now: time.Now()})
		fmt.Printf("%v %q: %s\n", d.Allow, d.RuleID, d.Reason)
	}
	// Output:
	// true "repo-allowlist": allowed by rule "repo-allowlist": only acme repositories
	// false "no-force": denied by rule "no-force"
	// false "": default for server "github" is deny
}

func ExampleParse_error() {
	_, err := policy.Parse([]byte(`
rules:
  - id: amounts
    effect: deny
    when: 'args.amount'
`))
	fmt.Println(err)
	// Output:
	// policy:5:11: rule "amounts": when: condition must be boolean, not dyn
}
