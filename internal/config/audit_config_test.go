package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpgate/mcpgate/internal/audit"
)

func TestDecodeAudit(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want AuditConfig
	}{
		{"absent: defaults", "addr: 127.0.0.1:1\n", AuditConfig{Retention: DefaultAuditRetention}},
		{"every key", `audit:
  retention: 2160h
  mirror: /var/log/mcpgate/audit.jsonl
  redact_keys: [ssn, card_pin]
  redact_paths: ["$.payment.card_number", "$.items[*].secret"]
  redact_patterns: ['ghp_[A-Za-z0-9]{36}', '\bsk-[A-Za-z0-9]{20,}\b']
`, AuditConfig{
			Retention:      2160 * time.Hour,
			Mirror:         "/var/log/mcpgate/audit.jsonl",
			RedactKeys:     []string{"ssn", "card_pin"},
			RedactPaths:    []string{"$.payment.card_number", "$.items[*].secret"},
			RedactPatterns: []string{`ghp_[A-Za-z0-9]{36}`, `\bsk-[A-Za-z0-9]{20,}\b`},
		}},
		{"a key keeps its siblings' defaults", "audit:\n  mirror: stdout\n", AuditConfig{Retention: DefaultAuditRetention, Mirror: "stdout"}},
		{"retention 0 keeps events forever", "audit: {retention: 0s}\n", AuditConfig{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := decode(tt.in)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, c.Audit); diff != "" {
				t.Errorf("audit (-want +got):\n%s", diff)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestDecodeAuditErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"unknown key", "audit:\n  retention: 1h\n  redact_key: [x]\n", []string{"line 3", "redact_key"}},
		{"bad duration", "audit:\n  retention: 30d\n", []string{"line 2", "30d"}},
		{"patterns not a list", "audit:\n  redact_patterns: ghp_.*\n", []string{"line 2"}},
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

func TestValidateAudit(t *testing.T) {
	tests := []struct {
		name   string
		modify func(a *AuditConfig)
		want   string // substring of the error; "" for valid
	}{
		{"defaults", func(*AuditConfig) {}, ""},
		{"file mirror and every rule", func(a *AuditConfig) {
			a.Mirror, a.RedactKeys = "audit.jsonl", []string{"ssn"}
			a.RedactPaths = []string{"$", "$.a", "$.a.*.b", "$.cards[].number"}
			a.RedactPatterns = []string{`ghp_[A-Za-z0-9]{36}`, `(?i)bearer\s+\S+`}
		}, ""},
		{"negative retention", func(a *AuditConfig) { a.Retention = -time.Hour }, "audit.retention -1h0m0s must not be negative"},
		{"bad pattern", func(a *AuditConfig) { a.RedactPatterns = []string{"ok", "ghp_[A-Z"} },
			"audit.redact_patterns[1]: error parsing regexp: missing closing ]: `[A-Z`"},
		{"lookahead is not Go syntax", func(a *AuditConfig) { a.RedactPatterns = []string{`(?=x)`} }, "audit.redact_patterns[0]"},
		{"path without $", func(a *AuditConfig) { a.RedactPaths = []string{"payment.card_number"} }, `audit.redact_paths[0] "payment.card_number": want $.key.key…`},
		{"path with an empty key", func(a *AuditConfig) { a.RedactPaths = []string{"$.a", "$.a..b"} }, `audit.redact_paths[1] "$.a..b"`},
		{"path with an index", func(a *AuditConfig) { a.RedactPaths = []string{"$.a[0]"} }, `audit.redact_paths[0]`},
		{"empty key", func(a *AuditConfig) { a.RedactKeys = []string{"ssn", " _ "} }, `audit.redact_keys[1] " _ ": empty key`},
		{"blank mirror", func(a *AuditConfig) { a.Mirror = "  " }, "audit.mirror"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(&c.Audit)
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

// TestRedactConfigMatchesRedactor: what Validate accepts, the Redactor
// accepts, so a configuration that checks out also starts.
func TestRedactConfigMatchesRedactor(t *testing.T) {
	for _, p := range []string{"$", "$.", "$.a", "$.a.b", "$..a", "$.a.", "$.*", "$.a[*].b", "$.a[].b", "$.a[0]", "$[0]", "a.b", "", "$.a]"} {
		_, err := audit.ParsePath(p)
		if got, want := validRedactPath(p), err == nil; got != want {
			t.Errorf("path %q: config accepts %v, audit.ParsePath accepts %v", p, got, want)
		}
	}
	for _, k := range []string{"ssn", "-", " _ ", "a-b"} {
		_, err := audit.NewRedactor([]string{k}, nil, nil)
		c := AuditConfig{RedactKeys: []string{k}}
		if got, want := len(c.validate()) == 0, err == nil; got != want {
			t.Errorf("key %q: config accepts %v, audit.NewRedactor accepts %v", k, got, want)
		}
	}
}
