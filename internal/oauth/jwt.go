package oauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// ErrPrivateKey means a private_key_jwt key could not be used.
var ErrPrivateKey = errors.New("unusable private key for private_key_jwt")

// signClientAssertion builds an RFC 7523 client assertion: a JWT signed with
// the client's private key (ES256 for P-256 keys, RS256 for RSA keys).
func signClientAssertion(pemKey, clientID, audience string, now time.Time) (string, error) {
	key, err := parsePrivateKey(pemKey)
	if err != nil {
		return "", err
	}
	var alg string
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve.Params().BitSize != 256 {
			return "", fmt.Errorf("%w: only P-256 EC keys are supported", ErrPrivateKey)
		}
		alg = "ES256"
	case *rsa.PrivateKey:
		alg = "RS256"
	default:
		return "", fmt.Errorf("%w: key type %T", ErrPrivateKey, key)
	}
	jti := make([]byte, 16)
	rand.Read(jti)
	header, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{
		"iss": clientID, "sub": clientID, "aud": audience,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(jti),
	})
	signing := b64(header) + "." + b64(claims)
	digest := sha256.Sum256([]byte(signing))
	var sig []byte
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return "", fmt.Errorf("sign client assertion: %w", err)
		}
		sig = append(pad32(r), pad32(s)...)
	case *rsa.PrivateKey:
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:]); err != nil {
			return "", fmt.Errorf("sign client assertion: %w", err)
		}
	}
	return signing + "." + b64(sig), nil
}

func parsePrivateKey(pemKey string) (any, error) {
	block, _ := pem.Decode([]byte(pemKey))
	if block == nil {
		return nil, fmt.Errorf("%w: not PEM", ErrPrivateKey)
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: neither PKCS#8, SEC 1 nor PKCS#1", ErrPrivateKey)
}

func pad32(n *big.Int) []byte {
	out := make([]byte, 32)
	return n.FillBytes(out)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
