package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// DPoP (RFC 9449, MCP SEP-1932): when an authorization server advertises
// ES256 in dpop_signing_alg_values_supported, the gateway asks it for
// sender-constrained tokens: every token request carries a DPoP proof, a
// token_type DPoP answer is accepted, and the proxy presents such a token as
// "Authorization: DPoP …" with a fresh proof for each upstream request
// (DPoPProof). Server-provided nonces (use_dpop_nonce, §8 and §9) are
// remembered per authorization server and per resource origin and retried
// once.
//
// One P-256 key serves the whole installation: tokens are bound to it, and
// any gateway process may present any connection's token, so the key lives
// in the store (meta DPoPKeyMeta, sealed like the connect link key) and is
// created by whichever process needs it first.

// DPoPKeyMeta is the meta key holding the sealed DPoP private key (PKCS #8).
// Key rotation must rewrap it like the other sealed meta values.
const DPoPKeyMeta = "dpop_key"

// maxDPoPNonces bounds the remembered nonces.
const maxDPoPNonces = 10000

type dpopState struct {
	mu     sync.Mutex
	key    *ecdsa.PrivateKey
	jwk    map[string]string
	nonces map[string]string // "as " + issuer, or "rs " + origin → nonce
}

// dpopSupported reports whether the authorization server issuer (whose
// metadata authServer fetched recently) takes ES256 DPoP proofs.
func (m *Manager) dpopSupported(issuer string) bool {
	m.asCacheMu.Lock()
	defer m.asCacheMu.Unlock()
	return slices.Contains(m.asCache[issuer].dpopAlgs, "ES256")
}

// dpopKey loads (or, on first use anywhere, creates) the installation's DPoP key.
func (m *Manager) dpopKey(ctx context.Context) (*ecdsa.PrivateKey, map[string]string, error) {
	m.dpop.mu.Lock()
	defer m.dpop.mu.Unlock()
	if m.dpop.key != nil {
		return m.dpop.key, m.dpop.jwk, nil
	}
	aad := []byte("meta/" + DPoPKeyMeta)
	fresh, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(fresh)
	if err != nil {
		return nil, nil, err
	}
	sealed, err := m.cfg.Sealer.Seal(der, aad)
	if err != nil {
		return nil, nil, err
	}
	stored, err := m.cfg.Store.PutMetaIfAbsent(ctx, DPoPKeyMeta, base64.StdEncoding.EncodeToString(sealed))
	if err != nil {
		return nil, nil, fmt.Errorf("store the DPoP key: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return nil, nil, fmt.Errorf("stored DPoP key: %w", err)
	}
	if der, err = m.cfg.Sealer.Open(b, aad); err != nil {
		return nil, nil, fmt.Errorf("open the stored DPoP key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	key, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok || key.Curve != elliptic.P256() {
		return nil, nil, errors.New("the stored DPoP key is not a P-256 key")
	}
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, nil, err
	}
	point := pub.Bytes() // 0x04 || X || Y
	m.dpop.key = key
	m.dpop.jwk = map[string]string{"kty": "EC", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:65])}
	return m.dpop.key, m.dpop.jwk, nil
}

// dpopProof signs a DPoP proof for method and target (query and fragment
// are left out of htu); accessToken, if set, is bound with ath.
func (m *Manager) dpopProof(ctx context.Context, method, target, accessToken, nonce string) (string, error) {
	key, jwk, err := m.dpopKey(ctx)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("DPoP proof for %q: %w", target, err)
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := map[string]any{"jti": b64(jti), "htm": method, "htu": u.String(), "iat": m.now().Unix()}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = b64(sum[:])
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	header, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk})
	body, _ := json.Marshal(claims)
	signing := b64(header) + "." + b64(body)
	digest := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign DPoP proof: %w", err)
	}
	return signing + "." + b64(append(pad32(r), pad32(s)...)), nil
}

// DPoPProof returns the DPoP header value for sending cred's token to
// target with method, with the nonce the resource server asked for last.
func (m *Manager) DPoPProof(ctx context.Context, cred Credential, method, target string) (string, error) {
	return m.dpopProof(ctx, method, target, cred.Token, m.dpopNonce("rs "+origin(target)))
}

// DPoPNonce records a nonce a resource server sent (DPoP-Nonce, RFC 9449 §9)
// for the following proofs to target's origin.
func (m *Manager) DPoPNonce(target, nonce string) {
	m.setDPoPNonce("rs "+origin(target), nonce)
}

func (m *Manager) dpopNonce(key string) string {
	m.dpop.mu.Lock()
	defer m.dpop.mu.Unlock()
	return m.dpop.nonces[key]
}

func (m *Manager) setDPoPNonce(key, nonce string) {
	if nonce == "" || len(nonce) > 512 {
		return
	}
	m.dpop.mu.Lock()
	defer m.dpop.mu.Unlock()
	if m.dpop.nonces == nil || len(m.dpop.nonces) >= maxDPoPNonces {
		m.dpop.nonces = map[string]string{}
	}
	m.dpop.nonces[key] = nonce
}

func origin(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return target
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}
