package main

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/adminclient/adminclienttest"
)

// jsonKeys returns the sorted top-level keys of the JSON object out.
func jsonKeys(t *testing.T, out string) []string {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, out)
	}
	return slices.Sorted(maps.Keys(fields))
}

// decodeStrict decodes out into v, failing on fields v does not have.
func decodeStrict(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, out)
	}
}

// oauthGateway is a fake gateway with server gh, which has a pre-registered
// OAuth client with a secret, and server plain, which has none.
func oauthGateway(t *testing.T) *adminclienttest.Server {
	f := gateway(t)
	t.Setenv("MCPGATE_TEST_GH_SECRET", "shh")
	mustRun(t, "server", "add", "gh", "--url", "https://mcp.example.com/mcp", "--oauth-client-id", "gh-client", "--oauth-client-secret-env", "MCPGATE_TEST_GH_SECRET")
	mustRun(t, "server", "add", "plain", "--url", "https://mcp.example.com/plain")
	return f
}

func TestConnect(t *testing.T) {
	f := oauthGateway(t)
	expires := timestamp(adminclienttest.Now.Add(adminclienttest.AuthorizationTTL))

	t.Run("user, text", func(t *testing.T) {
		out := mustRun(t, "connect", "gh", "--user", "ann@example.com")
		want := "To connect ann@example.com to gh, open this URL in a browser as ann@example.com and approve access:\n" +
			"\n" + adminclienttest.AuthorizationURL(1) + "\n\n" +
			"The link expires at " + expires + ". Then check: mcpgate connection list --server gh\n"
		if out != want {
			t.Errorf("output:\n%s\nwant:\n%s", out, want)
		}
	})

	t.Run("shared, text", func(t *testing.T) {
		out := mustRun(t, "connect", "gh", "--shared")
		want := "To make the shared connection to gh (used for every user), open this URL in a browser and approve access:\n" +
			"\n" + adminclienttest.AuthorizationURL(2) + "\n\n" +
			"The link expires at " + expires + ". Then check: mcpgate connection list --server gh\n"
		if out != want {
			t.Errorf("output:\n%s\nwant:\n%s", out, want)
		}
	})

	t.Run("json is the API's ConnectStarted", func(t *testing.T) {
		out := mustRun(t, "connect", "plain", "--user", "bob", "-o", "json")
		if keys := jsonKeys(t, out); !slices.Equal(keys, []string{"authorization_url", "expires_at"}) {
			t.Errorf("keys = %v, want authorization_url and expires_at", keys)
		}
		if !strings.Contains(out, "&client_id=") {
			t.Errorf("the URL's '&' is escaped:\n%s", out)
		}
		var got adminapi.ConnectStarted
		decodeStrict(t, out, &got)
		want := adminapi.ConnectStarted{AuthorizationURL: adminclienttest.AuthorizationURL(3), ExpiresAt: adminclienttest.Now.Add(adminclienttest.AuthorizationTTL)}
		if got != want {
			t.Errorf("started = %+v, want %+v", got, want)
		}
	})

	t.Run("client credentials, text", func(t *testing.T) {
		out := mustRun(t, "connect", "gh", "--client-credentials")
		want := "Connected gh for every user (shared connection, client credentials).\n" +
			"ID:       conn_000001\n" +
			"State:    connected\n" +
			"Scopes:   -\n" +
			"Expires:  2025-06-01T13:00:00Z\n"
		if out != want {
			t.Errorf("output:\n%s\nwant:\n%s", out, want)
		}
	})

	t.Run("client credentials, json is the API's Connection", func(t *testing.T) {
		out := mustRun(t, "connect", "gh", "--shared", "--client-credentials", "-o", "json")
		var got adminapi.Connection
		decodeStrict(t, out, &got)
		exp := adminclienttest.Now.Add(time.Hour)
		want := adminapi.Connection{
			ID: "conn_000001", Server: "gh", Shared: true, State: "connected", GrantType: "client_credentials",
			Issuer: adminclienttest.Issuer, ClientID: "gh-client", Scopes: []string{}, ExpiresAt: &exp, Generation: 2,
			CreatedAt: adminclienttest.Now, UpdatedAt: adminclienttest.Now,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("connection = %+v\nwant         %+v", got, want)
		}
	})

	wantReqs := []adminapi.ConnectRequest{
		{Server: "gh", User: "ann@example.com"},
		{Server: "gh", Shared: true},
		{Server: "plain", User: "bob"},
		{Server: "gh", Shared: true, ClientCredentials: true},
		{Server: "gh", Shared: true, ClientCredentials: true},
	}
	if got := f.ConnectRequests(); !reflect.DeepEqual(got, wantReqs) {
		t.Errorf("requests sent = %+v\nwant            %+v", got, wantReqs)
	}
}

func TestConnectErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"user and shared", []string{"gh", "--user", "ann", "--shared"}, 2,
			"mcpgate: use only one of --user and --shared\nRun 'mcpgate connect --help' for usage.\n"},
		{"neither user nor shared", []string{"gh"}, 2,
			"mcpgate: --user or --shared is required\nRun 'mcpgate connect --help' for usage.\n"},
		{"client credentials with user", []string{"gh", "--user", "ann", "--client-credentials"}, 2,
			"mcpgate: --client-credentials makes a shared connection; it cannot be used with --user\n"},
		{"client credentials with user and shared", []string{"gh", "--user", "ann", "--shared", "--client-credentials"}, 2,
			"mcpgate: --client-credentials makes a shared connection; it cannot be used with --user\n"},
		{"empty user", []string{"gh", "--user", ""}, 2, "mcpgate: --user is empty\n"},
		{"missing server", []string{"--shared"}, 2, "mcpgate: missing SERVER\n"},
		{"extra argument", []string{"gh", "notion", "--shared"}, 2, "mcpgate: unexpected argument \"notion\"\n"},
		{"unknown server", []string{"nope", "--user", "ann"}, 1, "mcpgate: not found: server \"nope\"\n"},
		{"no client for client credentials", []string{"plain", "--client-credentials"}, 1,
			"mcpgate: invalid: server \"plain\" has no pre-registered OAuth client with a secret for client credentials\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := oauthGateway(t)
			r := runCLI(t, "", append([]string{"connect"}, tt.args...)...)
			if r.code != tt.wantCode || !strings.HasPrefix(r.stderr, tt.wantStderr) {
				t.Errorf("exit %d, stderr %q\nwant exit %d, stderr %q", r.code, r.stderr, tt.wantCode, tt.wantStderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if sent := len(f.ConnectRequests()); tt.wantCode == 2 && sent != 0 {
				t.Errorf("a usage error sent %d requests, want none", sent)
			}
		})
	}
}

// seedConnections stores three connections in f: ann's to gh, the shared one
// to notion (needing re-authorization), and bob's to gh.
func seedConnections(f *adminclienttest.Server) (ann, shared, bob adminapi.Connection) {
	at := func(d time.Duration) *time.Time { t := adminclienttest.Now.Add(d); return &t }
	ann = f.AddConnection(adminapi.Connection{
		Server: "gh", User: "ann", State: "connected", GrantType: "authorization_code",
		Issuer: adminclienttest.Issuer, ClientID: "gh-client", Scopes: []string{"repo", "read:org"},
		HasRefreshToken: true, ExpiresAt: at(time.Hour), Generation: 3,
		LastRefreshAt: at(-time.Hour), LastUsedAt: at(-time.Minute),
	})
	shared = f.AddConnection(adminapi.Connection{
		Server: "notion", State: "reauth_required", GrantType: "authorization_code",
		Issuer: "https://notion.example.com", ClientID: "dcr-123", Scopes: []string{"read"},
		StepUpScopes: []string{"read", "write"}, Generation: 7, RefreshFailures: 2,
		LastError: "refresh failed:\ninvalid_grant", LastErrorAt: at(-2 * time.Minute),
		UpdatedAt: adminclienttest.Now.Add(-2 * time.Minute),
	})
	bob = f.AddConnection(adminapi.Connection{Server: "gh", User: "bob", State: "step_up_required", Scopes: []string{}})
	return ann, shared, bob
}

