package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// testKey returns a deterministic key, so fuzz seeds sealed under it stay valid.
func testKey(fill byte) []byte { return bytes.Repeat([]byte{fill}, KeySize) }

func mustKeyring(t testing.TB, primary []byte, older ...[]byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(primary, older...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustKeyring(t, GenerateKey())
	for _, size := range []int{0, 1, 15, 16, 17, 1000, 1 << 16} {
		for _, aad := range [][]byte{nil, []byte("upstream_token/conn-1")} {
			t.Run(fmt.Sprintf("size=%d/aad=%q", size, aad), func(t *testing.T) {
				pt := bytes.Repeat([]byte{'x'}, size)
				sealed, err := k.Seal(pt, aad)
				if err != nil {
					t.Fatal(err)
				}
				if len(sealed) != len(pt)+Overhead {
					t.Errorf("len(sealed) = %d, want %d", len(sealed), len(pt)+Overhead)
				}
				if size >= 8 && bytes.Contains(sealed, pt[:8]) {
					t.Error("sealed value contains plaintext")
				}
				got, err := k.Open(sealed, aad)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, pt) {
					t.Errorf("Open = %q, want %q", got, pt)
				}
				if id, _ := k.KeyID(sealed); id != k.PrimaryID() {
					t.Errorf("KeyID = %s, want primary %s", id, k.PrimaryID())
				}
			})
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	k := mustKeyring(t, GenerateKey())
	a, _ := k.Seal([]byte("secret"), nil)
	b, _ := k.Seal([]byte("secret"), nil)
	if bytes.Equal(a[offKeyID+8:], b[offKeyID+8:]) {
		t.Fatal("two seals of the same plaintext are identical")
	}
}

func TestOpenWrongAAD(t *testing.T) {
	k := mustKeyring(t, GenerateKey())
	sealed, _ := k.Seal([]byte("alice's token"), []byte("connection/alice"))
	for _, aad := range [][]byte{nil, []byte("connection/bob"), []byte("connection/alic"), []byte("connection/alice\x00")} {
		if _, err := k.Open(sealed, aad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open with aad %q: err = %v, want ErrCorrupt", aad, err)
		}
	}
}

func TestOpenTamperedEveryByte(t *testing.T) {
	k := mustKeyring(t, GenerateKey())
	aad := []byte("row/42")
	sealed, _ := k.Seal([]byte("refresh-token-value"), aad)
	for i := range sealed {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			tampered := bytes.Clone(sealed)
			tampered[i] ^= mask
			_, err := k.Open(tampered, aad)
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("byte %d ^ %#x: err = %v, want ErrCorrupt or ErrUnknownKey", i, mask, err)
			}
			// The key id is the only place where tampering reads as "unknown key".
			if inKeyID := i >= offKeyID && i < offWrapNonce; inKeyID != errors.Is(err, ErrUnknownKey) {
				t.Errorf("byte %d: err = %v", i, err)
			}
		}
	}
	for n := range len(sealed) {
		if _, err := k.Open(sealed[:n], aad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: err = %v, want ErrCorrupt", n, err)
		}
	}
	if _, err := k.Open(append(bytes.Clone(sealed), 0), aad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("extended by one byte: err = %v, want ErrCorrupt", err)
	}
}

func TestSwappedHeaderFails(t *testing.T) {
	// A database attacker who swaps the wrapped data keys of two rows gets nothing.
	k := mustKeyring(t, GenerateKey())
	a, _ := k.Seal([]byte("alice"), nil)
	b, _ := k.Seal([]byte("bobby"), nil)
	mixed := append(bytes.Clone(a[:offDataNonce]), b[offDataNonce:]...)
	if _, err := k.Open(mixed, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("err = %v, want ErrCorrupt", err)
	}
}

func TestOlderKeyAndRewrap(t *testing.T) {
	oldKey, newKey := GenerateKey(), GenerateKey()
	before := mustKeyring(t, oldKey)
	aad := []byte("conn/7")
	sealed, _ := before.Seal([]byte("token"), aad)

	rotated := mustKeyring(t, newKey, oldKey)
	if got, err := rotated.Open(sealed, aad); err != nil || string(got) != "token" {
		t.Fatalf("Open with older key = %q, %v", got, err)
	}
	rewrapped, err := rotated.Rewrap(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := rotated.KeyID(rewrapped); id != rotated.PrimaryID() {
		t.Errorf("rewrapped KeyID = %s, want primary %s", id, rotated.PrimaryID())
	}
	if !bytes.Equal(rewrapped[offDataNonce:], sealed[offDataNonce:]) {
		t.Error("Rewrap changed the ciphertext")
	}
	// After the rewrap the old key can be dropped.
	onlyNew := mustKeyring(t, newKey)
	if got, err := onlyNew.Open(rewrapped, aad); err != nil || string(got) != "token" {
		t.Fatalf("Open after rewrap = %q, %v", got, err)
	}
	if _, err := onlyNew.Open(sealed, aad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open of not-rewrapped value: err = %v, want ErrUnknownKey", err)
	}
	again, err := rotated.Rewrap(rewrapped)
	if err != nil || !bytes.Equal(again, rewrapped) {
		t.Errorf("Rewrap under primary = %v; want unchanged copy", err)
	}
}

func TestRewrapRejectsCorrupt(t *testing.T) {
	k := mustKeyring(t, GenerateKey(), GenerateKey())
	sealed, _ := k.Seal([]byte("x"), nil)
	sealed[offWrappedKey] ^= 1
	if _, err := k.Rewrap(sealed); !errors.Is(err, ErrCorrupt) {
		t.Errorf("err = %v, want ErrCorrupt", err)
	}
}

func TestUnknownKey(t *testing.T) {
	a, b := mustKeyring(t, GenerateKey()), mustKeyring(t, GenerateKey())
	sealed, _ := a.Seal([]byte("x"), nil)
	_, err := b.Open(sealed, nil)
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
	if !strings.Contains(err.Error(), a.PrimaryID()) {
		t.Errorf("error %q does not name key id %s", err, a.PrimaryID())
	}
	if _, err := b.Rewrap(sealed); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Rewrap: err = %v, want ErrUnknownKey", err)
	}
	if id, err := b.KeyID(sealed); err != nil || id != a.PrimaryID() {
		t.Errorf("KeyID = %q, %v; want %s", id, err, a.PrimaryID())
	}
}

func TestKeyIDFraming(t *testing.T) {
	k := mustKeyring(t, GenerateKey())
	for _, in := range [][]byte{nil, {version1}, make([]byte, Overhead)} {
		if _, err := k.KeyID(in); !errors.Is(err, ErrCorrupt) {
			t.Errorf("KeyID(%d bytes): err = %v, want ErrCorrupt", len(in), err)
		}
	}
}

func BenchmarkSealOpen(b *testing.B) {
	k := mustKeyring(b, GenerateKey())
	aad := []byte("upstream_token/0123456789abcdef")
	for _, size := range []int{64, 1024, 16 << 10} {
		pt := bytes.Repeat([]byte{'t'}, size)
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				sealed, err := k.Seal(pt, aad)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := k.Open(sealed, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestOpenGolden pins the version-1 format: values sealed by an earlier build
// (also committed as FuzzOpen seeds valid-primary and valid-older) must open.
func TestOpenGolden(t *testing.T) {
	k := fuzzKeyring(t)
	for _, tt := range []struct{ sealed, aad, want, keyID string }{
		{"0172cd6e8422c407fbd86f1ea6653c711506a05b3c2b63658a0bd8cce38752d9c4c9d87c1e57c55d31a6fbe8a612609440ba2a670ca8d74c7b49a2feaab00e1bd96e493cc66b86cfafa4dbedeef7b8154359dd29a457f8eb6ad17f06fc300e0b7140ef0d44be1e7a592ea97687", "conn/1", "access-token", "72cd6e8422c407fb"},
		{"0175877bb41d393b5fdb4ef99ea063a42c5b53ad590b39118eb3561852158d9e3981e34a8f12ef116ad8186d8671b0314945ce0008baa946ff2c23347be08e6276705ba77a205df76561002c5eb99dde217ec67eb45374d8a7636f0712d0376dfdd0e3304221ae8037caece274c8", "conn/2", "refresh-token", "75877bb41d393b5f"},
	} {
		sealed, err := hex.DecodeString(tt.sealed)
		if err != nil {
			t.Fatal(err)
		}
		got, err := k.Open(sealed, []byte(tt.aad))
		if err != nil || string(got) != tt.want {
			t.Errorf("Open = %q, %v; want %q", got, err, tt.want)
		}
		if id, _ := k.KeyID(sealed); id != tt.keyID {
			t.Errorf("KeyID = %s, want %s", id, tt.keyID)
		}
	}
}
