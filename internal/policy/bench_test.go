package policy

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/policy/policygen"
)

// benchPolicy is policygen's 100 rules (servers github, gitlab, stripe,
// slack and jira).
func benchPolicy(tb testing.TB) *Policy {
	tb.Helper()
	src, n, _ := policygen.Hundred("github", "")
	if n != 100 {
		tb.Fatalf("bench policy has %d rules", n)
	}
	p, err := Parse([]byte(src))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

var benchArgs = []byte(policygen.Args)

// benchInputs is a mix of calls and the rule that decides each.
func benchInputs(tb testing.TB) ([]Input, []string) {
	tb.Helper()
	parse := func(raw string) map[string]any {
		m, err := ParseArguments([]byte(raw))
		if err != nil {
			tb.Fatal(err)
		}
		return m
	}
	common := parse(string(benchArgs))
	forced := parse(`{"repo":"acme/api","count":5,"force":true,"labels":[]}`)
	foreign := parse(`{"repo":"evil/api","count":5,"labels":["x"]}`)
	money := parse(`{"repo":"acme/pay","count":1,"amount":1500,"labels":[]}`)
	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC) // 11:00 in Paris
	night := time.Date(2026, 3, 4, 22, 0, 0, 0, time.UTC)
	ins := []Input{
		{Server: "github", Name: "op_3", User: "alice", GrantID: "gr_1", GrantLabel: "laptop", Args: common, Now: at},
		{Server: "gitlab", Name: "op_1", User: "alice", GrantID: "gr_1", Args: forced, Now: at},
		{Server: "stripe", Name: "op_5", User: "team-pay", GrantID: "gr_2", Args: common, Now: at},
		{Server: "slack", Name: "delete_channel", User: "alice", GrantID: "gr_1", Args: common, Now: night},
		{Server: "jira", Name: "op_7", User: "bot-ci", GrantID: "gr_3", Args: money, Now: at},
		{Server: "github", Name: "op_0", User: "alice", GrantID: "gr_1", Args: foreign, Now: at},
		{Server: "jira", Name: "unknown_tool", User: "alice", GrantID: "gr_1", Args: common, Now: at},
		{Server: "slack", Name: "op_2", User: "alice", GrantID: "gr_1", Args: common, Now: at},
	}
	want := []string{"r7", "r22", "r47", "r71", "r90", "", "", "r59"}
	return ins, want
}

func BenchmarkEvaluate100Rules(b *testing.B) {
	p := benchPolicy(b)
	ins, want := benchInputs(b)
	for i, in := range ins {
		if d := p.Evaluate(in); d.RuleID != want[i] {
			b.Fatalf("input %d: decision = %+v, want rule %q", i, d, want[i])
		}
	}
	b.ReportAllocs()
	i := 0
	loopCPU(b, func() {
		p.Evaluate(ins[i%len(ins)])
		i++
	})
}

// BenchmarkEvaluate100RulesParallel measures contention on shared state.
func BenchmarkEvaluate100RulesParallel(b *testing.B) {
	p := benchPolicy(b)
	ins, _ := benchInputs(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			p.Evaluate(ins[i%len(ins)])
			i++
		}
	})
}

func BenchmarkParseArguments(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchArgs)))
	loopCPU(b, func() {
		if _, err := ParseArguments(benchArgs); err != nil {
			b.Fatal(err)
		}
	})
}

// loopCPU runs f b.N times and, where the platform tells, also reports the
// CPU time of the loop's thread per op: ns/op counts time spent waiting for
// a core, which dominates on a loaded machine.
func loopCPU(b *testing.B, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, ok := threadCPU()
	for b.Loop() {
		f()
	}
	if end, ok2 := threadCPU(); ok && ok2 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkEvaluate100RulesOneTool is the worst case the index cannot help:
// 100 conditional rules that all match the call and must all be evaluated
// (99 deny rules whose conditions are false, then an allow rule).
func BenchmarkEvaluate100RulesOneTool(b *testing.B) {
	var src strings.Builder
	src.WriteString("defaults:\n  \"*\": deny\nrules:\n")
	for i := range 99 {
		fmt.Fprintf(&src, "  - id: d%d\n    effect: deny\n    when: 'has(args.title) && args.title.contains(\"forbidden-%d\")'\n", i, i)
	}
	src.WriteString("  - id: ok\n    effect: allow\n    when: 'args.repo.startsWith(\"acme/\")'\n")
	p, err := Parse([]byte(src.String()))
	if err != nil {
		b.Fatal(err)
	}
	args, err := ParseArguments(benchArgs)
	if err != nil {
		b.Fatal(err)
	}
	in := Input{Server: "github", Name: "create_issue", User: "alice", GrantID: "gr_1", Args: args, Now: time.Now()}
	if d := p.Evaluate(in); !d.Allow || d.RuleID != "ok" {
		b.Fatalf("decision = %+v", d)
	}
	b.ReportAllocs()
	loopCPU(b, func() { p.Evaluate(in) })
}
