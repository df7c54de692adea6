package oauth

import (
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// An upstream's 401 challenge to the call a user actually made is what the
// spec has a client start authorization from: its resource_metadata and,
// above all, its scope. The gateway's own discovery probe is an
// unauthenticated initialize, which a server may answer differently or not
// challenge at all (servers that let initialize through and protect only
// tools/list and tools/call exist, and the conformance suite's scope step-up
// scenario is one). So the proxy reports the challenges it passes on as "not
// connected", and the next authorization of that server for that user
// starts from them.

const (
	challengeTTL  = AuthRequestTTL // how long a challenge stays relevant
	maxChallenges = 10000          // bound on remembered challenges
)

type recordedChallenge struct {
	challenges []oauthex.Challenge
	at         time.Time
}

// Challenged records the WWW-Authenticate values of an upstream's 401 answer
// to a call of user at server. Values without a Bearer (or DPoP) challenge
// are ignored.
func (m *Manager) Challenged(server, user string, wwwAuthenticate []string) {
	cs, err := oauthex.ParseWWWAuthenticate(wwwAuthenticate)
	if err != nil || !hasBearer(cs) {
		return
	}
	now := m.now()
	m.challengesMu.Lock()
	defer m.challengesMu.Unlock()
	if m.challenges == nil {
		m.challenges = map[connKey]recordedChallenge{}
	}
	if len(m.challenges) >= maxChallenges {
		for k, r := range m.challenges {
			if now.Sub(r.at) > challengeTTL {
				delete(m.challenges, k)
			}
		}
		if len(m.challenges) >= maxChallenges {
			return // a flood of users; discovery falls back to the probe
		}
	}
	m.challenges[connKey{server, user}] = recordedChallenge{challenges: cs, at: now}
}

// recentChallenge returns the challenges recorded for (server, user) within
// challengeTTL, or nil.
func (m *Manager) recentChallenge(server, user string) []oauthex.Challenge {
	m.challengesMu.Lock()
	defer m.challengesMu.Unlock()
	r, ok := m.challenges[connKey{server, user}]
	if !ok || m.now().Sub(r.at) > challengeTTL {
		return nil
	}
	return r.challenges
}

// hasBearer reports a Bearer challenge, or a DPoP one (RFC 9449 §7.1),
// which carries the same parameters.
func hasBearer(cs []oauthex.Challenge) bool {
	for _, c := range cs {
		if c.Scheme == "bearer" || c.Scheme == "dpop" {
			return true
		}
	}
	return false
}
