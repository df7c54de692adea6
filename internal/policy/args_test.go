package policy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseArguments(t *testing.T) {
	got, err := ParseArguments([]byte(` {"repo":"acme/api","n":150,"x":150.5,"big":12345678901234567890,
		"ok":true,"none":null,"list":[1,"a",[],{}],"obj":{"k":{"k":"v"}},"emoji":"\ud83d\ude00","esc":"a\"b\\u"} `))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"repo": "acme/api", "n": json.Number("150"), "x": json.Number("150.5"),
		"big": json.Number("12345678901234567890"), "ok": true, "none": nil,
		"list":  []any{json.Number("1"), "a", []any{}, map[string]any{}},
		"obj":   map[string]any{"k": map[string]any{"k": "v"}},
		"emoji": "😀", "esc": `a"b\u`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if m, err := ParseArguments(nil); err != nil || m == nil || len(m) != 0 {
		t.Errorf("absent arguments: %v, %v", m, err)
	}
}

func TestParseArgumentsDepth(t *testing.T) {
	nest := func(depth int) []byte {
		// depth objects: {"a":{"a":...{}}}
		return []byte(strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1))
	}
	if _, err := ParseArguments(nest(MaxArgumentDepth)); err != nil {
		t.Errorf("depth %d: %v", MaxArgumentDepth, err)
	}
	if _, err := ParseArguments(nest(MaxArgumentDepth + 1)); !errors.Is(err, ErrInvalidArguments) || !strings.Contains(err.Error(), "deeper") {
		t.Errorf("depth %d: %v", MaxArgumentDepth+1, err)
	}
	arrays := []byte(`{"a":` + strings.Repeat("[", MaxArgumentDepth) + strings.Repeat("]", MaxArgumentDepth) + "}")
	if _, err := ParseArguments(arrays); err == nil {
		t.Error("deep arrays accepted")
	}
	if _, err := ParseArguments([]byte(`{"a":` + strings.Repeat("[", 100000))); err == nil {
		t.Error("very deep, unterminated input accepted")
	}
}

func TestParseArgumentsRejects(t *testing.T) {
	cases := []struct{ name, raw, text string }{
		{"duplicate key", `{"a":1,"a":2}`, `duplicate key "a"`},
		{"duplicate nested key", `{"a":{"b":1,"c":{"d":1,"d":1}}}`, `duplicate key "d"`},
		{"duplicate key in array element", `{"a":[{"x":1},{"x":1,"x":2}]}`, `duplicate key "x"`},
		{"duplicate after escapes", `{"a":1,"\u0061":2}`, `duplicate key "a"`},
		{"invalid UTF-8 in a string", "{\"a\":\"\xff\"}", "UTF-8"},
		{"invalid UTF-8 in a key", "{\"\xc3\x28\":1}", "UTF-8"},
		{"lone high surrogate", `{"a":"\ud800"}`, "surrogate"},
		{"lone low surrogate", `{"a":"\udc00x"}`, "surrogate"},
		{"reversed pair", `{"a":"\udc00\ud800"}`, "surrogate"},
		{"high then non-surrogate", `{"a":"\ud800\u0041"}`, "surrogate"},
		{"surrogate in a key", `{"\ud800":1}`, "surrogate"},
		{"array", `[1,2]`, "not a JSON object"},
		{"string", `"x"`, "not a JSON object"},
		{"number", `12`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"whitespace", "  ", "EOF"},
		{"trailing data", `{"a":1} {"b":2}`, "data after"},
		{"trailing garbage", `{"a":1}x`, "data after"},
		{"unterminated", `{"a":1`, ""},
		{"trailing comma", `{"a":1,}`, ""},
		{"missing colon", `{"a" 1}`, ""},
		{"bad literal", `{"a":tru}`, ""},
		{"mismatched", `{"a":[1}`, ""},
		{"non-string key", `{1:2}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := ParseArguments([]byte(c.raw))
			if !errors.Is(err, ErrInvalidArguments) || !strings.Contains(err.Error(), c.text) {
				t.Errorf("ParseArguments(%q) = %v, %v; want an error containing %q", c.raw, m, err, c.text)
			}
		})
	}
}

// TestArgumentNumbersInConditions pins what a condition sees: every number a
// double, whatever its spelling or Go type.
func TestArgumentNumbersInConditions(t *testing.T) {
	p := mustParse(t, `
rules:
  - id: is-double
    effect: deny
    when: 'type(args.v) == double && args.v > 100 && args.v == 150.0 && args.v + 0.5 == 150.5'
`)
	for _, v := range []any{json.Number("150"), json.Number("1.5e2"), 150.0, 150, int64(150), uint32(150), float32(150)} {
		d := p.Evaluate(Input{Server: "s", Name: "t", Args: map[string]any{"v": v}})
		if d.Allow || d.RuleID != "is-double" {
			t.Errorf("%T %v: %+v", v, v, d)
		}
	}
}

func TestParseArgumentsRefusesKeysDifferingInCase(t *testing.T) {
	for _, raw := range []string{
		`{"repo":"acme/x","Repo":"evil/x"}`,
		`{"a":{"ID":1,"id":2}}`,
		`{"a":[{"x":1},{"name":1,"NAME":2}]}`,
		"{\"k\":1,\"\u212a\":2}", // KELVIN SIGN folds to k
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"K9":9,"k9":10}`, // the map path
	} {
		if _, err := ParseArguments([]byte(raw)); err == nil || !strings.Contains(err.Error(), "differ only in letter case") {
			t.Errorf("ParseArguments(%s) = %v; want keys differing only in case refused", raw, err)
		}
	}
	for _, raw := range []string{`{"a":1,"b":{"a":1}}`, `{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9}`} {
		if _, err := ParseArguments([]byte(raw)); err != nil {
			t.Errorf("ParseArguments(%s) = %v", raw, err)
		}
	}
}
