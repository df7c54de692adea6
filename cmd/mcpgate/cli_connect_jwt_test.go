package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

const testJWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZCJ9.c2lnbmF0dXJl"

// --assertion-file and --id-token-file send the token (read from a file or
// standard input, trimmed), --workload-identity asks for the gateway's own,
// and each prints the connection.
func TestConnectWithTokens(t *testing.T) {
	f := oauthGateway(t)
	dir := t.TempDir()
	idToken := filepath.Join(dir, "ann.jwt")
	if err := os.WriteFile(idToken, []byte(testJWT+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	r := runCLI(t, testJWT+"\n", "connect", "gh", "--shared", "--assertion-file", "-")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Connected gh for every user (shared connection, JWT bearer).\n") {
		t.Fatalf("assertion from stdin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	out := mustRun(t, "connect", "gh", "--user", "ann@example.com", "--id-token-file", idToken)
	if !strings.HasPrefix(out, "Connected ann@example.com to gh (enterprise-managed).\n") {
		t.Fatalf("id token:\n%s", out)
	}
	out = mustRun(t, "connect", "gh", "--workload-identity")
	if !strings.HasPrefix(out, "Connected gh for every user (shared connection, workload identity).\n") {
		t.Fatalf("workload identity:\n%s", out)
	}
	want := []adminapi.ConnectRequest{
		{Server: "gh", Shared: true, Assertion: testJWT},
		{Server: "gh", User: "ann@example.com", IDToken: testJWT},
		{Server: "gh", Shared: true, WorkloadIdentity: true},
	}
	if got := f.ConnectRequests(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests sent = %+v\nwant            %+v", got, want)
	}
}

func TestConnectWithTokensErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	tok := filepath.Join(dir, "tok")
	os.WriteFile(tok, []byte(testJWT), 0o600)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, []byte(strings.Repeat("a", 70<<10)), 0o600)
	for _, tt := range []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"both tokens", []string{"gh", "--user", "ann", "--assertion-file", tok, "--id-token-file", tok},
			"mcpgate: use only one of --client-credentials, --workload-identity, --assertion-file and --id-token-file\n"},
		{"client credentials and assertion", []string{"gh", "--client-credentials", "--assertion-file", tok},
			"mcpgate: use only one of --client-credentials, --workload-identity, --assertion-file and --id-token-file\n"},
		{"workload identity and assertion", []string{"gh", "--workload-identity", "--assertion-file", tok},
			"mcpgate: use only one of --client-credentials, --workload-identity, --assertion-file and --id-token-file\n"},
		{"workload identity for a user", []string{"gh", "--user", "ann", "--workload-identity"},
			"mcpgate: --workload-identity makes a shared connection (the identity is the gateway's); it cannot be used with --user\n"},
		{"id token without user", []string{"gh", "--shared", "--id-token-file", tok},
			"mcpgate: --id-token-file connects a user: give --user\n"},
		{"assertion without user or shared", []string{"gh", "--assertion-file", tok},
			"mcpgate: --user or --shared is required\n"},
		{"empty file", []string{"gh", "--shared", "--assertion-file", empty}, "mcpgate: " + empty + " is empty\n"},
		{"huge file", []string{"gh", "--shared", "--assertion-file", big}, "mcpgate: " + big + " is larger than 64 KiB: not a token\n"},
		{"missing file", []string{"gh", "--shared", "--assertion-file", filepath.Join(dir, "nope")}, "mcpgate: open "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := oauthGateway(t)
			r := runCLI(t, "", append([]string{"connect"}, tt.args...)...)
			if r.code == 0 || !strings.HasPrefix(r.stderr, tt.wantStderr) {
				t.Errorf("exit %d, stderr %q; want a failure with %q", r.code, r.stderr, tt.wantStderr)
			}
			if n := len(f.ConnectRequests()); n != 0 {
				t.Errorf("%d requests sent; want none", n)
			}
			if strings.Contains(r.stderr, testJWT) {
				t.Error("the token is echoed in an error")
			}
		})
	}
}
