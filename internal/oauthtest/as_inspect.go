package oauthtest

import (
	"slices"
	"strconv"
	"time"
)

// Stats are the AuthServer's counters.
type Stats struct {
	MetadataRequests  int // RFC 8414 / OIDC discovery documents served
	AuthorizeRequests int // requests to /authorize, whatever the outcome
	TokenRequests     int // requests to /token, whatever the outcome

	AuthCodeGrants         int // successful authorization_code exchanges
	Refreshes              int // successful refresh_token grants (rotations)
	ClientCredentialGrants int // successful client_credentials grants
	JWTBearerGrants        int // successful JWT-bearer grants
	TokenErrors            int // /token requests answered with an error (injected ones included)

	ReuseDetections int // already-rotated refresh tokens presented (family revoked each time)
	CodeReuses      int // authorization codes presented again after a successful exchange
	Revocations     int // known tokens revoked through /revoke
	Registrations   int // successful dynamic client registrations
	CIMDFetches     int // client ID metadata documents fetched

	InjectedFailures int // token requests answered by FailNextToken
	DroppedResponses int // token responses lost by DropNextTokenResponses
}

// TokenInfo describes a valid access token (see [AuthServer.Validate]).
type TokenInfo struct {
	ClientID   string
	Subject    string // the approving user; the client id for client_credentials
	Scopes     []string
	Resource   string // RFC 8707 audience, "" if none was requested
	Expiry     time.Time
	Family     string // the authorization (code or client_credentials grant) the token descends from
	Generation int    // 0 for the grant's tokens, n after n refreshes
}

// Stats returns a snapshot of the counters.
func (a *AuthServer) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// Validate reports whether token is a current (issued, unexpired, unrevoked)
// access token, and what it grants. It is the resource server's introspection.
func (a *AuthServer) Validate(tok string) (TokenInfo, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tokens[tok]
	if t == nil || t.kind != kindAccess || t.revoked || t.family.revoked || !time.Now().Before(t.expiry) {
		return TokenInfo{}, false
	}
	return TokenInfo{
		ClientID:   t.family.clientID,
		Subject:    t.family.subject,
		Scopes:     slices.Clone(t.scopes),
		Resource:   t.family.resource,
		Expiry:     t.expiry,
		Family:     t.family.id,
		Generation: t.generation,
	}, true
}

// RefreshTokenUse describes one refresh token (one generation of a family).
type RefreshTokenUse struct {
	Family     string
	Generation int  // 0 = issued by the original grant
	Presented  int  // times presented to /token with grant_type=refresh_token
	Succeeded  int  // times it was rotated (≤ 1 by construction)
	Revoked    bool // the token or its family is revoked
}

// RefreshTokenUses lists every refresh token issued, ordered by family then generation.
func (a *AuthServer) RefreshTokenUses() []RefreshTokenUse {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []RefreshTokenUse
	for _, f := range a.familyOrder {
		for _, t := range f.refreshTokens {
			out = append(out, RefreshTokenUse{
				Family: f.id, Generation: t.generation,
				Presented: t.presented, Succeeded: t.succeeded,
				Revoked: t.revoked || f.revoked,
			})
		}
	}
	return out
}

// RefreshesPerGeneration maps "family/generation" to how many times that
// generation's refresh token was presented, for every refresh token presented
// at least once. "Exactly one refresh per token generation" means every value
// is 1 (and Stats().ReuseDetections is 0).
func (a *AuthServer) RefreshesPerGeneration() map[string]int {
	out := map[string]int{}
	for _, u := range a.RefreshTokenUses() {
		if u.Presented > 0 {
			out[generationKey(u.Family, u.Generation)] = u.Presented
		}
	}
	return out
}

func generationKey(family string, gen int) string {
	return family + "/" + strconv.Itoa(gen)
}
