package seal

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestLoadOrCreateKeyFileCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	key, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created || len(key) != KeySize {
		t.Fatalf("first call = %d bytes, created %v, %v", len(key), created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %04o, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if want := EncodeKey(key) + "\n"; string(data) != want {
		t.Errorf("file = %q, want base64 and newline", data)
	}

	again, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Fatalf("second call = created %v, same key %v, %v", created, bytes.Equal(again, key), err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Error("existing key file was rewritten")
	}
}

func TestLoadOrCreateKeyFileNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	garbage := []byte("this is not a key\n")
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeyFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want an error naming %s", err, path)
	}
	if data, _ := os.ReadFile(path); !bytes.Equal(data, garbage) {
		t.Error("invalid key file was overwritten")
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeyFile(path); err == nil {
		t.Error("empty key file accepted")
	}
}

func TestLoadOrCreateKeyFileRefusesLooseMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX modes")
	}
	path := filepath.Join(t.TempDir(), "master.key")
	if _, _, err := LoadOrCreateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateKeyFile(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: err = %v, want refusal", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeyFile(path); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
}

func TestLoadOrCreateKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LoadOrCreateKeyFile(dir); err == nil {
		t.Error("directory accepted as key file")
	}
	missing := filepath.Join(dir, "no", "such", "dir", "master.key")
	if _, _, err := LoadOrCreateKeyFile(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing parent: err = %v, want ErrNotExist", err)
	}
}

func TestLoadOrCreateKeyringRotated(t *testing.T) {
	oldKey, newKey := GenerateKey(), GenerateKey()
	sealed, _ := mustKeyring(t, oldKey).Seal([]byte("v"), nil)
	path := filepath.Join(t.TempDir(), "master.key")
	content := "# rotated 2025-01-01\n" + EncodeKey(newKey) + "\n\n" + EncodeKey(oldKey) + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	k, created, err := LoadOrCreateKeyring(path)
	if err != nil || created {
		t.Fatalf("LoadOrCreateKeyring: created %v, %v", created, err)
	}
	if k.PrimaryID() != mustKeyring(t, newKey).PrimaryID() {
		t.Error("primary is not the first key")
	}
	if got, err := k.Open(sealed, nil); err != nil || string(got) != "v" {
		t.Errorf("Open with older key from file = %q, %v", got, err)
	}
	primary, _, err := LoadOrCreateKeyFile(path)
	if err != nil || !bytes.Equal(primary, newKey) {
		t.Errorf("LoadOrCreateKeyFile = primary %v, %v", bytes.Equal(primary, newKey), err)
	}
}

func TestParseKeyFile(t *testing.T) {
	a, b := EncodeKey(testKey(1)), EncodeKey(testKey(2))
	tests := []struct {
		name    string
		in      string
		older   int
		wantErr string
	}{
		{"one", a + "\n", 0, ""},
		{"no newline", a, 0, ""},
		{"crlf and comments", "# primary\r\n" + a + "\r\n# old\r\n" + b + "\r\n", 1, ""},
		{"empty", "", 0, "no key"},
		{"only comments", "# nothing\n\n", 0, "no key"},
		{"bad second line", a + "\nnope\n", 0, "line 2"},
		{"short key", "AAAA\n", 0, "3 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			primary, older, err := ParseKeyFile([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(primary, testKey(1)) || len(older) != tt.older {
				t.Fatalf("= primary ok %v, %d older, %v", bytes.Equal(primary, testKey(1)), len(older), err)
			}
		})
	}
}
