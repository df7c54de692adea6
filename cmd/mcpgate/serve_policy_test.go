package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfigValidatesThePolicy(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	good := write("good.yaml", "policy:\n  rules:\n    - id: r\n      effect: deny\n      tools: [delete_*]\n")
	if out := mustRun(t, "serve", "--check-config", "--config", good, "--data-dir", filepath.Join(dir, "d")); !strings.Contains(out, "valid") {
		t.Fatalf("good inline policy: %q", out)
	}
	badInline := write("bad.yaml", "policy:\n  rules:\n    - id: r\n      effect: deny\n      when: 'args.x +'\n")
	if r := runCLI(t, "", "serve", "--check-config", "--config", badInline); r.code == 0 || !strings.Contains(r.stderr, `rule "r"`) {
		t.Fatalf("bad inline policy: %d %q", r.code, r.stderr)
	}
	policyFile := write("policy.yaml", "rules:\n  - id: p\n    effect: maybe\n")
	withFile := write("withfile.yaml", "policy_file: "+policyFile+"\n")
	if r := runCLI(t, "", "serve", "--check-config", "--config", withFile); r.code == 0 || !strings.Contains(r.stderr, ":3:") {
		t.Fatalf("bad policy file: %d %q", r.code, r.stderr)
	}
	both := write("both.yaml", "policy_file: "+policyFile+"\npolicy:\n  rules: []\n")
	if r := runCLI(t, "", "serve", "--check-config", "--config", both); r.code == 0 || !strings.Contains(r.stderr, "not both") {
		t.Fatalf("both: %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "d")); err == nil {
		t.Fatal("--check-config must not create the data dir")
	}
}
