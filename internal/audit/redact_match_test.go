package audit

import (
	"strings"
	"testing"
)

// oracleConfigs are the redactor configurations the scanner is compared
// with the old implementation (redact_oracle_test.go) under.
var oracleConfigs = []struct {
	name                  string
	keys, paths, patterns []string
}{
	{name: "none"},
	{name: "keys", keys: []string{"ssn", "Card-PIN", "ПАРОЛЬ", "x.y"}},
	{name: "paths", paths: []string{"$.a.*.b", "$.cards.number", "$.payment.card_number", "$.A[*].b[]"}},
	{name: "whole", paths: []string{"$"}},
	{name: "patterns", patterns: []string{`ghp_[A-Za-z0-9]+`, `\d{4}-\d{4}`}},
	{name: "odd patterns", patterns: []string{`\x{FFFD}`, `[<>&]+`, `\x{2028}`, `b*`, `(?i)é|\\`}},
	{name: "all", keys: []string{"ssn"}, paths: []string{"$.a.*.b", "$.cards.number"}, patterns: []string{`ghp_[A-Za-z0-9]+`, `\d{4}-\d{4}`}},
}

type redactorPair struct {
	name string
	new  *Redactor
	old  *oracleRedactor
}

func redactorPairs(t testing.TB) []redactorPair {
	var pairs []redactorPair
	for _, c := range oracleConfigs {
		old, err := newOracleRedactor(c.keys, c.paths, c.patterns)
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, redactorPair{c.name, mustRedactor(t, c.keys, c.paths, c.patterns), old})
	}
	return pairs
}

// nest returns v inside n arrays, or n objects under the key k.
func nest(n int, k, v string) string {
	if k == "" {
		return strings.Repeat("[", n) + v + strings.Repeat("]", n)
	}
	return strings.Repeat(`{"`+k+`":`, n) + v + strings.Repeat("}", n)
}

