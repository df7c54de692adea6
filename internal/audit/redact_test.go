package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

func mustRedactor(t testing.TB, keys, paths, patterns []string) *Redactor {
	t.Helper()
	r, err := NewRedactor(keys, paths, patterns)
	if err != nil {
		t.Fatalf("NewRedactor: %v", err)
	}
	return r
}

// ghToken is a GitHub-token-shaped value for the pattern tests.
var ghToken = "ghp_" + strings.Repeat("A1b2", 9)

func TestRedact(t *testing.T) {
	r := mustRedactor(t, []string{"ssn", "Card-PIN"},
		[]string{"$.payment.card_number", "$.cards[*].number", "$.*.pin", "$.a.b.c"},
		[]string{`ghp_[A-Za-z0-9]{36}`, `\b\d{4}-\d{4}-\d{4}-\d{4}\b`})
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	tests := []struct{ name, in, want string }{
		{"empty", ``, ``},
		{"blank", " \n\t ", ``},
		{"nothing secret, key order and spacing", `{ "b": 1, "a": "x", "c": [true, false, null] }`, `{"b":1,"a":"x","c":[true,false,null]}`},
		{"numbers verbatim", `{"n":1.50e3,"big":12345678901234567890123,"neg":-0.0}`, `{"n":1.50e3,"big":12345678901234567890123,"neg":-0.0}`},
		{"default keys, any case and separator", `{"token":"t","Password":"p","API-Key":"k","x_api_key":"k","apiKey":"k","Authorization":"Bearer x","private.key":"pem"}`,
			`{"token":"[REDACTED]","Password":"[REDACTED]","API-Key":"[REDACTED]","x_api_key":"[REDACTED]","apiKey":"[REDACTED]","Authorization":"[REDACTED]","private.key":"[REDACTED]"}`},
		{"keys ending in a secret name", `{"github_token":"t","db-password":"p","client_secret":"s","proxyAuthorization":"a"}`,
			`{"github_token":"[REDACTED]","db-password":"[REDACTED]","client_secret":"[REDACTED]","proxyAuthorization":"[REDACTED]"}`},
		{"names that only contain a secret name", `{"max_tokens":5,"token_count":3,"secretary":"bob","passwords_enabled":true}`,
			`{"max_tokens":5,"token_count":3,"secretary":"bob","passwords_enabled":true}`},
		{"secret values of every type", `{"token":{"a":[1,{"b":2}]},"secret":[1,2],"password":42,"api_key":null,"apikey":true}`,
			`{"token":"[REDACTED]","secret":"[REDACTED]","password":"[REDACTED]","api_key":"[REDACTED]","apikey":"[REDACTED]"}`},
		{"nested objects", `{"auth":{"client_secret":"s","user":"u","inner":{"refresh_token":"r","scope":"x"}}}`,
			`{"auth":{"client_secret":"[REDACTED]","user":"u","inner":{"refresh_token":"[REDACTED]","scope":"x"}}}`},
		{"arrays of objects", `{"items":[{"password":"a","id":1},{"password":{"x":1}},"token",["secret"]]}`,
			`{"items":[{"password":"[REDACTED]","id":1},{"password":"[REDACTED]"},"token",["secret"]]}`},
		{"top-level array", `[{"secret":1},{"ok":2},[{"access_token":"a"}]]`, `[{"secret":"[REDACTED]"},{"ok":2},[{"access_token":"[REDACTED]"}]]`},
		{"configured keys", `{"SSN":"123","patient_ssn":"456","card_pin":1234,"card":"x"}`,
			`{"SSN":"[REDACTED]","patient_ssn":"[REDACTED]","card_pin":"[REDACTED]","card":"x"}`},
		{"path", `{"payment":{"card_number":"4111","amount":5},"card_number":"top level stays"}`,
			`{"payment":{"card_number":"[REDACTED]","amount":5},"card_number":"top level stays"}`},
		{"path ignores key case", `{"Payment":{"Card_Number":{"x":1}}}`, `{"Payment":{"Card_Number":"[REDACTED]"}}`},
		{"path through arrays", `{"cards":[{"number":"1","label":"a"},{"number":"2"}],"number":"keep"}`,
			`{"cards":[{"number":"[REDACTED]","label":"a"},{"number":"[REDACTED]"}],"number":"keep"}`},
		{"path through an array of arrays", `{"payment":[[{"card_number":1}]]}`, `{"payment":[[{"card_number":"[REDACTED]"}]]}`},
		{"wildcard path", `{"x":{"pin":1},"y":{"pin":2,"z":{"pin":3}},"pin":4}`, `{"x":{"pin":"[REDACTED]"},"y":{"pin":"[REDACTED]","z":{"pin":3}},"pin":4}`},
		{"partial path match", `{"a":{"b":{"d":1}},"b":{"c":2}}`, `{"a":{"b":{"d":1}},"b":{"c":2}}`},
		{"pattern in a value", `{"note":"use ` + ghToken + ` please","n":1}`, `{"note":"use [REDACTED] please","n":1}`},
		{"pattern twice and in an array", `["` + ghToken + ghToken + `", "4111-1111-1111-1111"]`, `["[REDACTED][REDACTED]","[REDACTED]"]`},
		{"pattern in a key", `{"` + ghToken + `":1}`, `{"[REDACTED]":1}`},
		{"escapes survive", `{"s":"a\"b\\c\n\t\u0001\u00e9\u2028<>&/"}`, `{"s":"a\"b\\c\n\t\u0001é\u2028<>&/"}`},
		{"invalid UTF-8 becomes U+FFFD", "{\"s\":\"a\xffb\"}", `{"s":"a` + "\uFFFD" + `b"}`},
		{"scalar", `"just a string"`, `"just a string"`},
		{"duplicate keys both redacted", `{"token":"a","token":"b"}`, `{"token":"[REDACTED]","token":"[REDACTED]"}`},
		{"invalid: truncated", `{"a":`, `"[invalid JSON: 5 bytes]"`},
		{"invalid: two values", `{"a":1}{}`, `"[invalid JSON: 9 bytes]"`},
		{"invalid: trailing comma", `{"a":1,}`, `"[invalid JSON: 8 bytes]"`},
		{"invalid: bare word", `password=hunter2`, `"[invalid JSON: 16 bytes]"`},
		{"invalid: unquoted key", `{token: "x"}`, `"[invalid JSON: 12 bytes]"`},
		{"too deep", deep, `"[arguments nested deeper than 64: 200 bytes]"`},
		{"deep under a secret key is fine", `{"token":` + deep + `}`, `{"token":"[REDACTED]"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Redact([]byte(tt.in))
			if got != tt.want {
				t.Errorf("Redact(%s)\n got %s\nwant %s", tt.in, got, tt.want)
			}
			if got != "" && !json.Valid([]byte(got)) {
				t.Errorf("Redact(%s) = %s: not valid JSON", tt.in, got)
			}
		})
	}
}

func TestRedactWholePath(t *testing.T) {
	r := mustRedactor(t, nil, []string{"$"}, nil)
	if got := r.Redact([]byte(`{"a":1}`)); got != `"[REDACTED]"` {
		t.Errorf("Redact with path $ = %s", got)
	}
}

func TestRedactTruncates(t *testing.T) {
	r := mustRedactor(t, nil, nil, nil)
	big := `{"password":"` + strings.Repeat("p", 40<<10) + `","text":"` + strings.Repeat(`\"é`, 10<<10) + `"}`
	redacted := `{"password":"[REDACTED]","text":"` + strings.Repeat(`\"é`, 10<<10) + `"}`
	got := r.Redact([]byte(big))
	if len(got) > MaxArgumentsBytes || !json.Valid([]byte(got)) {
		t.Fatalf("truncated arguments: %d bytes, valid JSON %v; want at most %d and valid", len(got), json.Valid([]byte(got)), MaxArgumentsBytes)
	}
	var s string
	if err := json.Unmarshal([]byte(got), &s); err != nil {
		t.Fatal(err)
	}
	// Redaction comes first: the password is gone, whatever its size.
	wantPrefix := fmt.Sprintf("[truncated: %d bytes] ", len(redacted)) + redacted[:100]
	if !strings.HasPrefix(s, wantPrefix) || strings.Contains(s, "ppp") {
		t.Errorf("truncated arguments start %q, want prefix %q and no secret", s[:min(len(s), 120)], wantPrefix)
	}
	if len(got) < MaxArgumentsBytes-8 {
		t.Errorf("truncated arguments are %d bytes: the limit %d is not used", len(got), MaxArgumentsBytes)
	}

	// Exactly at the limit: kept as is.
	exact := `{"t":"` + strings.Repeat("x", MaxArgumentsBytes-8) + `"}`
	if got := r.Redact([]byte(exact)); got != exact {
		t.Errorf("arguments of exactly %d bytes were changed", len(exact))
	}
	huge := make([]byte, maxParseBytes+1)
	if got := r.Redact(huge); got != fmt.Sprintf(`"[truncated: %d bytes, too large to record]"`, len(huge)) {
		t.Errorf("Redact(huge) = %s", got)
	}
}

func TestNewRedactorErrors(t *testing.T) {
	tests := []struct {
		name                  string
		keys, paths, patterns []string
		want                  string
	}{
		{"empty key", []string{"-"}, nil, nil, `redact key "-": empty`},
		{"path without $", nil, []string{"payment.card"}, nil, `redact path "payment.card"`},
		{"empty path segment", nil, []string{"$.a..b"}, nil, `redact path "$.a..b"`},
		{"index path", nil, []string{"$.a[0]"}, nil, `redact path "$.a[0]"`},
		{"bad pattern", nil, nil, []string{"ghp_[A-Z"}, `redact pattern "ghp_[A-Z": error parsing regexp`},
	}
	for _, tt := range tests {
		_, err := NewRedactor(tt.keys, tt.paths, tt.patterns)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: NewRedactor = %v, want an error starting %q", tt.name, err, tt.want)
		}
	}
}

// fuzzRedactor has one of each kind of rule.
func fuzzRedactor(t testing.TB) *Redactor {
	return mustRedactor(t, []string{"ssn"}, []string{"$.payment.card_number"}, []string{`ghp_[A-Za-z0-9]{4}`})
}

func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `"x"`, `{"token":"t","a":[{"password":{"x":[1]}}]}`,
		`{"payment":{"card_number":"4111"}}`, `["ghp_abcd"]`, `{"a":1,}`, `{"a"`, "{\"s\":\"\xff\"}",
		`{"Token":1,"max_tokens":2,"x":{"API-KEY":[null]}}`, strings.Repeat("[", 70) + strings.Repeat("]", 70),
		`{"token":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`,
		`{"ssn":"1","nested":[{"client_secret":"s"}]}`, `1e400`, `"\u0000\ud800"`,
	} {
		f.Add([]byte(s))
	}
	r := fuzzRedactor(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out := r.Redact(in)
		if out == "" {
			if len(strings.TrimSpace(string(in))) != 0 {
				t.Fatalf("Redact(%q) = \"\" for non-blank input", in)
			}
			return
		}
		if !json.Valid([]byte(out)) || !utf8.ValidString(out) {
			t.Fatalf("Redact(%q) = %q: not valid JSON", in, out)
		}
		if len(out) > MaxArgumentsBytes {
			t.Fatalf("Redact(%q) is %d bytes, over %d", in, len(out), MaxArgumentsBytes)
		}
		if err := checkRedacted(r, out); err != nil {
			t.Fatalf("Redact(%q) = %s: %v", in, out, err)
		}
		if again := r.Redact([]byte(out)); again != out {
			t.Fatalf("Redact is not idempotent:\n once %s\ntwice %s", out, again)
		}
	})
}

// checkRedacted walks JSON and fails if any value under a secret key is
// anything but "[REDACTED]".
func checkRedacted(r *Redactor, s string) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var walk func(secret bool) error
	walk = func(secret bool) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if secret {
			if tok != Redacted {
				return fmt.Errorf("a value under a secret key is %v", tok)
			}
			return nil
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				if err := walk(r.secretKey(k.(string))); err != nil {
					return fmt.Errorf("%q: %w", k, err)
				}
			}
			_, err = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if err := walk(false); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		}
		return err
	}
	if err := walk(false); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the value")
	}
	return nil
}

func BenchmarkRedact(b *testing.B) {
	r := mustRedactor(b, []string{"ssn"}, []string{"$.payment.card_number"}, []string{`ghp_[A-Za-z0-9]{36}`})
	in := []byte(`{"owner":"mcpgate","repo":"mcpgate","title":"Audit log","body":"See the design doc; token ` + ghToken + `",` +
		`"labels":["audit","security"],"payment":{"card_number":"4111"},"headers":{"Authorization":"Bearer x"}}`)
	b.ReportAllocs()
	for b.Loop() {
		r.Redact(in)
	}
}
