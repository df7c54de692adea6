package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// Sealed value layout, version 1 (all offsets in bytes):
//
//	off  len  field
//	  0    1  version, 0x01 (doubles as magic: tokens stored in clear are ASCII)
//	  1    8  key id: first 8 bytes of SHA-256(master key)
//	  9   12  wrap nonce (random)
//	 21   48  wrapped data key: AES-256-GCM(master key, wrap nonce,
//	          32-byte data key, additional data = bytes 0..8) incl. 16-byte tag
//	 69   12  data nonce (random)
//	 81    n  ciphertext: AES-256-GCM(data key, data nonce, plaintext,
//	          additional data = version byte || caller aad) incl. 16-byte tag
//
// The header (bytes 0..80) is all that Rewrap changes; the ciphertext never
// depends on the master key, which is what makes rotation cheap. The key id and
// version are authenticated as part of the wrap, and the caller's aad (the
// record identity) as part of the data encryption.
const (
	version1 = 0x01

	nonceLen = 12
	tagLen   = 16

	offKeyID      = 1
	offWrapNonce  = offKeyID + len(keyID{})
	offWrappedKey = offWrapNonce + nonceLen
	offDataNonce  = offWrappedKey + KeySize + tagLen
	offCiphertext = offDataNonce + nonceLen

	// Overhead is how many bytes Seal adds to the plaintext.
	Overhead = offCiphertext + tagLen
)

// Seal encrypts plaintext under a fresh data key wrapped by the primary master
// key. aad is not stored: the same aad must be given to Open, so passing the
// record identity (e.g. "upstream_token/<connection id>") binds the sealed
// value to that record.
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	dek := GenerateKey()
	defer clear(dek)
	data, err := newAEAD(dek)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}

	out := make([]byte, 0, Overhead+len(plaintext))
	out = append(out, version1)
	out = append(out, k.primary.id[:]...)
	out = appendRandom(out, nonceLen)
	out = k.primary.aead.Seal(out, out[offWrapNonce:offWrappedKey], dek, out[:offWrapNonce])
	out = appendRandom(out, nonceLen)
	return data.Seal(out, out[offDataNonce:offCiphertext], plaintext, dataAD(aad)), nil
}

// Open authenticates and decrypts a value produced by Seal with the same aad.
// It fails with ErrUnknownKey when the master key named in the header is not
// in the keyring, and with ErrCorrupt for anything else (truncated, unknown
// version, tampered, or a different aad). It never panics on any input.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	dek, err := k.unwrap(sealed)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	data, err := newAEAD(dek)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	plaintext, err := data.Open(nil, sealed[offDataNonce:offCiphertext], sealed[offCiphertext:], dataAD(aad))
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext authentication failed (tampered, or wrong record)", ErrCorrupt)
	}
	return plaintext, nil
}

// Rewrap returns sealed with its data key re-wrapped under the primary master
// key, for key rotation. The ciphertext is copied unchanged, so no aad is
// needed; only the wrapped data key is authenticated here, and the ciphertext
// is checked by the next Open. A value already under the primary key is
// returned as an unchanged copy.
func (k *Keyring) Rewrap(sealed []byte) ([]byte, error) {
	dek, err := k.unwrap(sealed)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	if bytes.Equal(sealed[offKeyID:offWrapNonce], k.primary.id[:]) {
		return bytes.Clone(sealed), nil
	}

	out := make([]byte, 0, len(sealed))
	out = append(out, version1)
	out = append(out, k.primary.id[:]...)
	out = appendRandom(out, nonceLen)
	out = k.primary.aead.Seal(out, out[offWrapNonce:offWrappedKey], dek, out[:offWrapNonce])
	return append(out, sealed[offDataNonce:]...), nil
}

// KeyID returns the id of the master key sealed was wrapped with, whether or
// not that key is in the keyring. It checks only the framing, not the
// authenticity of the value.
func (k *Keyring) KeyID(sealed []byte) (string, error) {
	if err := checkFraming(sealed); err != nil {
		return "", err
	}
	return hex.EncodeToString(sealed[offKeyID:offWrapNonce]), nil
}

// unwrap checks the framing, finds the master key by id and returns the
// authenticated data key.
func (k *Keyring) unwrap(sealed []byte) ([]byte, error) {
	if err := checkFraming(sealed); err != nil {
		return nil, err
	}
	var id keyID
	copy(id[:], sealed[offKeyID:offWrapNonce])
	m, ok := k.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w %s (this keyring holds %s)", ErrUnknownKey, id, strings.Join(k.IDs(), ", "))
	}
	dek, err := m.aead.Open(nil, sealed[offWrapNonce:offWrappedKey], sealed[offWrappedKey:offDataNonce], sealed[:offWrapNonce])
	if err != nil {
		return nil, fmt.Errorf("%w: data key authentication failed under key %s", ErrCorrupt, id)
	}
	return dek, nil
}

func checkFraming(sealed []byte) error {
	if len(sealed) < Overhead {
		return fmt.Errorf("%w: %d bytes is shorter than the minimum %d", ErrCorrupt, len(sealed), Overhead)
	}
	if sealed[0] != version1 {
		return fmt.Errorf("%w: unsupported version byte 0x%02x", ErrCorrupt, sealed[0])
	}
	return nil
}

// dataAD is the additional data of the data encryption: the version byte
// followed by the caller's aad, so a value cannot be reinterpreted under a
// future format version.
func dataAD(aad []byte) []byte {
	ad := make([]byte, 0, 1+len(aad))
	return append(append(ad, version1), aad...)
}

func appendRandom(b []byte, n int) []byte {
	b = append(b, make([]byte, n)...)
	rand.Read(b[len(b)-n:]) // never returns an error
	return b
}
