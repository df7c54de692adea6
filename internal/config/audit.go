package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// DefaultAuditRetention is how long audit events are kept by default (30 days).
const DefaultAuditRetention = 720 * time.Hour

// AuditConfig configures the decision log: every policy decision on a
// proxied call is recorded in the store, with the call's arguments redacted.
type AuditConfig struct {
	// Retention is how long events are kept (default 720h); 0 keeps them
	// forever.
	Retention time.Duration `yaml:"retention"`
	// Mirror also writes each event as one JSON object per line: "" (off),
	// "stdout", or a file path (appended to, created with mode 0600).
	Mirror string `yaml:"mirror"`
	// RedactKeys are argument keys whose values are recorded as
	// "[REDACTED]", besides token, password, secret, authorization, api_key,
	// apikey, access_token, refresh_token, private_key and client_secret. A
	// key matches ignoring case and the separators - _ . and space, and also
	// when it ends with the name (github_token matches token).
	RedactKeys []string `yaml:"redact_keys"`
	// RedactPaths are positions in the arguments to redact, such as
	// $.payment.card_number: keys separated by dots, * for any key; arrays
	// on the way are looked through.
	RedactPaths []string `yaml:"redact_paths"`
	// RedactPatterns are regular expressions (Go syntax, e.g.
	// ghp_[A-Za-z0-9]{36}); every match in a string value is redacted.
	RedactPatterns []string `yaml:"redact_patterns"`
}

// validate checks a without side effects.
func (a *AuditConfig) validate() []error {
	var errs []error
	if a.Retention < 0 {
		errs = append(errs, fmt.Errorf("audit.retention %v must not be negative (0 keeps events forever)", a.Retention))
	}
	for i, k := range a.RedactKeys {
		if strings.Trim(k, "-_. ") == "" {
			errs = append(errs, fmt.Errorf("audit.redact_keys[%d] %q: empty key", i, k))
		}
	}
	for i, p := range a.RedactPaths {
		if !validRedactPath(p) {
			errs = append(errs, fmt.Errorf("audit.redact_paths[%d] %q: want $.key.key… (keys separated by dots, * for any key)", i, p))
		}
	}
	for i, p := range a.RedactPatterns {
		if _, err := regexp.Compile(p); err != nil {
			errs = append(errs, fmt.Errorf("audit.redact_patterns[%d]: %w", i, err))
		}
	}
	if a.Mirror != "" && strings.TrimSpace(a.Mirror) == "" {
		errs = append(errs, errors.New(`audit.mirror: want "", "stdout" or a file path`))
	}
	return errs
}

// validRedactPath follows audit.ParsePath: "$" or "$." and non-empty keys,
// each optionally followed by [*] or [].
func validRedactPath(p string) bool {
	if p == "$" {
		return true
	}
	rest, ok := strings.CutPrefix(p, "$.")
	if !ok {
		return false
	}
	for _, s := range strings.Split(rest, ".") {
		s = strings.TrimSuffix(strings.TrimSuffix(s, "[*]"), "[]")
		if s == "" || strings.ContainsAny(s, "[]") {
			return false
		}
	}
	return true
}
