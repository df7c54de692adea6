package oauthtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// clientMetadata is RFC 7591 client metadata, as sent to /register or served
// as a client ID metadata document.
type clientMetadata struct {
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string        `json:"grant_types,omitempty"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	ClientName              string          `json:"client_name,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"` // an object, or (as the Go SDK sends it) a string holding one
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	ApplicationType         string          `json:"application_type,omitempty"`
}

func (m *clientMetadata) toClient(ctx context.Context, a *AuthServer) (Client, error) {
	c := Client{
		RedirectURIs:            m.RedirectURIs,
		TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
		GrantTypes:              m.GrantTypes,
		ApplicationType:         m.ApplicationType,
		Name:                    m.ClientName,
	}
	switch m.ApplicationType {
	case "", "web", "native":
	default:
		return Client{}, fmt.Errorf("unsupported application_type %q", m.ApplicationType)
	}
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			return Client{}, fmt.Errorf("unsupported response_type %q", rt)
		}
	}
	switch {
	case len(m.JWKS) > 0 && m.JWKS[0] == '"':
		var s string
		if err := json.Unmarshal(m.JWKS, &s); err != nil {
			return Client{}, fmt.Errorf("jwks: %w", err)
		}
		c.JWKS = json.RawMessage(s)
	case len(m.JWKS) > 0 && string(m.JWKS) != "null":
		c.JWKS = m.JWKS
	case m.JWKSURI != "":
		var raw json.RawMessage
		if err := a.getJSON(ctx, m.JWKSURI, &raw); err != nil {
			return Client{}, fmt.Errorf("jwks_uri: %w", err)
		}
		c.JWKS = raw
	}
	if c.TokenEndpointAuthMethod == AuthMethodPrivateKeyJWT && len(c.JWKS) == 0 {
		return Client{}, errors.New("private_key_jwt needs jwks or jwks_uri")
	}
	return c, nil
}

func (a *AuthServer) handleRegister(w http.ResponseWriter, r *http.Request) {
	fail := func(code, desc string) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
	}
	var m clientMetadata
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&m); err != nil {
		fail("invalid_client_metadata", "malformed JSON: "+err.Error())
		return
	}
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = AuthMethodClientSecretBasic // RFC 7591 §2
	}
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{GrantAuthorizationCode}
	}
	if slices.Contains(m.GrantTypes, GrantAuthorizationCode) && len(m.RedirectURIs) == 0 {
		fail("invalid_redirect_uri", "redirect_uris required for authorization_code")
		return
	}
	for _, u := range m.RedirectURIs {
		if !validRedirectURI(u) {
			fail("invalid_redirect_uri", "invalid redirect URI "+u)
			return
		}
	}
	c, err := m.toClient(r.Context(), a)
	if err != nil {
		fail("invalid_client_metadata", err.Error())
		return
	}
	c.ID = randomString("dcr_")
	if c.TokenEndpointAuthMethod == AuthMethodClientSecretBasic || c.TokenEndpointAuthMethod == AuthMethodClientSecretPost {
		c.Secret = randomString("cs_")
	}
	rc, err := newRegisteredClient(c)
	if err != nil {
		fail("invalid_client_metadata", err.Error())
		return
	}
	a.mu.Lock()
	a.clients[c.ID] = rc
	a.stats.Registrations++
	a.mu.Unlock()

	resp := struct {
		clientMetadata
		ClientID              string `json:"client_id"`
		ClientSecret          string `json:"client_secret,omitempty"`
		ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
		ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	}{clientMetadata: m, ClientID: c.ID, ClientSecret: c.Secret, ClientIDIssuedAt: time.Now().Unix()}
	if resp.ResponseTypes == nil {
		resp.ResponseTypes = []string{"code"}
	}
	if c.Secret != "" {
		var never int64
		resp.ClientSecretExpiresAt = &never
	}
	writeJSON(w, http.StatusCreated, resp)
}
