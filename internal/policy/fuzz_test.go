package policy

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// The seed corpora live in testdata/fuzz/<name>; plain go test runs them as
// regression tests.

func FuzzParse(f *testing.F) {
	ins := []Input{
		{Server: "github", Name: "create_issue", User: "alice", GrantID: "gr_1", GrantLabel: "laptop",
			Args: map[string]any{"repo": "acme/api", "amount": json.Number("150.5"), "force": true}},
		{Server: "slack", Method: MethodResourcesRead, Name: "file:///srv/a", User: "team-ops"},
		{Server: "x", Method: MethodPromptsGet, Name: "p"},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is a %T, not *Error", err, err)
			}
			return
		}
		for _, in := range ins {
			in.Now = time.Date(2026, 1, 15, 11, 0, 0, 0, time.UTC)
			visible := p.Visible(in)
			d := p.Evaluate(in)
			if d.Reason == "" {
				t.Fatalf("decision without a reason: %+v", d)
			}
			if d.Allow && !visible {
				t.Fatalf("%+v hidden but allowed by %q (%s)", in, d.RuleID, d.Reason)
			}
		}
	})
}

func FuzzParseArguments(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := ParseArguments(raw)
		if err != nil {
			if m != nil {
				t.Fatal("a map with an error")
			}
			return
		}
		if len(raw) > 0 && !json.Valid(raw) {
			t.Fatalf("accepted invalid JSON %q", raw)
		}
		// What was accepted survives a round trip unchanged.
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := ParseArguments(out)
		if err != nil {
			t.Fatalf("reparse of %s: %v", out, err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed %v into %v", m, again)
		}
		// And agrees with encoding/json, which keeps the last duplicate.
		var std map[string]any
		if len(raw) > 0 {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&std); err != nil {
				t.Fatalf("encoding/json refuses what ParseArguments accepted: %v", err)
			}
			if len(std) != len(m) {
				t.Fatalf("encoding/json sees %d keys, ParseArguments %d", len(std), len(m))
			}
		}
	})
}
