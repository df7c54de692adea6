package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cliPolicy = `
defaults:
  github: deny
rules:
  - id: reads
    server: github
    tools: ["get_*"]
    effect: allow
  - id: small-payments
    server: github
    tools: [pay]
    effect: allow
    when: 'args.amount <= 100.0'
`

func TestPolicyTestLocalFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(path, []byte(cliPolicy), 0o600)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--tool", "get_issue"}, `ALLOW  rule reads`},
		{[]string{"--tool", "delete_repo"}, `DENY  rule (default): default for server "github" is deny`},
		{[]string{"--tool", "pay", "--args", `{"amount": 50}`}, "ALLOW  rule small-payments"},
		{[]string{"--tool", "pay", "--args", `{"amount": 500}`}, "DENY"},
	}
	for _, tt := range tests {
		out := mustRun(t, append([]string{"policy", "test", "--file", path, "--user", "alice", "--server", "github"}, tt.args...)...)
		if !strings.Contains(out, tt.want) {
			t.Errorf("%v: %q does not contain %q", tt.args, out, tt.want)
		}
	}
	out := mustRun(t, "policy", "test", "--file", path, "--server", "github", "--tool", "delete_repo", "-o", "json")
	var d struct {
		Allow   bool `json:"allow"`
		Visible bool `json:"visible"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.Allow || d.Visible {
		t.Fatalf("json: %s %v", out, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("rules:\n  - id: x\n    effect: perhaps\n"), 0o600)
	if r := runCLI(t, "", "policy", "test", "--file", bad, "--server", "s", "--tool", "t"); r.code != 1 || !strings.Contains(r.stderr, ":3:") {
		t.Fatalf("bad file: %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, "", "policy", "test", "--file", path, "--server", "github", "--tool", "pay", "--args", `{"a":1,"a":2}`); r.code == 0 || !strings.Contains(r.stderr, "duplicate") {
		t.Fatalf("duplicate args: %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, "", "policy", "test", "--file", path, "--user", "u"); r.code != 2 {
		t.Fatalf("missing flags: exit %d", r.code)
	}
}
