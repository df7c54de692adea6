package mcpgate

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"math/big"
	"strings"
)

// Grant tokens look like mcpg_<43 base62 chars of 256 random bits><6 base62
// chars of CRC32>. The typed prefix lets secret scanners recognise a leaked
// token; the checksum rejects typos and forgeries without a store lookup.
const (
	GrantTokenPrefix = "mcpg_"
	tokenRandLen     = 43
	tokenCRCLen      = 6
	GrantTokenLen    = len(GrantTokenPrefix) + tokenRandLen + tokenCRCLen
	base62           = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// NewGrantToken returns a fresh token and its digest.
func NewGrantToken() (token, digest string) {
	var b [32]byte
	rand.Read(b[:])
	body := encodeBase62(new(big.Int).SetBytes(b[:]), tokenRandLen)
	token = GrantTokenPrefix + body + tokenChecksum(body)
	return token, HashGrantToken(token)
}

// ParseGrantToken checks the shape and checksum of a token.
func ParseGrantToken(token string) error {
	if len(token) != GrantTokenLen || !strings.HasPrefix(token, GrantTokenPrefix) {
		return ErrGrantMalformed
	}
	rest := token[len(GrantTokenPrefix):]
	for i := 0; i < len(rest); i++ {
		if !isBase62[rest[i]] {
			return ErrGrantMalformed
		}
	}
	body, sum := rest[:tokenRandLen], rest[tokenRandLen:]
	if tokenChecksum(body) != sum {
		return ErrGrantMalformed
	}
	return nil
}

// HashGrantToken is the digest stored in place of the token.
func HashGrantToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

var isBase62 = func() (t [256]bool) {
	for i := 0; i < len(base62); i++ {
		t[base62[i]] = true
	}
	return t
}()

// tokenChecksum is the CRC32 of body in 6 base62 digits (62^6 > 2^32).
func tokenChecksum(body string) string {
	var out [tokenCRCLen]byte
	n := crc32.ChecksumIEEE([]byte(body))
	for i := tokenCRCLen - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return string(out[:])
}

// encodeBase62 writes n in base62, left-padded with '0' to width.
func encodeBase62(n *big.Int, width int) string {
	out := make([]byte, width)
	for i := range out {
		out[i] = '0'
	}
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := width - 1; i >= 0 && n.Sign() > 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = base62[mod.Int64()]
	}
	return string(out)
}

// NewID returns a random identifier with a readable prefix, e.g. "gr_…".
func NewID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + encodeBase62(new(big.Int).SetBytes(b[:]), 17)
}
