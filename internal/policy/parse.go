package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is a policy that does not load. Line and Column locate the offending
// YAML node (1-based; 0 when unknown); Rule is the id of the rule it belongs
// to, when known.
type Error struct {
	Line, Column int
	Rule         string
	Msg          string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("policy")
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	if e.Rule != "" {
		fmt.Fprintf(&b, ": rule %q", e.Rule)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// yamlErr wraps an error of the YAML parser, which gives a line but no
// column: "yaml: line 3: did not find expected key".
func yamlErr(err error) *Error {
	msg := err.Error()
	e := &Error{Msg: msg}
	if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
		if n, after, ok := strings.Cut(rest, ":"); ok {
			if line, err := strconv.Atoi(n); err == nil {
				e.Line, e.Msg = line, "yaml:"+after
			}
		}
	}
	return e
}

func nodeErr(n *yaml.Node, ruleID, format string, args ...any) *Error {
	return &Error{Line: n.Line, Column: n.Column, Rule: ruleID, Msg: fmt.Sprintf(format, args...)}
}

// Parse loads a policy from YAML. Decoding is strict: unknown and duplicate
// keys, aliases, several documents, bad globs, bad rates and CEL conditions
// that do not compile or are not boolean are errors (*Error) that give the
// line, column and rule id. An empty document is an empty policy, which
// allows everything.
func Parse(data []byte, opts ...Option) (*Policy, error) {
	p := &Policy{
		defaults:       map[string]Effect{},
		defaultReasons: map[string]string{},
		limiter:        newLimiter(defaultMaxRateKeys),
	}
	for _, o := range opts {
		o(p)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		return nil, yamlErr(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlErr(err)
		}
		return nil, nodeErr(&extra, "", "a policy is a single YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return p, nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return p, nil
	}
	err := eachKey(root, "", func(k, v *yaml.Node) error {
		switch k.Value {
		case "defaults":
			return p.parseDefaults(v)
		case "rules":
			return p.parseRules(v)
		}
		return nodeErr(k, "", "unknown key %q (want defaults or rules)", k.Value)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// eachKey calls f for each key of mapping n, refusing non-mappings,
// non-scalar keys, duplicate keys and aliases.
func eachKey(n *yaml.Node, ruleID string, f func(k, v *yaml.Node) error) error {
	if err := noAlias(n, ruleID); err != nil {
		return err
	}
	if n.Kind != yaml.MappingNode {
		return nodeErr(n, ruleID, "expected a mapping")
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if err := noAlias(k, ruleID); err != nil {
			return err
		}
		if err := noAlias(v, ruleID); err != nil {
			return err
		}
		if k.Kind != yaml.ScalarNode {
			return nodeErr(k, ruleID, "keys must be strings")
		}
		if seen[k.Value] {
			return nodeErr(k, ruleID, "duplicate key %q", k.Value)
		}
		seen[k.Value] = true
		if err := f(k, v); err != nil {
			return err
		}
	}
	return nil
}

func noAlias(n *yaml.Node, ruleID string) error {
	if n.Kind == yaml.AliasNode {
		return nodeErr(n, ruleID, "aliases are not supported")
	}
	return nil
}

// scalar returns the string value of n, refusing collections and null.
func scalar(n *yaml.Node, ruleID, what string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", nodeErr(n, ruleID, "%s must be a string", what)
	}
	return n.Value, nil
}

// stringList returns the strings of sequence n, which must not be empty.
func stringList(n *yaml.Node, ruleID, what string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, nodeErr(n, ruleID, "%s must be a list", what)
	}
	if len(n.Content) == 0 {
		return nil, nodeErr(n, ruleID, "%s must not be empty (leave it out to match everything)", what)
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		if err := noAlias(c, ruleID); err != nil {
			return nil, err
		}
		s, err := scalar(c, ruleID, what+" entries")
		if err != nil {
			return nil, err
		}
		if s == "" {
			return nil, nodeErr(c, ruleID, "%s entries must not be empty", what)
		}
		out = append(out, s)
	}
	return out, nil
}

func patternList(n *yaml.Node, ruleID, what string) ([]pattern, error) {
	ss, err := stringList(n, ruleID, what)
	if err != nil {
		return nil, err
	}
	out := make([]pattern, len(ss))
	for i, s := range ss {
		if out[i], err = newPattern(s); err != nil {
			return nil, nodeErr(n.Content[i], ruleID, "%s: bad glob %q: %v", what, s, err)
		}
	}
	return out, nil
}

func parseEffect(n *yaml.Node, ruleID string) (Effect, error) {
	s, err := scalar(n, ruleID, "effect")
	if err != nil {
		return 0, err
	}
	switch s {
	case "allow":
		return Allow, nil
	case "deny":
		return Deny, nil
	}
	return 0, nodeErr(n, ruleID, "effect must be allow or deny, not %q", s)
}

func (p *Policy) parseDefaults(n *yaml.Node) error {
	return eachKey(n, "", func(k, v *yaml.Node) error {
		if k.Value == "" || (k.Value != "*" && strings.ContainsAny(k.Value, `*?[\`)) {
			return nodeErr(k, "", `defaults keys are server names or "*", not %q`, k.Value)
		}
		e, err := parseEffect(v, "")
		if err != nil {
			return err
		}
		p.defaults[k.Value] = e
		if k.Value != "*" {
			p.defaultReasons[k.Value] = "default for server " + quote(k.Value) + " is " + e.String()
		}
		return nil
	})
}

func (p *Policy) parseRules(n *yaml.Node) error {
	if err := noAlias(n, ""); err != nil {
		return err
	}
	if n.Kind != yaml.SequenceNode {
		return nodeErr(n, "", "rules must be a list")
	}
	ids := make(map[string]bool, len(n.Content))
	for _, rn := range n.Content {
		r, err := parseRule(rn)
		if err != nil {
			return err
		}
		if ids[r.id] {
			return nodeErr(rn, r.id, "duplicate rule id")
		}
		ids[r.id] = true
		r.index = int32(len(p.rules))
		p.rules = append(p.rules, r)
		p.index.add(r)
	}
	return nil
}

var ruleKeys = "id, description, server, tools, methods, users, grants, effect, when, rate, mode"

func parseRule(n *yaml.Node) (*rule, error) {
	if err := noAlias(n, ""); err != nil {
		return nil, err
	}
	if n.Kind != yaml.MappingNode {
		return nil, nodeErr(n, "", "a rule must be a mapping")
	}
	// Find the id first so that every later error can name the rule.
	r := &rule{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == "id" {
			id, err := scalar(n.Content[i+1], "", "id")
			if err != nil {
				return nil, err
			}
			r.id = strings.TrimSpace(id)
		}
	}
	if r.id == "" {
		return nil, nodeErr(n, "", "a rule needs an id")
	}
	var effectSeen bool
	var whenNode *yaml.Node
	err := eachKey(n, r.id, func(k, v *yaml.Node) (err error) {
		switch k.Value {
		case "id":
		case "description":
			r.description, err = scalar(v, r.id, "description")
		case "server":
			var s string
			if s, err = scalar(v, r.id, "server"); err != nil {
				return err
			}
			if s == "" {
				return nodeErr(v, r.id, "server must not be empty")
			}
			if r.server, err = newPattern(s); err != nil {
				return nodeErr(v, r.id, "server: bad glob %q: %v", s, err)
			}
		case "tools":
			r.names, err = patternList(v, r.id, "tools")
		case "methods":
			var ms []string
			if ms, err = stringList(v, r.id, "methods"); err != nil {
				return err
			}
			for i, m := range ms {
				b := methodBit(m)
				if b == 0 || m == "" {
					return nodeErr(v.Content[i], r.id, "methods entries must be %s, %s or %s, not %q",
						MethodToolsCall, MethodResourcesRead, MethodPromptsGet, m)
				}
				r.methods |= b
			}
		case "users":
			r.users, err = patternList(v, r.id, "users")
		case "grants":
			r.grants, err = stringList(v, r.id, "grants")
		case "effect":
			r.effect, err = parseEffect(v, r.id)
			effectSeen = true
		case "when":
			var s string
			if s, err = scalar(v, r.id, "when"); err != nil {
				return err
			}
			if strings.TrimSpace(s) == "" {
				return nodeErr(v, r.id, "when must not be empty (leave it out for an unconditional rule)")
			}
			r.when, whenNode = s, v
		case "rate":
			var s string
			if s, err = scalar(v, r.id, "rate"); err != nil {
				return err
			}
			if r.rate, err = parseRate(s); err != nil {
				return nodeErr(v, r.id, "%v", err)
			}
		case "mode":
			var s string
			if s, err = scalar(v, r.id, "mode"); err != nil {
				return err
			}
			switch s {
			case "enforce":
				r.mode = Enforce
			case "dry-run":
				r.mode = DryRun
			default:
				return nodeErr(v, r.id, "mode must be enforce or dry-run, not %q", s)
			}
		default:
			return nodeErr(k, r.id, "unknown key %q (want one of %s)", k.Value, ruleKeys)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !effectSeen {
		return nil, nodeErr(n, r.id, "effect is required (allow or deny)")
	}
	if r.server.s == "" {
		r.server, _ = newPattern("*")
	}
	if r.names == nil {
		all, _ := newPattern("*")
		r.names = []pattern{all}
	}
	if r.methods == 0 {
		r.methods = methodBit(MethodToolsCall)
	}
	if r.when != "" {
		if r.prog, r.usesArgs, err = compile(r.when); err != nil {
			return nil, nodeErr(whenNode, r.id, "when: %v", err)
		}
	}
	suffix := ""
	if r.description != "" {
		suffix = ": " + r.description
	}
	r.allowReason = "allowed by rule " + quote(r.id) + suffix
	r.denyReason = "denied by rule " + quote(r.id) + suffix
	return r, nil
}