// oracleSeeds are inputs where the scanner and encoding/json might differ.
func oracleSeeds() []string {
	long := strings.Repeat("x", MaxArgumentsBytes-8)
	return []string{
		``, ` `, "\v{}\f", "\u00a0{}\u2028", "{}\x85", `{}`, `[]`, `null`, `true`, `false`, `0`, `-0.0e-0`, `"x"`,
		` { "b" : 1 , "a" : [ true , false , null ] } `, "\t{\r\n}\n",
		`{"token":"t","a":[{"password":{"x":[1]}}]}`, `{"a":{"x":{"b":1},"y":{"b":[2]}},"b":3}`,
		`{"cards":[{"number":"1","label":"a"},[{"number":{"x":1}}]],"number":"keep"}`,
		`{"payment":{"card_number":"4111","Card_Number":"4","amount":5}}`, `{"A":[{"B":1}]}`,
		`{"ssn":1,"x_SSN":2,"card_pin":3,"пароль":4,"XY":5,"x.y":6,"Ключ":7,"TO\u212aEN":8}`,
		`{"note":"ghp_abc123 and 1234-5678, ghp_ again","ghp_key":"v"}`,
		`{"s":"a\"b\\c\/d\b\f\n\r\t\u0000\u001f\u00e9\u2028\u2029<>&\u003c\u0026'"}`,
		`["\ud83d\ude00","\ud83d","\ude00","\ud83d\u0041","\ud83dx","\uD83D\uDE00","\udbff\udfff","\ud800\ud800\udc00"]`,
		"[\"a\xffb\",\"\xc3\",\"\xed\xa0\x80\",\"\xf4\x90\x80\x80\",\"\xef\xbf\xbd\",\"\xe2\x80\xa8\",\"\x7f\"]",
		"{\"k\xff\":\"\xfe\",\"tok\xffen\":1,\"токен\":2}", `{"é":"É","ǅ":"ǆ","<>&":"\u2028"}`,
		`[1e400,-1E+2,12345678901234567890123,0.000001e-99,1.5E-0]`,
		`[01]`, `[-]`, `[1.]`, `[1e]`, `[1e+]`, `[.5]`, `[+1]`, `[1.5.2]`, `[-01]`, `[0x1]`, `[Infinity]`, `[NaN]`,
		`[tru]`, `[truex]`, `[nul]`, `[nulll]`, `[True]`, `{"a":1}{}`, `{"a":1} x`, `{} {}`, `1 2`, `"a""b"`,
		`{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a" 1}`, `{"a":}`, `{"a"}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`,
		`{]`, `[}`, `{"a":[}`, `{"a":{]}`, `["a":1]`, `{"a"::1}`, `{"a":1,,"b":2}`, `[1,,2]`, `]`, `}`, `:`, `,`,
		`{"a`, `{"a":"b`, `"\`, `"\u12"`, `"\u12g4"`, `"\x"`, `"\'"`, "\"a\x01\"", "\"\x00\"", `{"a":1`, `[`, `{`,
		`{"token":[1,}`, `{"token":{"a" 1}}`, `{"token":{]}`, `{"token":1,}`, `{"token" 1}`, `{"token":}`,
		`{"token":[{"a":[1,{"b":null}]},"x",[]],"t":{}}`, `{"token":"x"} `, `{"token":"x"}]`,
		nest(64, "", "1"), nest(65, "", "1"), nest(65, "", ""), nest(66, "", ""), nest(100, "", ""),
		nest(64, "a", "1"), nest(65, "a", "1"), nest(64, "a", "{}"), nest(64, "a", `{"b":1}`), nest(64, "a", `{"token":{"c":[1]}}`),
		nest(64, "", `{"a"`), nest(64, "", `{"a" x`), nest(64, "", `{"token" x`), nest(64, "", "[,"), nest(64, "", "[}"),
		nest(64, "", `[x`), nest(64, "", "[ ]"), nest(64, "", "["), nest(64, "", `{"a":1,`), nest(64, "", `{,`),
		nest(63, "a", `{"b":1,"token":[[[]]],"c":2}`), `{"token":` + nest(5000, "", "") + `}`, `{"token":` + nest(3000, "x", "1") + `}`,
		`{"payment":` + nest(70, "card_number", "1") + `}`, nest(70, "a", "1"), `{"a":{"x":` + nest(70, "", "") + `}}`,
		`{"t":"` + long + `"}`, `{"t":"` + long + `x"}`, `{"t":"` + long[:len(long)-4] + `é"}`, `{"t":"` + long[:len(long)-6] + `\u2028"}`,
		`{"t":"` + strings.Repeat(`\"é`, 6<<10) + `"}`, `["` + strings.Repeat("\xff", 6<<10) + `"]`,
		`{"password":"` + strings.Repeat("p", 40<<10) + `","t":"` + long + `"}`, `[` + strings.Repeat(`"ghp_x",`, 3000) + `1]`,
	}
}

func TestRedactMatchesOracle(t *testing.T) {
	pairs := redactorPairs(t)
	for _, in := range oracleSeeds() {
		for _, p := range pairs {
			if got, want := p.new.Redact([]byte(in)), p.old.Redact([]byte(in)); got != want {
				t.Errorf("%s: Redact(%.200q)\n got %.300s\nwant %.300s", p.name, in, got, want)
			}
		}
	}
}

func FuzzRedactMatchesOracle(f *testing.F) {
	for _, s := range oracleSeeds() {
		f.Add([]byte(s))
	}
	pairs := redactorPairs(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, p := range pairs {
			if got, want := p.new.Redact(in), p.old.Redact(in); got != want {
				t.Fatalf("%s: Redact(%q)\n got %s\nwant %s", p.name, in, got, want)
			}
		}
	})
}

func FuzzNormalizeKeyMatchesOracle(f *testing.F) {
	for _, s := range []string{"", "API-Key", "x_api_key", "TO\u212aEN", "İ", "\xff", "a\xc3", "Ǆ.ǅ", "ΣΑΣ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if got, want := normalizeKey(k), oracleNormalizeKey(k); got != want {
			t.Fatalf("normalizeKey(%q) = %q, want %q", k, got, want)
		}
	})
}

// benchArguments are typical arguments of a tool call.
var benchArguments = []byte(`{"amount":250.5,"body":"Steps to reproduce: open the page, click login.","count":5,"labels":["bug","p1"],"repo":"acme/api","title":"Fix the login bug","api_key":"sk-123"}`)

func BenchmarkRedactVersusOracle(b *testing.B) {
	for _, c := range []struct {
		name            string
		paths, patterns []string
	}{
		{name: "default"},
		{name: "path+pattern", paths: []string{"$.labels"}, patterns: []string{`ghp_[A-Za-z0-9]+`}},
	} {
		old, err := newOracleRedactor(nil, c.paths, c.patterns)
		if err != nil {
			b.Fatal(err)
		}
		r := mustRedactor(b, nil, c.paths, c.patterns)
		if got, want := r.Redact(benchArguments), old.Redact(benchArguments); got != want {
			b.Fatalf("Redact = %s, oracle %s", got, want)
		}
		b.Run(c.name+"/oracle", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				old.Redact(benchArguments)
			}
		})
		b.Run(c.name+"/scanner", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Redact(benchArguments)
			}
		})
	}
}
