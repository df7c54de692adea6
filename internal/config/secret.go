package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Secret is a configuration value that may be given inline, by environment
// variable or by file:
//
//	key: "literal"
//	key: {env: VAR}
//	key: {file: /run/secrets/x}
//
// Its String method never reveals the value, so a Secret is safe to log.
type Secret struct {
	Value string
	Env   string
	File  string
}

// UnmarshalYAML accepts a scalar or a mapping with exactly one of value, env, file.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s.Value = n.Value
		return nil
	}
	var m struct {
		Value string `yaml:"value"`
		Env   string `yaml:"env"`
		File  string `yaml:"file"`
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a secret is a string or {value|env|file: …}", n.Line)
	}
	// n.Decode does not inherit the decoder's KnownFields: check keys here.
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i]; k.Value {
		case "value", "env", "file":
		default:
			return fmt.Errorf("line %d: unknown key %q in a secret: use value, env or file", k.Line, k.Value)
		}
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	set := 0
	for _, v := range []string{m.Value, m.Env, m.File} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("line %d: a secret needs exactly one of value, env or file", n.Line)
	}
	*s = Secret{Value: m.Value, Env: m.Env, File: m.File}
	return nil
}

// IsSet reports whether any source is configured.
func (s Secret) IsSet() bool { return s.Value != "" || s.Env != "" || s.File != "" }

// Resolve returns the secret's value from its source.
func (s Secret) Resolve(getenv func(string) string) (string, error) {
	switch {
	case s.Value != "":
		return s.Value, nil
	case s.Env != "":
		v := getenv(s.Env)
		if v == "" {
			return "", fmt.Errorf("environment variable %s is empty or unset", s.Env)
		}
		return v, nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("secret file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", errors.New("secret is not set")
}

// String hides the value.
func (s Secret) String() string {
	switch {
	case s.Env != "":
		return "env:" + s.Env
	case s.File != "":
		return "file:" + s.File
	case s.Value != "":
		return "[redacted]"
	}
	return ""
}

// MarshalJSON hides the value too, so that a configuration logged by a JSON
// handler (which ignores String) stays safe.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }
