package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"

	"github.com/mcpgate/mcpgate"
)

// minRSABits is the smallest RSA key accepted for private_key_jwt.
const minRSABits = 2048

// clientSecret decides what is sealed into s.OAuthClientSecret: the client
// secret, or for private_key_jwt the PEM private key. It settles
// s.OAuthAuthMethod when a key is given without one.
func clientSecret(s *mcpgate.Server, in Input) (string, error) {
	if in.OAuthPrivateKey == "" {
		if in.OAuthClientSecret != "" && s.OAuthAuthMethod == mcpgate.AuthMethodPrivateKeyJWT {
			return "", mcpgate.Invalidf("oauth auth method private_key_jwt takes a private key, not a client secret")
		}
		return in.OAuthClientSecret, nil
	}
	if in.OAuthClientSecret != "" {
		return "", mcpgate.Invalidf("give an OAuth client secret or a private key, not both")
	}
	switch s.OAuthAuthMethod {
	case "":
		s.OAuthAuthMethod = mcpgate.AuthMethodPrivateKeyJWT
	case mcpgate.AuthMethodPrivateKeyJWT:
	default:
		return "", mcpgate.Invalidf("an OAuth private key is only used with auth method private_key_jwt, not %q", s.OAuthAuthMethod)
	}
	if err := checkPrivateKey(in.OAuthPrivateKey); err != nil {
		return "", err
	}
	return in.OAuthPrivateKey, nil
}

// checkPrivateKey reports whether pemKey is a private key private_key_jwt
// can sign with: EC P-256 (ES256) or RSA (RS256), in PKCS #8, SEC 1 or
// PKCS #1 form. Its errors never contain the key.
func checkPrivateKey(pemKey string) error {
	block, _ := pem.Decode([]byte(pemKey))
	if block == nil {
		return mcpgate.Invalidf("OAuth private key: not PEM (want a -----BEGIN PRIVATE KEY----- block)")
	}
	var (
		key    any
		err    error
		format string
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		format = "PKCS #8"
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
		format = "SEC 1 EC"
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		format = "PKCS #1 RSA"
	default:
		return mcpgate.Invalidf("OAuth private key: PEM block is %q, want an unencrypted PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY", block.Type)
	}
	if err != nil {
		// The parser's message is left out: it is no help to a user, and
		// nothing derived from the key may reach an error.
		return mcpgate.Invalidf("OAuth private key: the %s block is not a valid %s private key", block.Type, format)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return mcpgate.Invalidf("OAuth private key: EC curve %s is not supported, use P-256", k.Curve.Params().Name)
		}
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			return mcpgate.Invalidf("OAuth private key: RSA key of %d bits is too short, use at least %d", bits, minRSABits)
		}
	default:
		return mcpgate.Invalidf("OAuth private key: %T keys are not supported, use EC P-256 or RSA", key)
	}
	return nil
}
