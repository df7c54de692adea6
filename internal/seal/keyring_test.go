package seal

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestNewKeyringKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewKeyring(make([]byte, n)); err == nil || !strings.Contains(err.Error(), "want 32") {
			t.Errorf("primary of %d bytes: err = %v", n, err)
		}
		if _, err := NewKeyring(GenerateKey(), GenerateKey(), make([]byte, n)); err == nil || !strings.Contains(err.Error(), "older key 2") {
			t.Errorf("older key of %d bytes: err = %v", n, err)
		}
	}
}

func TestKeyIDIsHashPrefix(t *testing.T) {
	key := testKey(7)
	sum := sha256.Sum256(key)
	k := mustKeyring(t, key, testKey(8), key)
	if want := hex.EncodeToString(sum[:8]); k.PrimaryID() != want || len(want) != 16 {
		t.Errorf("PrimaryID = %s, want %s", k.PrimaryID(), want)
	}
	if ids := k.IDs(); len(ids) != 2 || ids[0] != k.PrimaryID() {
		t.Errorf("IDs = %v, want primary first and duplicates dropped", ids)
	}
}

func TestGenerateKey(t *testing.T) {
	a, b := GenerateKey(), GenerateKey()
	if len(a) != KeySize || bytes.Equal(a, b) {
		t.Fatalf("GenerateKey: len %d, equal %v", len(a), bytes.Equal(a, b))
	}
}

func TestParseKey(t *testing.T) {
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(250 + i) // produces '+' '/' in std and '-' '_' in URL-safe base64
	}
	for _, in := range []string{
		base64.StdEncoding.EncodeToString(key),
		base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key),
		base64.RawURLEncoding.EncodeToString(key),
		"  \t" + base64.StdEncoding.EncodeToString(key) + "\r\n",
	} {
		got, err := ParseKey(in)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseKey(%q) = %x, %v", in, got, err)
		}
	}
}

func TestParseKeyErrorsHideMaterial(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	for _, in := range []string{"", "   ", short, "not*base64*at*all*but*secret", short + "!"} {
		_, err := ParseKey(in)
		if err == nil {
			t.Fatalf("ParseKey(%q): no error", in)
		}
		if s := strings.TrimSpace(in); s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q echoes the key", err)
		}
	}
}
