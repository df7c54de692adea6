// Package seal encrypts secrets at rest (upstream access and refresh tokens,
// client secrets) with envelope encryption: every record gets its own random
// AES-256-GCM data key, and that data key is wrapped by a master key that lives
// outside the database (a key file or the environment). A database dump alone
// therefore reveals nothing, the record identity passed as additional data
// stops a sealed value from being moved to another row, and the key id in each
// header lets old master keys stay decrypt-only while Rewrap moves records to
// the new primary without touching their ciphertext.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// KeySize is the length in bytes of master and data keys (AES-256).
const KeySize = 32

// Sentinel errors returned (wrapped) by Open, Rewrap and KeyID.
var (
	// ErrUnknownKey: the sealed value names a master key that is not in the
	// keyring (an old key was dropped too early, or the wrong key file is used).
	ErrUnknownKey = errors.New("seal: unknown master key")
	// ErrCorrupt: the sealed value is truncated, has an unsupported version, or
	// fails authentication (tampered, or opened with different additional data).
	ErrCorrupt = errors.New("seal: sealed value is corrupt or does not belong to this record")
)

// Keyring holds the primary master key, used to seal and rewrap, and older
// master keys kept only so that existing records can still be opened.
// A Keyring is immutable and safe for concurrent use.
type Keyring struct {
	primary *masterKey
	byID    map[keyID]*masterKey
}

// keyID is the raw form of a key id: the first 8 bytes of SHA-256(key). It is
// stored in every header; its hex form (16 chars) is what humans see. A
// truncated hash of a random 256-bit key reveals nothing useful about it.
type keyID [8]byte

func (id keyID) String() string { return hex.EncodeToString(id[:]) }

type masterKey struct {
	id   keyID
	aead cipher.AEAD // AES-256-GCM under the master key; stateless, shared
}

func newMasterKey(key []byte) (*masterKey, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("master key is %d bytes, want %d (generate one with `openssl rand -base64 32`)", len(key), KeySize)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(key)
	var id keyID
	copy(id[:], sum[:len(id)])
	return &masterKey{id: id, aead: aead}, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}

// NewKeyring returns a keyring that seals with primary and opens values sealed
// under primary or any of older. Every key must be exactly KeySize bytes.
// Duplicate keys are ignored, so a key file that still lists the primary among
// the older keys is harmless.
func NewKeyring(primary []byte, older ...[]byte) (*Keyring, error) {
	p, err := newMasterKey(primary)
	if err != nil {
		return nil, fmt.Errorf("seal: primary key: %w", err)
	}
	k := &Keyring{primary: p, byID: map[keyID]*masterKey{p.id: p}}
	for i, key := range older {
		m, err := newMasterKey(key)
		if err != nil {
			return nil, fmt.Errorf("seal: older key %d: %w", i+1, err)
		}
		k.byID[m.id] = m
	}
	return k, nil
}

// PrimaryID returns the id (16 hex chars) of the key new values are sealed with.
func (k *Keyring) PrimaryID() string { return k.primary.id.String() }

// IDs returns the ids of every key in the keyring: the primary first, then
// the older keys in lexical order.
func (k *Keyring) IDs() []string {
	var older []string
	for id := range k.byID {
		if id != k.primary.id {
			older = append(older, id.String())
		}
	}
	slices.Sort(older)
	return append([]string{k.PrimaryID()}, older...)
}

// GenerateKey returns a fresh random master key of KeySize bytes.
func GenerateKey() []byte {
	key := make([]byte, KeySize)
	rand.Read(key) // never returns an error; crashes the program if the OS RNG fails
	return key
}

// EncodeKey returns the standard base64 form of key, as written to key files.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// keyEncodings are tried in order by ParseKey. Padded and unpadded variants
// are both accepted because keys get copied through shells and YAML by hand.
var keyEncodings = []*base64.Encoding{
	base64.StdEncoding, base64.RawStdEncoding,
	base64.URLEncoding, base64.RawURLEncoding,
}

// ParseKey decodes a master key written as standard or URL-safe base64 (padded
// or not; surrounding whitespace ignored). Errors never contain the input, so
// they are safe to log.
func ParseKey(s string) ([]byte, error) {
	key, err := parseKey(s)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return key, nil
}

func parseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("key is empty")
	}
	for _, enc := range keyEncodings {
		key, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("key decodes to %d bytes, want %d", len(key), KeySize)
		}
		return key, nil
	}
	return nil, fmt.Errorf("key (%d chars) is not standard or URL-safe base64", len(s))
}
