package mcpgate

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// Grant lets a client call one or more servers on behalf of a user. The
// client holds the grant token; the gateway keeps only its SHA-256 digest.
type Grant struct {
	ID         string
	User       string
	Servers    []string
	Label      string
	TokenHash  string // hex SHA-256 of the token
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never expires
	RevokedAt  time.Time // zero: not revoked
	LastUsedAt time.Time
	Version    int64
}

// Reasons a grant is refused. They are user-safe and say what is wrong.
var (
	ErrGrantMissing     = errors.New("no grant token: send Authorization: Bearer <grant token>")
	ErrGrantMalformed   = errors.New("the grant token is malformed or its checksum is wrong")
	ErrGrantUnknown     = errors.New("the grant token is not known to this gateway")
	ErrGrantExpired     = errors.New("the grant has expired")
	ErrGrantRevoked     = errors.New("the grant has been revoked")
	ErrGrantWrongServer = errors.New("the grant does not cover this server")
)

// Check reports why g cannot be used for server at now, or nil if it can.
func (g Grant) Check(server string, now time.Time) error {
	if !g.RevokedAt.IsZero() {
		return ErrGrantRevoked
	}
	if !g.ExpiresAt.IsZero() && !now.Before(g.ExpiresAt) {
		return ErrGrantExpired
	}
	if !slices.Contains(g.Servers, server) {
		return ErrGrantWrongServer
	}
	return nil
}

// Validate checks the caller-controlled parts of a new grant.
func (g Grant) Validate() error {
	if strings.TrimSpace(g.User) == "" {
		return Invalidf("grant needs a user")
	}
	if len(g.User) > 256 || len(g.Label) > 256 {
		return Invalidf("grant user and label are limited to 256 characters")
	}
	if len(g.Servers) == 0 {
		return Invalidf("grant needs at least one server")
	}
	for _, s := range g.Servers {
		if err := ValidateServerName(s); err != nil {
			return err
		}
	}
	return nil
}
