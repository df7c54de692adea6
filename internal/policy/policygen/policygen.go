// Package policygen writes the 100-rule policy that the policy benchmarks
// share (the Go benchmarks of internal/policy and internal/httpapi, and M4
// of cmd/mcpgate-bench), so that they all measure the same rules.
package policygen

import (
	"fmt"
	"strings"
)

// Args is the arguments JSON of the benchmarked call.
const Args = `{"repo":"acme/api","title":"Fix the login bug","count":5,"labels":["bug","p1"],"amount":250.5,"body":"Steps to reproduce: open the page, click login."}`

// Hundred returns a policy of 100 rules with CEL argument conditions over
// five servers, first and then gitlab, stripe, slack and jira: for each,
// eight tools op_0…op_7 with an allow rule and a deny rule, a time-of-day
// deny on delete_* and a limit for bot users; then ten rules on glob
// servers. The first server's op_3 is named tool3 instead, if given.
//
// A call of first's fourth tool with Args by a user who is neither a bot nor
// on a team meets seven rules and is allowed by r7 after every deny rule it
// meets was evaluated; meets counts the rules that call meets.
func Hundred(first, tool3 string) (src string, rules, meets int) {
	var b strings.Builder
	b.WriteString("defaults:\n  \"*\": deny\nrules:\n")
	rule := func(matches bool, format string, args ...any) {
		rules++
		if matches {
			meets++
		}
		fmt.Fprintf(&b, "  - id: r%d\n", rules)
		fmt.Fprintf(&b, format, args...)
	}
	for si, s := range []string{first, "gitlab", "stripe", "slack", "jira"} {
		for t := range 8 {
			tool := fmt.Sprintf("op_%d", t)
			if si == 0 && t == 3 && tool3 != "" {
				tool = tool3
			}
			on := si == 0 && t == 3
			rule(on, "    server: %s\n    tools: [%s]\n    effect: allow\n    when: 'args.repo.startsWith(\"acme/\") && args.count <= %d.0'\n", s, tool, 50+t)
			rule(on, "    server: %s\n    tools: [%s]\n    effect: deny\n    when: 'has(args.force) && args.force == true'\n", s, tool)
		}
		rule(false, "    server: %s\n    tools: [\"delete_*\"]\n    effect: deny\n    when: 'now.getHours(\"Europe/Paris\") < 9 || now.getHours(\"Europe/Paris\") >= 18'\n", s)
		rule(false, "    server: %s\n    tools: [\"*\"]\n    users: [\"bot-*\"]\n    effect: deny\n    when: 'args.amount > 1000.0'\n", s)
	}
	for i := range 10 {
		switch i % 4 {
		case 0:
			rule(true, "    server: \"*\"\n    effect: deny\n    when: 'has(args.path) && args.path.contains(\"..\")'\n")
		case 1:
			rule(false, "    server: \"git*\"\n    effect: deny\n    when: '\"secret\" in args.labels'\n")
		case 2:
			rule(true, "    server: \"*\"\n    effect: deny\n    mode: dry-run\n    when: 'has(args.amount) && args.amount > %d.0'\n", 500+i)
		case 3:
			rule(false, "    server: \"*\"\n    users: [\"team-*\"]\n    effect: deny\n    when: 'has(args.title) && args.title.matches(\"(?i)drop table\")'\n")
		}
	}
	return b.String(), rules, meets
}
