package oauthtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// NewES256Key generates a P-256 key for private_key_jwt client
// authentication and returns it with a JWKS document holding its public half
// (kid = RFC 7638 thumbprint), ready for [Client].JWKS or a DCR "jwks".
func NewES256Key() (*ecdsa.PrivateKey, json.RawMessage) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("oauthtest: " + err.Error()) // crypto/rand does not fail
	}
	jwks, err := json.Marshal(map[string]any{"keys": []publicJWK{toJWK(&key.PublicKey)}})
	if err != nil {
		panic("oauthtest: " + err.Error())
	}
	return key, jwks
}

// SignClientAssertion returns an RFC 7523 client assertion for
// private_key_jwt: an ES256 JWT with iss = sub = clientID, aud = audience
// (the token endpoint or the issuer), a one-minute exp and a random jti.
func SignClientAssertion(key *ecdsa.PrivateKey, clientID, audience string) (string, error) {
	now := time.Now()
	return signJWT(key, map[string]any{
		"iss": clientID,
		"sub": clientID,
		"aud": audience,
		"iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(),
		"jti": randomString(""),
	})
}

// signJWT signs claims with ES256 (header kid = thumbprint of key).
func signJWT(key *ecdsa.PrivateKey, claims map[string]any) (string, error) {
	if key == nil || key.Curve != elliptic.P256() {
		return "", errors.New("oauthtest: ES256 needs a P-256 key")
	}
	header, err := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": toJWK(&key.PublicKey).Kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// publicJWK is an EC P-256 public JSON Web Key.
type publicJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`

	pub *ecdsa.PublicKey
}

func toJWK(pub *ecdsa.PublicKey) publicJWK {
	raw, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		panic("oauthtest: " + err.Error())
	}
	k := publicJWK{Kty: "EC", Crv: "P-256", X: b64(raw[1:33]), Y: b64(raw[33:]), Use: "sig", Alg: "ES256", pub: pub}
	// RFC 7638 thumbprint: the required members in lexicographic order.
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + k.X + `","y":"` + k.Y + `"}`))
	k.Kid = b64(sum[:])
	return k
}

// parseJWKS parses the P-256 keys of a JWKS (other keys are ignored).
func parseJWKS(data []byte) ([]publicJWK, error) {
	var set struct {
		Keys []publicJWK `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	var out []publicJWK
	for _, k := range set.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" {
			continue
		}
		x, err1 := base64.RawURLEncoding.DecodeString(k.X)
		y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("jwks: malformed EC key coordinates")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		k.pub = pub
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, errors.New("jwks: no P-256 key")
	}
	return out, nil
}

// assertionClaims are the JWT claims a client assertion is checked for.
type assertionClaims struct {
	Iss string
	Sub string
	Aud []string
	Exp int64
	Nbf int64
	Jti string
}

func (c *assertionClaims) UnmarshalJSON(data []byte) error {
	var raw struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp float64         `json:"exp"`
		Nbf float64         `json:"nbf"`
		Jti string          `json:"jti"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*c = assertionClaims{Iss: raw.Iss, Sub: raw.Sub, Exp: int64(raw.Exp), Nbf: int64(raw.Nbf), Jti: raw.Jti}
	if len(raw.Aud) > 0 {
		var one string
		if json.Unmarshal(raw.Aud, &one) == nil {
			c.Aud = []string{one}
		} else if err := json.Unmarshal(raw.Aud, &c.Aud); err != nil {
			return errors.New("aud must be a string or an array of strings")
		}
	}
	return nil
}

func splitJWT(tok string) (header, payload, sig []byte, signing string, err error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, nil, nil, "", errors.New("not a compact JWS")
	}
	if header, err = base64.RawURLEncoding.DecodeString(parts[0]); err != nil {
		return nil, nil, nil, "", errors.New("bad header encoding")
	}
	if payload, err = base64.RawURLEncoding.DecodeString(parts[1]); err != nil {
		return nil, nil, nil, "", errors.New("bad payload encoding")
	}
	if sig, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return nil, nil, nil, "", errors.New("bad signature encoding")
	}
	return header, payload, sig, parts[0] + "." + parts[1], nil
}

// peekAssertionClaims decodes a JWT's claims without verifying it (to find
// the client when client_id is not sent).
func peekAssertionClaims(tok string) (*assertionClaims, error) {
	_, payload, _, _, err := splitJWT(tok)
	if err != nil {
		return nil, err
	}
	var c assertionClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// verifyES256 verifies an ES256 JWT against keys (by kid when the header has
// one) and returns its claims.
func verifyES256(tok string, keys []publicJWK) (*assertionClaims, error) {
	header, payload, sig, signing, err := splitJWT(tok)
	if err != nil {
		return nil, err
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(header, &h); err != nil {
		return nil, errors.New("bad header")
	}
	if h.Alg != "ES256" {
		return nil, fmt.Errorf("alg %q not accepted (ES256 only)", h.Alg)
	}
	if len(sig) != 64 {
		return nil, errors.New("ES256 signature must be 64 bytes")
	}
	sum := sha256.Sum256([]byte(signing))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	verified := false
	for _, k := range keys {
		if h.Kid != "" && k.Kid != "" && h.Kid != k.Kid {
			continue
		}
		if ecdsa.Verify(k.pub, sum[:], r, s) {
			verified = true
			break
		}
	}
	if !verified {
		return nil, errors.New("signature does not verify with any registered key")
	}
	var c assertionClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errors.New("bad claims")
	}
	return &c, nil
}