func TestConnectionList(t *testing.T) {
	f := gateway(t)
	ann, shared, bob := seedConnections(f)

	const header = "ID           SERVER  USER      STATE             SCOPES         EXPIRES               LAST REFRESH          LAST USED             FAILURES\n"
	const (
		annRow    = "conn_000001  gh      ann       connected         repo,read:org  2025-06-01T13:00:00Z  2025-06-01T11:00:00Z  2025-06-01T11:59:00Z  0\n"
		sharedRow = "conn_000002  notion  (shared)  reauth_required   read           unknown               never                 never                 2\n"
		bobRow    = "conn_000003  gh      bob       step_up_required  -              unknown               never                 never                 0\n"
	)
	if out := mustRun(t, "connection", "list"); out != header+annRow+sharedRow+bobRow {
		t.Errorf("connection list:\n%s\nwant:\n%s", out, header+annRow+sharedRow+bobRow)
	}

	tests := []struct {
		args []string
		want []adminapi.Connection
	}{
		{nil, []adminapi.Connection{ann, shared, bob}},
		{[]string{"--server", "gh"}, []adminapi.Connection{ann, bob}},
		{[]string{"--user", "bob"}, []adminapi.Connection{bob}},
		{[]string{"--server", "gh", "--user", "ann"}, []adminapi.Connection{ann}},
		{[]string{"--server", "notion", "--user", "ann"}, []adminapi.Connection{}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{"json"}, tt.args...), " "), func(t *testing.T) {
			out := mustRun(t, append([]string{"connection", "list", "-o", "json"}, tt.args...)...)
			var got adminapi.ConnectionList
			decodeStrict(t, out, &got)
			if !reflect.DeepEqual(got.Connections, tt.want) {
				t.Errorf("connections = %+v\nwant          %+v", got.Connections, tt.want)
			}
		})
	}

	wantGH := "" +
		"ID           SERVER  USER  STATE             SCOPES         EXPIRES               LAST REFRESH          LAST USED             FAILURES\n" +
		"conn_000001  gh      ann   connected         repo,read:org  2025-06-01T13:00:00Z  2025-06-01T11:00:00Z  2025-06-01T11:59:00Z  0\n" +
		"conn_000003  gh      bob   step_up_required  -              unknown               never                 never                 0\n"
	if out := mustRun(t, "connection", "list", "--server", "gh"); out != wantGH {
		t.Errorf("connection list --server gh:\n%s\nwant:\n%s", out, wantGH)
	}
	if out := mustRun(t, "connection", "list", "--user", "nobody"); out != "ID  SERVER  USER  STATE  SCOPES  EXPIRES  LAST REFRESH  LAST USED  FAILURES\n" {
		t.Errorf("connection list --user nobody:\n%s", out)
	}
	if out := mustRun(t, "connection", "list", "--user", "nobody", "-o", "json"); out != "{\n  \"connections\": []\n}\n" {
		t.Errorf("connection list --user nobody -o json: %q", out)
	}
}

func TestConnectionGet(t *testing.T) {
	f := gateway(t)
	_, shared, _ := seedConnections(f)

	out := mustRun(t, "connection", "get", shared.ID)
	want := "" +
		"ID:                    conn_000002\n" +
		"Server:                notion\n" +
		"User:                  (shared)\n" +
		"State:                 reauth_required\n" +
		"Grant type:            authorization_code\n" +
		"Issuer:                https://notion.example.com\n" +
		"Client id:             dcr-123\n" +
		"Scopes:                read\n" +
		"Step-up scopes:        read,write\n" +
		"Refresh token:         no\n" +
		"Access token expires:  unknown\n" +
		"Generation:            7\n" +
		"Last refresh:          never\n" +
		"Last used:             never\n" +
		"Refresh failures:      2\n" +
		"Last error:            refresh failed:?invalid_grant\n" +
		"Last error at:         2025-06-01T11:58:00Z\n" +
		"Created:               2025-06-01T12:00:00Z\n" +
		"Updated:               2025-06-01T11:58:00Z\n"
	if out != want {
		t.Errorf("connection get:\n%s\nwant:\n%s", out, want)
	}

	out = mustRun(t, "connection", "get", "conn_000001")
	for _, want := range []string{"User:                  ann\n", "Refresh token:         yes\n", "Access token expires:  2025-06-01T13:00:00Z\n", "Last error:            -\n", "Last error at:         -\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("connection get conn_000001 lacks %q:\n%s", want, out)
		}
	}

	out = mustRun(t, "connection", "get", shared.ID, "-o", "json")
	wantKeys := []string{"access_token_expires_at", "client_id", "created_at", "generation", "grant_type", "has_refresh_token", "id", "issuer",
		"last_error", "last_error_at", "last_refresh_at", "last_used_at", "refresh_failures", "scopes", "server", "shared", "state", "step_up_scopes", "updated_at", "user"}
	if keys := jsonKeys(t, out); !slices.Equal(keys, wantKeys) {
		t.Errorf("keys = %v\nwant   %v", keys, wantKeys)
	}
	var got adminapi.Connection
	decodeStrict(t, out, &got)
	if !reflect.DeepEqual(got, shared) {
		t.Errorf("connection = %+v\nwant         %+v", got, shared)
	}

	if r := runCLI(t, "", "connection", "get", "conn_nope"); r.code != 1 || r.stderr != "mcpgate: not found: connection \"conn_nope\"\n" {
		t.Errorf("connection get conn_nope: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCLI(t, "", "connection", "get"); r.code != 2 || !strings.HasPrefix(r.stderr, "mcpgate: missing ID\n") {
		t.Errorf("connection get without an id: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestConnectionRevoke(t *testing.T) {
	f := gateway(t)
	ann, shared, bob := seedConnections(f)

	r := runCLI(t, "", "connection", "revoke", ann.ID)
	if r.code != 0 || r.stdout != "Revoked connection conn_000001 (gh, ann): the gateway's tokens are deleted.\n" || r.stderr != "" {
		t.Errorf("connection revoke: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	f.SetProviderError("revocation endpoint answered 503")
	r = runCLI(t, "", "connection", "revoke", shared.ID)
	wantWarning := "warning: the provider did not confirm the revocation (revocation endpoint answered 503); " +
		"the gateway's copy of the tokens is deleted regardless, but they may stay valid at the provider until they expire\n"
	if r.code != 0 || r.stdout != "Revoked connection conn_000002 (notion, (shared)): the gateway's tokens are deleted.\n" || r.stderr != wantWarning {
		t.Errorf("connection revoke with a provider error: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	r = runCLI(t, "", "connection", "revoke", bob.ID, "-o", "json")
	if r.code != 0 || r.stderr != wantWarning {
		t.Errorf("connection revoke -o json: exit %d, stderr %q", r.code, r.stderr)
	}
	if keys := jsonKeys(t, r.stdout); !slices.Equal(keys, []string{"connection", "provider_error"}) {
		t.Errorf("keys = %v", keys)
	}
	var got adminapi.RevokeResult
	decodeStrict(t, r.stdout, &got)
	if want := (adminapi.RevokeResult{Connection: bob, ProviderError: "revocation endpoint answered 503"}); !reflect.DeepEqual(got, want) {
		t.Errorf("result = %+v\nwant     %+v", got, want)
	}

	if out := mustRun(t, "connection", "list"); strings.Count(out, "\n") != 1 {
		t.Errorf("connection list after revoking all:\n%s", out)
	}
	if r := runCLI(t, "", "connection", "revoke", ann.ID); r.code != 1 || r.stderr != "mcpgate: not found: connection \"conn_000001\"\n" {
		t.Errorf("connection revoke twice: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestUserRemove(t *testing.T) {
	f := gateway(t)
	mustRun(t, "server", "add", "gh", "--url", "https://mcp.example.com/mcp")
	mustRun(t, "grant", "create", "--user", "ann", "--server", "gh")
	mustRun(t, "grant", "create", "--user", "bob", "--server", "gh")
	mustRun(t, "grant", "create", "--user", "ann", "--server", "gh")
	seedConnections(f)
	f.AddConnection(adminapi.Connection{Server: "notion", User: "ann"})

	r := runCLI(t, "", "user", "remove", "ann")
	want := "Removed user ann.\n" +
		"Removed connections:  2 (conn_000001,conn_000004)\n" +
		"Revoked grants:       2 (g_000001,g_000003)\n"
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("user remove: exit %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
	}
	if out := mustRun(t, "connection", "list", "--user", "ann", "-o", "json"); !strings.Contains(out, `"connections": []`) {
		t.Errorf("ann's connections after user remove:\n%s", out)
	}
	if out := mustRun(t, "grant", "get", "g_000001"); !strings.Contains(out, "Status:     revoked\n") {
		t.Errorf("ann's grant after user remove:\n%s", out)
	}

	if out := mustRun(t, "user", "rm", "ann"); out != "Removed user ann.\nRemoved connections:  none\nRevoked grants:       none\n" {
		t.Errorf("user remove again:\n%s", out)
	}

	f.SetProviderError("provider unreachable")
	r = runCLI(t, "", "user", "remove", "bob", "-o", "json")
	if r.code != 0 || !strings.HasPrefix(r.stderr, "warning: the provider did not confirm the revocation (provider unreachable);") {
		t.Errorf("user remove -o json with a provider error: exit %d, stderr %q", r.code, r.stderr)
	}
	if keys := jsonKeys(t, r.stdout); !slices.Equal(keys, []string{"provider_error", "removed_connections", "revoked_grants", "user"}) {
		t.Errorf("keys = %v", keys)
	}
	var got adminapi.UserRemoval
	decodeStrict(t, r.stdout, &got)
	wantRemoval := adminapi.UserRemoval{User: "bob", RemovedConnections: []string{"conn_000003"}, RevokedGrants: []string{"g_000002"}, ProviderError: "provider unreachable"}
	if !reflect.DeepEqual(got, wantRemoval) {
		t.Errorf("removal = %+v\nwant      %+v", got, wantRemoval)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "remove"}, "mcpgate: missing USER\n"},
		{[]string{"user", "remove", ""}, "mcpgate: USER is empty\n"},
		{[]string{"user", "remove", "a", "b"}, "mcpgate: unexpected argument \"b\"\n"},
		{[]string{"user", "delete", "a"}, "mcpgate: unknown command \"delete\" for \"mcpgate user\""},
	} {
		if r := runCLI(t, "", tt.args...); r.code != 2 || !strings.HasPrefix(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2, %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

func TestKeysRotate(t *testing.T) {
	f := gateway(t)
	if out := mustRun(t, "keys", "rotate"); out != "Re-wrapped 0 sealed values under primary key "+adminclienttest.PrimaryKeyID+".\n" {
		t.Errorf("keys rotate on an empty gateway: %q", out)
	}
	f.AddConnection(adminapi.Connection{Server: "gh", User: "ann"})
	if out := mustRun(t, "keys", "rotate"); out != "Re-wrapped 1 sealed value under primary key "+adminclienttest.PrimaryKeyID+".\n" {
		t.Errorf("keys rotate with one value: %q", out)
	}
	mustRun(t, "server", "add", "gh", "--url", "https://mcp.example.com/mcp", "--header", "X-Api-Key: k")
	f.AddConnection(adminapi.Connection{Server: "gh", User: "bob", HasRefreshToken: true})

	out := mustRun(t, "keys", "rotate", "-o", "json")
	if keys := jsonKeys(t, out); !slices.Equal(keys, []string{"primary_key_id", "rewrapped"}) {
		t.Errorf("keys = %v", keys)
	}
	var got adminapi.KeyRotation
	decodeStrict(t, out, &got)
	if want := (adminapi.KeyRotation{PrimaryKeyID: adminclienttest.PrimaryKeyID, Rewrapped: 4}); got != want {
		t.Errorf("rotation = %+v, want %+v", got, want)
	}

	if r := runCLI(t, "", "keys", "rotate", "now"); r.code != 2 || !strings.HasPrefix(r.stderr, "mcpgate: unexpected argument \"now\"\n") {
		t.Errorf("keys rotate now: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestConnectCommandsOutputAndErrors(t *testing.T) {
	commands := [][]string{
		{"connect", "gh", "--user", "ann"},
		{"connect", "gh", "--client-credentials"},
		{"connection", "list"},
		{"connection", "get", "conn_000001"},
		{"connection", "revoke", "conn_000001"},
		{"user", "remove", "ann"},
		{"keys", "rotate"},
	}
	for _, args := range commands {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			f := oauthGateway(t)
			f.AddConnection(adminapi.Connection{Server: "gh", User: "ann"})

			r := runCLI(t, "", append(args, "-o", "yaml")...)
			want := "mcpgate: invalid argument \"yaml\" for \"-o, --output\" flag: want \"text\" or \"json\"\n"
			if r.code != 2 || !strings.HasPrefix(r.stderr, want) {
				t.Errorf("-o yaml: exit %d, stderr %q; want 2, %q", r.code, r.stderr, want)
			}

			t.Setenv("MCPGATE_ADMIN_TOKEN", "wrong")
			r = runCLI(t, "", args...)
			want = "mcpgate: unauthorized: missing or wrong admin token\nThe gateway refused the admin token"
			if r.code != 1 || !strings.HasPrefix(r.stderr, want) || r.stdout != "" {
				t.Errorf("wrong token: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}

			t.Setenv("MCPGATE_ADMIN_TOKEN", f.Token)
			if r := runCLI(t, "", append(args, "--output", "json")...); r.code != 0 || !json.Valid([]byte(r.stdout)) {
				t.Errorf("-o json: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
		})
	}
}
