package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/adminclient/adminclienttest"
)

// result is what one in-process run of the CLI produced.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the CLI with args and stdin as standard input.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// mustRun runs the CLI and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := runCLI(t, "", args...)
	if r.code != 0 {
		t.Fatalf("mcpgate %s: exit %d, stderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// gateway starts a fake admin API and points the CLI's environment at it.
func gateway(t *testing.T) *adminclienttest.Server {
	f := adminclienttest.New(t, "test-admin-token")
	t.Setenv("MCPGATE_URL", f.URL)
	t.Setenv("MCPGATE_ADMIN_TOKEN", f.Token)
	t.Setenv("MCPGATE_PUBLIC_URL", "")
	return f
}

// writeFile writes content to a new file in a temporary directory.
func writeFile(t *testing.T, name, content string) string {
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServerAdd(t *testing.T) {
	headerFile := writeFile(t, "auth", "Bearer from-file\n")
	secretFile := writeFile(t, "secret", "file-secret\n")

	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantReq    *adminapi.CreateServerRequest // nil: nothing may be created
		wantStderr string
	}{{
		name: "headers from flags and files, secret from file",
		args: []string{"server", "add", "gh", "--url", "https://mcp.example.com/mcp",
			"--header", "X-Api-Key:  k1 ", "--header", "X-Tenant: a: b",
			"--header-file", "Authorization=" + headerFile,
			"--oauth-client-id", "cid", "--oauth-client-secret-file", secretFile},
		wantReq: &adminapi.CreateServerRequest{
			Name: "gh", URL: "https://mcp.example.com/mcp",
			Headers:       map[string]string{"X-Api-Key": "k1", "X-Tenant": "a: b", "Authorization": "Bearer from-file"},
			OAuthClientID: "cid", OAuthClientSecret: "file-secret",
		},
	}, {
		name: "secret from environment",
		env:  map[string]string{"GH_SECRET": "env-secret"},
		args: []string{"server", "add", "gh", "--url", "https://mcp.example.com/mcp",
			"--oauth-client-id", "cid", "--oauth-client-secret-env", "GH_SECRET"},
		wantReq: &adminapi.CreateServerRequest{Name: "gh", URL: "https://mcp.example.com/mcp",
			OAuthClientID: "cid", OAuthClientSecret: "env-secret"},
	}, {
		name:       "header without a colon is a usage error that does not echo it",
		args:       []string{"server", "add", "gh", "--url", "https://x/mcp", "--header", "X-Ok: 1", "--header", "Bearer sekrit"},
		wantCode:   2,
		wantStderr: "mcpgate: --header number 2: want 'Name: value'",
	}, {
		name:       "header name with a space",
		args:       []string{"server", "add", "gh", "--url", "https://x/mcp", "--header", "Bad Name: sekrit"},
		wantCode:   2,
		wantStderr: "--header number 1",
	}, {
		name:       "header given twice",
		args:       []string{"server", "add", "gh", "--url", "https://x/mcp", "--header", "A: 1", "--header-file", "a=" + headerFile},
		wantCode:   2,
		wantStderr: `header "a" is given twice`,
	}, {
		name:       "header file without a path",
		args:       []string{"server", "add", "gh", "--url", "https://x/mcp", "--header-file", "Authorization"},
		wantCode:   2,
		wantStderr: "want 'Name=path'",
	}, {
		name:       "header file missing",
		args:       []string{"server", "add", "gh", "--url", "https://x/mcp", "--header-file", "A=/nonexistent/file"},
		wantCode:   1,
		wantStderr: "header A: secret file:",
	}, {
		name: "two secret sources",
		args: []string{"server", "add", "gh", "--url", "https://x/mcp", "--oauth-client-id", "cid",
			"--oauth-client-secret-file", secretFile, "--oauth-client-secret-env", "X"},
		wantCode:   2,
		wantStderr: "use only one of",
	}, {
		name:       "secret environment variable unset",
		args:       []string{"server", "add", "gh", "--url", "https://x/mcp", "--oauth-client-id", "cid", "--oauth-client-secret-env", "MCPGATE_TEST_UNSET"},
		wantCode:   1,
		wantStderr: "MCPGATE_TEST_UNSET is empty or unset",
	}, {
		name:       "missing url",
		args:       []string{"server", "add", "gh"},
		wantCode:   2,
		wantStderr: "mcpgate: --url is required\nRun 'mcpgate server add --help' for usage.\n",
	}, {
		name:       "missing name",
		args:       []string{"server", "add", "--url", "https://x/mcp"},
		wantCode:   2,
		wantStderr: "mcpgate: missing NAME",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gateway(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := runCLI(t, "", tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.wantStderr)
			}
			if strings.Contains(r.stderr, "sekrit") {
				t.Errorf("stderr reveals a header value: %q", r.stderr)
			}
			got, created := f.CreateServerRequest("gh")
			switch {
			case tt.wantReq == nil && created:
				t.Errorf("server created with %+v, want none", got)
			case tt.wantReq != nil && !reflect.DeepEqual(got, *tt.wantReq):
				t.Errorf("request = %+v\nwant      %+v", got, *tt.wantReq)
			}
		})
	}
}

func TestServerCommands(t *testing.T) {
	gateway(t)
	out := mustRun(t, "server", "add", "gh", "--url", "https://mcp.example.com/mcp", "--header", "X-Api-Key: k", "-o", "json")
	var s adminapi.Server
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("server add -o json: %v\n%s", err, out)
	}
	if s.Name != "gh" || !slices.Equal(s.Headers, []string{"X-Api-Key"}) {
		t.Errorf("server add -o json = %+v", s)
	}

	out = mustRun(t, "server", "list")
	want := "NAME  URL                          HEADERS    OAUTH CLIENT  SOURCE  CREATED\n" +
		"gh    https://mcp.example.com/mcp  X-Api-Key  -             api     2025-06-01T12:00:00Z\n"
	if out != want {
		t.Errorf("server list:\n%s\nwant:\n%s", out, want)
	}
	var list adminapi.ServerList
	if err := json.Unmarshal([]byte(mustRun(t, "server", "list", "-o", "json")), &list); err != nil || len(list.Servers) != 1 {
		t.Errorf("server list -o json: %v, %+v", err, list)
	}
	if out := mustRun(t, "server", "get", "gh"); !strings.Contains(out, "OAuth client secret:  not set\n") {
		t.Errorf("server get:\n%s", out)
	}
	if out := mustRun(t, "server", "remove", "gh"); out != "Removed server gh.\n" {
		t.Errorf("server remove: %q", out)
	}
	if r := runCLI(t, "", "server", "get", "gh"); r.code != 1 || r.stderr != "mcpgate: not found: server \"gh\"\n" {
		t.Errorf("server get after remove: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestGrantCreate(t *testing.T) {
	gateway(t)
	mustRun(t, "server", "add", "gh", "--url", "https://mcp.example.com/mcp")
	mustRun(t, "server", "add", "notion", "--url", "https://mcp.example.com/notion")

	t.Run("json is the API's CreatedGrant", func(t *testing.T) {
		out := mustRun(t, "grant", "create", "--user", "ann", "--server", "gh", "--server", "notion", "--ttl", "24h", "--name", "laptop", "-o", "json")
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &fields); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		keys := slices.Sorted(maps.Keys(fields))
		wantKeys := []string{"created_at", "expires_at", "id", "label", "last_used_at", "revoked_at", "servers", "status", "token", "user"}
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("keys = %v, want %v", keys, wantKeys)
		}
		var g adminapi.CreatedGrant
		if err := json.Unmarshal([]byte(out), &g); err != nil {
			t.Fatal(err)
		}
		exp := adminclienttest.Now.Add(24 * time.Hour)
		want := adminapi.CreatedGrant{Grant: adminapi.Grant{
			ID: "g_000001", User: "ann", Servers: []string{"gh", "notion"}, Label: "laptop",
			Status: "active", CreatedAt: adminclienttest.Now, ExpiresAt: &exp,
		}, Token: "mgt_test_g_000001"}
		if !reflect.DeepEqual(g, want) {
			t.Errorf("grant = %+v\nwant    %+v", g, want)
		}
	})

	t.Run("text shows the id and the token once", func(t *testing.T) {
		out := mustRun(t, "grant", "create", "--user", "bob", "--server", "gh,notion")
		for _, want := range []string{"ID:       g_000002\n", "Token:    mgt_test_g_000002\n", "Servers:  gh,notion\n", "Expires:  never\n", "shown only once"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	usage := []struct {
		name string
		args []string
		want string
	}{
		{"no user", []string{"--server", "gh"}, "--user is required"},
		{"no server", []string{"--user", "ann"}, "--server is required"},
		{"bad ttl", []string{"--user", "ann", "--server", "gh", "--ttl", "30d"}, `invalid argument "30d" for "--ttl"`},
		{"negative ttl", []string{"--user", "ann", "--server", "gh", "--ttl", "-1h"}, "--ttl must be positive"},
	}
	for _, tt := range usage {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"grant", "create"}, tt.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

func TestGrantListAndRevoke(t *testing.T) {
	gateway(t)
	mustRun(t, "server", "add", "gh", "--url", "https://mcp.example.com/mcp")
	mustRun(t, "server", "add", "notion", "--url", "https://mcp.example.com/notion")
	mustRun(t, "grant", "create", "--user", "ann@example.com", "--server", "gh", "--server", "notion", "--ttl", "720h", "--name", "ann's laptop")
	mustRun(t, "grant", "create", "--user", "bob", "--server", "gh")
	if out := mustRun(t, "grant", "revoke", "g_000002"); out != "Revoked grant g_000002 (bob).\n" {
		t.Errorf("grant revoke: %q", out)
	}

	out := mustRun(t, "grant", "list")
	want := "" +
		"ID        USER             SERVERS    LABEL         STATUS   CREATED               EXPIRES               LAST USED\n" +
		"g_000001  ann@example.com  gh,notion  ann's laptop  active   2025-06-01T12:00:00Z  2025-07-01T12:00:00Z  never\n" +
		"g_000002  bob              gh         -             revoked  2025-06-01T12:00:00Z  never                 never\n"
	if out != want {
		t.Errorf("grant list:\n%s\nwant:\n%s", out, want)
	}

	var list adminapi.GrantList
	if err := json.Unmarshal([]byte(mustRun(t, "grant", "list", "-o", "json")), &list); err != nil || len(list.Grants) != 2 {
		t.Errorf("grant list -o json: %v, %+v", err, list)
	}
	if out := mustRun(t, "grant", "get", "g_000002"); !strings.Contains(out, "Status:     revoked\n") || !strings.Contains(out, "Revoked:    2025-06-01T12:00:00Z\n") {
		t.Errorf("grant get:\n%s", out)
	}
}

func TestErrors(t *testing.T) {
	closed := func() string { // an address where connections are refused
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return "http://" + ln.Addr().String()
	}()

	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"conflict", nil, []string{"server", "add", "gh", "--url", "https://x/mcp"}, 1,
			"mcpgate: conflict: server \"gh\" already exists\n"},
		{"not found", nil, []string{"grant", "revoke", "g_nope"}, 1,
			"mcpgate: not found: grant \"g_nope\"\n"},
		{"wrong admin token", map[string]string{"MCPGATE_ADMIN_TOKEN": "wrong"}, []string{"server", "list"}, 1,
			"mcpgate: unauthorized: missing or wrong admin token\nThe gateway refused the admin token: check MCPGATE_ADMIN_TOKEN (or the admin-token file in MCPGATE_DATA_DIR).\n"},
		{"gateway down", map[string]string{"MCPGATE_URL": closed}, []string{"grant", "list"}, 1,
			"mcpgate: gateway is not reachable at " + closed + " (is it running? check MCPGATE_URL)\n"},
		{"no admin token", map[string]string{"MCPGATE_ADMIN_TOKEN": "", "MCPGATE_DATA_DIR": "/nonexistent"}, []string{"server", "list"}, 1,
			"mcpgate: no admin token: set MCPGATE_ADMIN_TOKEN, or set MCPGATE_DATA_DIR to the gateway's data dir (there is no /nonexistent/admin-token)\n"},
		{"unknown command", nil, []string{"grant", "lst"}, 2,
			"mcpgate: unknown command \"lst\" for \"mcpgate grant\"; did you mean \"list\"?\nRun 'mcpgate grant --help' for usage.\n"},
		{"extra argument", nil, []string{"server", "list", "x"}, 2,
			"mcpgate: unexpected argument \"x\"\n"},
		{"unknown flag", nil, []string{"server", "list", "--nope"}, 2,
			"mcpgate: unknown flag: --nope\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gateway(t)
			mustRun(t, "server", "add", "gh", "--url", "https://x/mcp")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := runCLI(t, "", tt.args...)
			if r.code != tt.wantCode || !strings.HasPrefix(r.stderr, tt.wantStderr) {
				t.Errorf("exit %d, stderr %q\nwant exit %d, stderr %q", r.code, r.stderr, tt.wantCode, tt.wantStderr)
			}
		})
	}
}

func TestAdminTokenFromDataDir(t *testing.T) {
	f := gateway(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin-token"), []byte(f.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MCPGATE_ADMIN_TOKEN", "")
	t.Setenv("MCPGATE_DATA_DIR", dir)
	if out := mustRun(t, "server", "list"); !strings.HasPrefix(out, "NAME") {
		t.Errorf("server list: %q", out)
	}
}

func TestOutputFlag(t *testing.T) {
	gateway(t)
	commands := [][]string{
		{"server", "add", "gh", "--url", "https://x/mcp"},
		{"server", "list"},
		{"server", "get", "gh"},
		{"grant", "create", "--user", "ann", "--server", "gh"},
		{"grant", "list"},
		{"grant", "get", "g_000001"},
		{"grant", "revoke", "g_000001"},
	}
	for _, args := range commands {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			r := runCLI(t, "", append(args, "-o", "yaml")...)
			want := "mcpgate: invalid argument \"yaml\" for \"-o, --output\" flag: want \"text\" or \"json\"\n"
			if r.code != 2 || !strings.HasPrefix(r.stderr, want) {
				t.Errorf("exit %d, stderr %q; want 2, %q", r.code, r.stderr, want)
			}
			if r := runCLI(t, "", append(args, "--output", "json")...); r.code != 0 || !json.Valid([]byte(r.stdout)) {
				t.Errorf("-o json: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// jsonSnippetIn decodes the JSON object that starts on its own line in out.
func jsonSnippetIn(t *testing.T, out string) map[string]map[string]jsonServer {
	t.Helper()
	i := strings.Index(out, "\n{\n")
	if i < 0 {
		t.Fatalf("no JSON object in:\n%s", out)
	}
	dec := json.NewDecoder(strings.NewReader(out[i+1:]))
	dec.DisallowUnknownFields()
	var v map[string]map[string]jsonServer
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("snippet is not valid JSON: %v\n%s", err, out)
	}
	return v
}

func TestClientConfig(t *testing.T) {
	token, _ := mcpgate.NewGrantToken()
	const base = "https://gw.example.com"
	url := base + "/mcp/gh"

	// checkJSON checks the entry for server gh under key in the output's snippet.
	checkJSON := func(key, typ string) func(t *testing.T, out string) {
		return func(t *testing.T, out string) {
			snippet := jsonSnippetIn(t, out)
			want := map[string]map[string]jsonServer{key: {"gh": {
				Type: typ, URL: url, Headers: map[string]string{"Authorization": "Bearer " + token},
			}}}
			if !reflect.DeepEqual(snippet, want) {
				t.Errorf("snippet = %+v, want %+v", snippet, want)
			}
		}
	}
	tests := []struct {
		client string
		check  func(t *testing.T, out string)
	}{
		{"claude-code", func(t *testing.T, out string) {
			cmd := "claude mcp add --transport http gh " + url + " --header 'Authorization: Bearer " + token + "'\n"
			if !strings.Contains(out, cmd) {
				t.Errorf("no %q in:\n%s", cmd, out)
			}
			if !strings.Contains(out, ".mcp.json") {
				t.Errorf("does not name .mcp.json:\n%s", out)
			}
			checkJSON("mcpServers", "http")(t, out)
		}},
		{"cursor", func(t *testing.T, out string) {
			if !strings.Contains(out, ".cursor/mcp.json") {
				t.Errorf("does not name .cursor/mcp.json:\n%s", out)
			}
			checkJSON("mcpServers", "")(t, out)
		}},
		{"vscode", func(t *testing.T, out string) {
			if !strings.Contains(out, ".vscode/mcp.json") {
				t.Errorf("does not name .vscode/mcp.json:\n%s", out)
			}
			checkJSON("servers", "http")(t, out)
		}},
		{"codex", func(t *testing.T, out string) {
			for _, want := range []string{
				"export MCPGATE_TOKEN_GH=" + token + "\n",
				"codex mcp add gh --url " + url + " --bearer-token-env-var MCPGATE_TOKEN_GH\n",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("no %q in:\n%s", want, out)
				}
			}
			_, toml, ok := strings.Cut(out, "config.toml:\n")
			wantTOML := "[mcp_servers.gh]\nurl = \"" + url + "\"\nbearer_token_env_var = \"MCPGATE_TOKEN_GH\"\n"
			if !ok || toml != wantTOML {
				t.Errorf("config.toml snippet = %q, want %q", toml, wantTOML)
			}
			if strings.Contains(toml, token) {
				t.Errorf("config.toml snippet holds the token inline:\n%s", toml)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			r := runCLI(t, "", "client-config", "--client", tt.client, "--server", "gh", "--token", token, "--url", base+"/")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			tt.check(t, r.stdout)
		})
	}

	t.Run("codex name without dots", func(t *testing.T) {
		out := mustRun(t, "client-config", "--client", "codex", "--server", "my.gh-2", "--token", token, "--url", base)
		for _, want := range []string{"codex mcp add my_gh-2 --url " + base + "/mcp/my.gh-2 ", "[mcp_servers.my_gh-2]\n", "MCPGATE_TOKEN_MY_GH_2"} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in:\n%s", want, out)
			}
		}
	})
}

func TestClientConfigInputs(t *testing.T) {
	token, _ := mcpgate.NewGrantToken()
	tests := []struct {
		name       string
		env        map[string]string
		stdin      string
		args       []string
		wantCode   int
		wantURL    string
		wantStderr string
	}{
		{name: "token from stdin", stdin: token + "\n", args: []string{"--token", "-"},
			wantURL: "http://127.0.0.1:8080/mcp/gh"},
		{name: "token from stdin reads one line", stdin: " " + token + "\r\nmore\n", args: []string{"--token", "-"},
			wantURL: "http://127.0.0.1:8080/mcp/gh"},
		{name: "token from stdin without newline", stdin: token, args: []string{"--token", "-"},
			wantURL: "http://127.0.0.1:8080/mcp/gh"},
		{name: "public url wins", env: map[string]string{"MCPGATE_PUBLIC_URL": "https://pub.example.com", "MCPGATE_URL": "http://127.0.0.1:9"},
			args: []string{"--token", token}, wantURL: "https://pub.example.com/mcp/gh"},
		{name: "then MCPGATE_URL", env: map[string]string{"MCPGATE_URL": "http://localhost:9000/"},
			args: []string{"--token", token}, wantURL: "http://localhost:9000/mcp/gh"},
		{name: "flag wins", env: map[string]string{"MCPGATE_PUBLIC_URL": "https://pub.example.com"},
			args: []string{"--token", token, "--url", "https://flag.example.com/prefix"}, wantURL: "https://flag.example.com/prefix/mcp/gh"},
		{name: "plain http elsewhere warns", args: []string{"--token", token, "--url", "http://gw.example.com"},
			wantURL: "http://gw.example.com/mcp/gh", wantStderr: "warning: http://gw.example.com is plain http"},
		{name: "unknown client", args: []string{"--token", token, "--client", "zed"}, wantCode: 2,
			wantStderr: `mcpgate: --client "zed": want one of claude-code, codex, cursor, vscode`},
		{name: "bad server name", args: []string{"--token", token, "--server", "Bad/Name"}, wantCode: 2,
			wantStderr: `mcpgate: --server: server name "Bad/Name"`},
		{name: "not a grant token", args: []string{"--token", "hunter2"}, wantCode: 2,
			wantStderr: "mcpgate: --token is not a grant token"},
		{name: "empty stdin", args: []string{"--token", "-"}, wantCode: 2,
			wantStderr: "mcpgate: --token is not a grant token"},
		{name: "bad base url", args: []string{"--token", token, "--url", "gw.example.com"}, wantCode: 2,
			wantStderr: `mcpgate: gateway URL "gw.example.com": want an absolute http(s) URL`},
		{name: "missing token", args: nil, wantCode: 2, wantStderr: "mcpgate: --token is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"MCPGATE_PUBLIC_URL", "MCPGATE_URL"} {
				t.Setenv(k, tt.env[k])
			}
			args := append([]string{"client-config", "--client", "cursor", "--server", "gh"}, tt.args...)
			r := runCLI(t, tt.stdin, args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tt.wantCode, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want prefix %q", r.stderr, tt.wantStderr)
			}
			if tt.wantURL != "" {
				if got := jsonSnippetIn(t, r.stdout)["mcpServers"]["gh"].URL; got != tt.wantURL {
					t.Errorf("url = %q, want %q", got, tt.wantURL)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	if out := mustRun(t, "version"); !strings.HasPrefix(out, "mcpgate ") {
		t.Errorf("version: %q", out)
	}
}
