package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// decode decodes in over the defaults, as the gateway does.
func decode(in string) (Config, error) {
	c := Default()
	err := c.Decode(strings.NewReader(in))
	return c, err
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// want is applied to Default() to get the expected configuration.
		want func(c *Config)
	}{
		{name: "empty file", in: "", want: func(*Config) {}},
		{name: "blank lines", in: "\n  \n\t\n", want: func(*Config) {}},
		{name: "comments only", in: "# addr: 0.0.0.0:8080\n# log: {format: json}\n", want: func(*Config) {}},
		{name: "explicit empty document", in: "---\n", want: func(*Config) {}},
		{
			name: "every key",
			in: `addr: 0.0.0.0:9000
public_url: https://gw.example.com
data_dir: /var/lib/mcpgate
store:
  dsn: {env: PG_DSN}
admin_token: {file: /run/secrets/admin}
seal_key_file: /run/secrets/seal
egress_allow: [10.0.0.0/8, 192.168.1.10]
allowed_origins: [https://app.example.com]
max_body_bytes: 1024
upstream_timeout: 30s
shutdown_timeout: 2m
log:
  format: json
  level: debug
servers:
  - name: gh
    url: https://api.example.com/mcp
    headers:
      Authorization: {env: GH_AUTH}
      X-Tenant: acme
    oauth:
      client_id: cid
      client_secret: {value: s3cret}
`,
			want: func(c *Config) {
				*c = Config{
					Addr: "0.0.0.0:9000", PublicURL: "https://gw.example.com", DataDir: "/var/lib/mcpgate",
					Store:           StoreConfig{DSN: Secret{Env: "PG_DSN"}},
					AdminToken:      Secret{File: "/run/secrets/admin"},
					SealKeyFile:     "/run/secrets/seal",
					EgressAllow:     []string{"10.0.0.0/8", "192.168.1.10"},
					AllowedOrigins:  []string{"https://app.example.com"},
					MaxBodyBytes:    1024,
					UpstreamTimeout: 30 * time.Second,
					ShutdownTimeout: 2 * time.Minute,
					Log:             LogConfig{Format: "json", Level: "debug"},
					Audit:           AuditConfig{Retention: DefaultAuditRetention}, // audit keys: audit_config_test.go
					Servers: []ServerConfig{{
						Name: "gh", URL: "https://api.example.com/mcp",
						Headers: map[string]Secret{"Authorization": {Env: "GH_AUTH"}, "X-Tenant": {Value: "acme"}},
						OAuth:   &OAuthClientConfig{ClientID: "cid", ClientSecret: Secret{Value: "s3cret"}},
					}},
				}
			},
		},
		{
			name: "a nested key keeps its siblings' defaults",
			in:   "log:\n  format: json\n",
			want: func(c *Config) { c.Log.Format = "json" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decode(tt.in)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := Default()
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // substrings of the error
	}{
		{
			name: "unknown top-level key",
			in:   "addr: 127.0.0.1:1\nlisten: :80\n",
			want: []string{"line 2", "listen"},
		},
		{
			name: "unknown nested key in a server",
			in:   "servers:\n  - name: gh\n    url: https://x.example.com/mcp\n    headerz:\n      A: b\n",
			want: []string{"line 4", "headerz"},
		},
		{
			name: "unknown key under log",
			in:   "log:\n  format: json\n  colour: true\n",
			want: []string{"line 3", "colour"},
		},
		{
			name: "unknown key in oauth",
			in:   "servers:\n  - name: gh\n    url: https://x.example.com/mcp\n    oauth:\n      client: x\n",
			want: []string{"line 5", "client"},
		},
		{
			name: "unknown key inside a secret",
			in:   "admin_token:\n  env: ADMIN\n  fiel: /x\n",
			want: []string{"line 3", `"fiel"`},
		},
		{
			name: "two documents",
			in:   "addr: 127.0.0.1:1\n---\naddr: 127.0.0.1:2\n",
			want: []string{"only one YAML document"},
		},
		{
			name: "not a mapping",
			in:   "- addr\n",
			want: []string{"line 1"},
		},
		{
			name: "bad duration",
			in:   "shutdown_timeout: soon\n",
			want: []string{"line 1", "soon", "Duration"},
		},
		{
			name: "bad number",
			in:   "\nmax_body_bytes: lots\n",
			want: []string{"line 2", "lots"},
		},
		{
			name: "syntax error",
			in:   "addr: [\n",
			want: []string{"config: yaml:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(tt.in)
			if err == nil {
				t.Fatal("Decode succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	c := Default()
	if err := c.LoadFile(filepath.Join("testdata", "valid.yaml")); err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("testdata/valid.yaml does not validate: %v", err)
	}
	if len(c.Servers) != 2 || c.Servers[0].Headers["Authorization"] != (Secret{Env: "GH_TOKEN"}) {
		t.Errorf("servers = %+v", c.Servers)
	}

	path := filepath.Join("testdata", "unknown_key.yaml")
	c = Default()
	err := c.LoadFile(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), "headerz") {
		t.Errorf("LoadFile(%s) = %v, want an error naming the file and the key", path, err)
	}
	c = Default()
	if err := c.LoadFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("LoadFile of a missing file succeeded")
	}
}

// decodeStrict decodes in into v the way Decode does.
func decodeStrict(in string, v any) error {
	dec := yaml.NewDecoder(strings.NewReader(in))
	dec.KnownFields(true)
	return dec.Decode(v)
}

func TestSecretDecode(t *testing.T) {
	type doc struct {
		S Secret `yaml:"s"`
	}
	tests := []struct {
		name    string
		in      string
		want    Secret
		wantErr string
	}{
		{name: "scalar", in: "s: hunter2", want: Secret{Value: "hunter2"}},
		{name: "quoted scalar", in: `s: "  spaced  "`, want: Secret{Value: "  spaced  "}},
		{name: "number scalar", in: "s: 1234", want: Secret{Value: "1234"}},
		{name: "null", in: "s: ~", want: Secret{}},
		{name: "env", in: "s: {env: TOKEN}", want: Secret{Env: "TOKEN"}},
		{name: "file", in: "s: {file: /run/secrets/x}", want: Secret{File: "/run/secrets/x"}},
		{name: "value", in: "s: {value: inline}", want: Secret{Value: "inline"}},
		{name: "block mapping", in: "s:\n  env: TOKEN\n", want: Secret{Env: "TOKEN"}},
		{name: "two sources", in: "s: {env: TOKEN, file: /x}", wantErr: "line 1: a secret needs exactly one of value, env or file"},
		{name: "three sources", in: "s:\n  env: A\n  file: B\n  value: C\n", wantErr: "line 2: a secret needs exactly one"},
		{name: "empty mapping", in: "s: {}", wantErr: "needs exactly one"},
		{name: "empty source", in: "s: {env: ''}", wantErr: "needs exactly one"},
		{name: "unknown key", in: "s: {env: A, path: /x}", wantErr: `unknown key "path" in a secret`},
		{name: "sequence", in: "s: [a, b]", wantErr: "line 1: a secret is a string or {value|env|file: …}"},
		{name: "non-scalar source", in: "s: {env: [A]}", wantErr: "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			err := decodeStrict(tt.in, &d)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "/x") || strings.Contains(err.Error(), "TOKEN") {
					t.Errorf("error repeats the secret's source: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if d.S != tt.want {
				t.Errorf("secret = %#v, want %#v", d.S, tt.want)
			}
		})
	}
}

func TestSecretResolve(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("from-file\r\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SET": "from-env"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		s       Secret
		want    string
		wantErr string
	}{
		{s: Secret{Value: "inline"}, want: "inline"},
		{s: Secret{Env: "SET"}, want: "from-env"},
		{s: Secret{File: file}, want: "from-file"},
		{s: Secret{Env: "UNSET"}, wantErr: "environment variable UNSET is empty or unset"},
		{s: Secret{File: filepath.Join(dir, "missing")}, wantErr: "secret file:"},
		{s: Secret{}, wantErr: "secret is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.s.String(), func(t *testing.T) {
			got, err := tt.s.Resolve(getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve = %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Resolve = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSecretString(t *testing.T) {
	const value = "hunter2-very-secret"
	tests := []struct {
		s    Secret
		want string
	}{
		{Secret{Value: value}, "[redacted]"},
		{Secret{Env: "TOKEN"}, "env:TOKEN"},
		{Secret{File: "/run/secrets/x"}, "file:/run/secrets/x"},
		{Secret{}, ""},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.s, got, tt.want)
		}
	}

	// A secret nested anywhere in the configuration stays hidden when the
	// configuration is formatted as a whole.
	c := Default()
	c.AdminToken = Secret{Value: value}
	c.SealKey = Secret{Value: value}
	c.Store.DSN = Secret{Value: "postgres://u:" + value + "@db/x"}
	c.Servers = []ServerConfig{{Name: "gh", URL: "https://x", Headers: map[string]Secret{"A": {Value: value}},
		OAuth: &OAuthClientConfig{ClientID: "cid", ClientSecret: Secret{Value: value}}}}
	// %v and %+v are what log.Printf and slog's text handler use; slog's JSON
	// handler goes through encoding/json. (%s and %#v of a struct holding a
	// pointer do print the value: fmt bypasses String there.)
	for _, verb := range []string{"%v", "%+v"} {
		for _, v := range []any{c, &c, c.Servers, *c.Servers[0].OAuth, c.AdminToken} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, value) {
				t.Errorf("Sprintf(%q, %T) reveals the secret: %s", verb, v, out)
			}
		}
	}
	if out := fmt.Sprintf("%s", c.AdminToken); out != "[redacted]" {
		t.Errorf(`Sprintf("%%s", secret) = %q`, out)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), value) || !strings.Contains(string(b), `"AdminToken":"[redacted]"`) {
		t.Errorf("JSON reveals the secret or lost it: %s", b)
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		slog.New(h).Info("config", "config", c, "token", c.AdminToken, "headers", c.Servers[0].Headers)
	}
	if strings.Contains(buf.String(), value) {
		t.Errorf("slog output reveals the secret:\n%s", buf.String())
	}
}

func TestApplyEnv(t *testing.T) {
	env := map[string]string{
		"MCPGATE_ADDR":             "0.0.0.0:9000",
		"MCPGATE_PUBLIC_URL":       "https://gw.example.com",
		"MCPGATE_DATA_DIR":         "/data",
		"MCPGATE_SEAL_KEY_FILE":    "/keys/seal",
		"MCPGATE_LOG_FORMAT":       "json",
		"MCPGATE_LOG_LEVEL":        "warn",
		"MCPGATE_STORE_DSN":        "postgres://db/x",
		"MCPGATE_ADMIN_TOKEN":      "admin-token-0123456789",
		"MCPGATE_SEAL_KEY":         "c2VhbA==",
		"MCPGATE_EGRESS_ALLOW":     " 10.0.0.0/8, ,127.0.0.1 ",
		"MCPGATE_ALLOWED_ORIGINS":  "https://a.example.com,https://b.example.com",
		"MCPGATE_MAX_BODY_BYTES":   " 2048 ",
		"MCPGATE_UPSTREAM_TIMEOUT": "45s",
		"MCPGATE_SHUTDOWN_TIMEOUT": "3s",
	}
	// The file's values, all overridden.
	c, err := decode("addr: 1.2.3.4:1\ndata_dir: /file\nadmin_token: {env: X}\negress_allow: [1.1.1.1]\nlog: {level: debug}\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatalf("ApplyEnv: %v", err)
	}
	want := Config{
		Addr: "0.0.0.0:9000", PublicURL: "https://gw.example.com", DataDir: "/data",
		Store:           StoreConfig{DSN: Secret{Value: "postgres://db/x"}},
		AdminToken:      Secret{Value: "admin-token-0123456789"},
		SealKey:         Secret{Value: "c2VhbA=="},
		SealKeyFile:     "/keys/seal",
		EgressAllow:     []string{"10.0.0.0/8", "127.0.0.1"},
		AllowedOrigins:  []string{"https://a.example.com", "https://b.example.com"},
		MaxBodyBytes:    2048,
		UpstreamTimeout: 45 * time.Second,
		ShutdownTimeout: 3 * time.Second,
		Log:             LogConfig{Format: "json", Level: "warn"},
		Audit:           AuditConfig{Retention: DefaultAuditRetention},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}

	t.Run("unset and empty variables change nothing", func(t *testing.T) {
		c, _ := decode("addr: 1.2.3.4:1\n")
		if err := c.ApplyEnv(func(k string) string { return map[string]string{"MCPGATE_ADDR": ""}[k] }); err != nil {
			t.Fatal(err)
		}
		want := Default()
		want.Addr = "1.2.3.4:1"
		if diff := cmp.Diff(want, c); diff != "" {
			t.Errorf("config mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestApplyEnvErrors(t *testing.T) {
	tests := []struct {
		key, value string
	}{
		{"MCPGATE_MAX_BODY_BYTES", "lots"},
		{"MCPGATE_MAX_BODY_BYTES", "4MB"},
		{"MCPGATE_MAX_BODY_BYTES", "1.5"},
		{"MCPGATE_MAX_BODY_BYTES", "99999999999999999999"},
		{"MCPGATE_UPSTREAM_TIMEOUT", "30"},
		{"MCPGATE_SHUTDOWN_TIMEOUT", "soon"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			c := Default()
			err := c.ApplyEnv(func(k string) string {
				if k == tt.key {
					return tt.value
				}
				return ""
			})
			if err == nil {
				t.Fatalf("ApplyEnv succeeded; MaxBodyBytes=%d", c.MaxBodyBytes)
			}
			if want := fmt.Sprintf("%s=%q", tt.key, tt.value); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string // substring of the error; "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"https public url with a path", func(c *Config) { c.PublicURL = "https://gw.example.com/prefix" }, ""},
		{"postgres dsn", func(c *Config) { c.Store.DSN = Secret{Value: "postgresql://u@db/x"} }, ""},
		{"dsn from env", func(c *Config) { c.Store.DSN = Secret{Env: "PG"} }, ""},
		{"egress cidr and address", func(c *Config) { c.EgressAllow = []string{"10.0.0.0/8", "::1", "fd00::/8"} }, ""},
		{"allowed origin with slash", func(c *Config) { c.AllowedOrigins = []string{"https://a.example.com/", "http://localhost:3000"} }, ""},
		{"servers", func(c *Config) {
			c.Servers = []ServerConfig{{Name: "a", URL: "https://a"}, {Name: "b", URL: "https://b"}}
		}, ""},

		{"empty addr", func(c *Config) { c.Addr = ""; c.PublicURL = "https://gw.example.com" }, "addr is empty"},
		{"public url without scheme", func(c *Config) { c.PublicURL = "gw.example.com" }, `public_url "gw.example.com" must be an absolute http(s) URL`},
		{"public url ftp", func(c *Config) { c.PublicURL = "ftp://gw.example.com" }, "public_url"},
		{"public url unparsable", func(c *Config) { c.PublicURL = "http://[::1" }, "public_url"},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data_dir is empty"},
		{"mysql dsn", func(c *Config) { c.Store.DSN = Secret{Value: "mysql://db/x"} }, "store.dsn must be empty (embedded SQLite) or a postgres:// URL"},
		{"both seal keys", func(c *Config) { c.SealKey = Secret{Value: "k"}; c.SealKeyFile = "/k" }, "set seal_key or seal_key_file, not both"},
		{"seal key from env and a key file", func(c *Config) { c.SealKey = Secret{Env: "K"}; c.SealKeyFile = "/k" }, "not both"},
		{"bad egress cidr", func(c *Config) { c.EgressAllow = []string{"10.0.0.0/33"} }, `egress_allow: "10.0.0.0/33" is neither a CIDR nor an IP address`},
		{"egress host name", func(c *Config) { c.EgressAllow = []string{"localhost"} }, `"localhost"`},
		{"origin without scheme", func(c *Config) { c.AllowedOrigins = []string{"a.example.com"} }, `allowed_origins: "a.example.com" must look like https://host[:port]`},
		{"origin with path", func(c *Config) { c.AllowedOrigins = []string{"https://a.example.com/app"} }, "allowed_origins"},
		{"zero max body", func(c *Config) { c.MaxBodyBytes = 0 }, "max_body_bytes must be positive"},
		{"negative max body", func(c *Config) { c.MaxBodyBytes = -1 }, "max_body_bytes must be positive"},
		{"zero upstream timeout", func(c *Config) { c.UpstreamTimeout = 0 }, "upstream_timeout and shutdown_timeout must be positive"},
		{"negative shutdown timeout", func(c *Config) { c.ShutdownTimeout = -time.Second }, "upstream_timeout and shutdown_timeout must be positive"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, `log.format "xml": use text or json`},
		{"log level", func(c *Config) { c.Log.Level = "trace" }, `log.level "trace": use debug, info, warn or error`},
		{"server without name", func(c *Config) { c.Servers = []ServerConfig{{URL: "https://a"}} }, "servers[0]: name and url are required"},
		{"server without url", func(c *Config) {
			c.Servers = []ServerConfig{{Name: "a", URL: "https://a"}, {Name: "b"}}
		}, "servers[1]: name and url are required"},
		{"duplicate server", func(c *Config) {
			c.Servers = []ServerConfig{{Name: "a", URL: "https://a"}, {Name: "b", URL: "https://b"}, {Name: "a", URL: "https://c"}}
		}, `servers[2]: duplicate server name "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.want != "" && err == nil:
				t.Errorf("Validate succeeded, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Validate = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	c := Default()
	c.DataDir = ""
	c.MaxBodyBytes = 0
	c.Log.Level = "loud"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate succeeded")
	}
	for _, want := range []string{"data_dir", "max_body_bytes", "log.level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestValidatePublicURL(t *testing.T) {
	tests := []struct {
		addr, publicURL, want string
	}{
		{"127.0.0.1:8080", "", "http://127.0.0.1:8080"},
		{"0.0.0.0:9000", "", "http://0.0.0.0:9000"},
		{"[::1]:8080", "", "http://[::1]:8080"},
		{"127.0.0.1:8080", "https://gw.example.com/", "https://gw.example.com"},
		{"127.0.0.1:8080", "https://gw.example.com/base//", "https://gw.example.com/base"},
	}
	for _, tt := range tests {
		c := Default()
		c.Addr, c.PublicURL = tt.addr, tt.publicURL
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(addr %q, public_url %q): %v", tt.addr, tt.publicURL, err)
		}
		if c.PublicURL != tt.want {
			t.Errorf("Validate(addr %q, public_url %q): PublicURL = %q, want %q", tt.addr, tt.publicURL, c.PublicURL, tt.want)
		}
	}
}

// Validate must not touch the file system: a data dir, seal key file and
// secret files that do not exist are not its business.
func TestValidateHasNoSideEffects(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c := Default()
	c.DataDir = dir
	c.SealKeyFile = filepath.Join(dir, "seal.key")
	c.AdminToken = Secret{File: filepath.Join(dir, "admin-token")}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Validate created or touched %s: %v", dir, err)
	}
}

func TestEgressPrefixes(t *testing.T) {
	c := Config{EgressAllow: []string{"10.1.2.3/8", "127.0.0.1", "::1", "fd00::/8"}}
	got, err := c.EgressPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, p := range got {
		s = append(s, p.String())
	}
	want := []string{"10.0.0.0/8", "127.0.0.1/32", "::1/128", "fd00::/8"}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("prefixes (-want +got):\n%s", diff)
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"valid.yaml", "unknown_key.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		if err := c.Decode(strings.NewReader(string(data))); err != nil {
			return
		}
		// Whatever decodes must survive the rest of the pipeline too.
		_ = c.ApplyEnv(func(string) string { return "" })
		_ = c.Validate()
		_, _ = c.EgressPrefixes()
		_ = fmt.Sprint(c)
	})
}
