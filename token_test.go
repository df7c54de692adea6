package mcpgate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate"
)

func TestGrantTokenFormat(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, digest := mcpgate.NewGrantToken()
		if !strings.HasPrefix(tok, "mcpg_") || len(tok) != mcpgate.GrantTokenLen {
			t.Fatalf("token %q: want mcpg_ prefix and length %d", tok, mcpgate.GrantTokenLen)
		}
		if err := mcpgate.ParseGrantToken(tok); err != nil {
			t.Fatalf("fresh token rejected: %v", err)
		}
		if digest != mcpgate.HashGrantToken(tok) || len(digest) != 64 || strings.Contains(digest, tok) {
			t.Fatalf("digest %q", digest)
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
	}
}

func TestParseGrantTokenRejects(t *testing.T) {
	good, _ := mcpgate.NewGrantToken()
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for name, tok := range map[string]string{
		"empty":              "",
		"no prefix":          good[5:],
		"other prefix":       "ghp_" + good[5:],
		"truncated":          good[:len(good)-1],
		"extended":           good + "0",
		"body changed":       flip(10),
		"checksum changed":   flip(len(good) - 1),
		"non-base62":         good[:10] + "-" + good[11:],
		"non-ascii":          good[:10] + "é" + good[12:],
		"admin token shaped": "mcpga_" + good[6:],
	} {
		if err := mcpgate.ParseGrantToken(tok); !errors.Is(err, mcpgate.ErrGrantMalformed) {
			t.Errorf("%s: got %v, want ErrGrantMalformed", name, err)
		}
	}
}

func FuzzParseGrantToken(f *testing.F) {
	good, _ := mcpgate.NewGrantToken()
	f.Add(good)
	f.Add("mcpg_")
	f.Add("")
	f.Add("mcpg_" + strings.Repeat("z", 49))
	f.Fuzz(func(t *testing.T, s string) {
		if err := mcpgate.ParseGrantToken(s); err == nil {
			if len(s) != mcpgate.GrantTokenLen || !strings.HasPrefix(s, "mcpg_") {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}
