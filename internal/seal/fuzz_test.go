package seal

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzKeyring is deterministic so that valid sealed values in the committed
// corpus (testdata/fuzz/FuzzOpen) keep opening: primary testKey(1), older testKey(2).
func fuzzKeyring(t testing.TB) *Keyring { return mustKeyring(t, testKey(1), testKey(2)) }

func FuzzOpen(f *testing.F) {
	k := fuzzKeyring(f)
	older := mustKeyring(f, testKey(2))
	for _, aad := range []string{"", "conn/1"} {
		s, _ := k.Seal([]byte("access-token"), []byte(aad))
		f.Add(s, []byte(aad))
		o, _ := older.Seal([]byte(""), []byte(aad))
		f.Add(o, []byte(aad))
		f.Add(s[:Overhead], []byte(aad))
	}
	f.Add([]byte{}, []byte{})
	f.Add([]byte{version1}, []byte{})
	f.Add(bytes.Repeat([]byte{version1}, Overhead), []byte{})

	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		pt, err := k.Open(sealed, aad)
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Open: unexpected error class: %v", err)
		}
		id, idErr := k.KeyID(sealed)
		rewrapped, rwErr := k.Rewrap(sealed)
		if err != nil {
			return
		}
		// Whatever opens must have a valid header and survive a rewrap.
		if idErr != nil || rwErr != nil || id == "" {
			t.Fatalf("opened, but KeyID err %v, Rewrap err %v", idErr, rwErr)
		}
		again, err := k.Open(rewrapped, aad)
		if err != nil || !bytes.Equal(again, pt) {
			t.Fatalf("Open after Rewrap = %q, %v; want %q", again, err, pt)
		}
	})
}

func FuzzParseKeyFile(f *testing.F) {
	a, b := EncodeKey(testKey(1)), EncodeKey(testKey(2))
	f.Add([]byte(a + "\n"))
	f.Add([]byte("# c\n" + a + "\r\n\n" + b))
	f.Add([]byte("-_-_" + a[4:]))
	f.Add([]byte("AAAA\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		primary, older, err := ParseKeyFile(data)
		if err != nil {
			// No word of the error templates is 12+ chars, so a long
			// token of the input showing up means key material leaked.
			for _, line := range bytes.Fields(data) {
				if len(line) >= 12 && bytes.Contains([]byte(err.Error()), line) {
					t.Fatalf("error %q echoes the input", err)
				}
			}
			return
		}
		if _, err := NewKeyring(primary, older...); err != nil {
			t.Fatalf("parsed keys rejected by NewKeyring: %v", err)
		}
		// Re-encoding what was parsed gives the same keys back.
		var buf bytes.Buffer
		for _, key := range append([][]byte{primary}, older...) {
			buf.WriteString(EncodeKey(key) + "\n")
		}
		p2, o2, err := ParseKeyFile(buf.Bytes())
		if err != nil || !bytes.Equal(p2, primary) || len(o2) != len(older) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
