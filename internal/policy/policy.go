package policy

import (
	"fmt"
	"time"
	_ "time/tzdata" // conditions name time zones; do not depend on the host's zoneinfo

	"cel.dev/cel-go/cel"
)

// Effect is what a rule does to a call it matches.
type Effect uint8

// Effects.
const (
	Allow Effect = iota + 1
	Deny
)

func (e Effect) String() string {
	switch e {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return fmt.Sprintf("Effect(%d)", uint8(e))
}

// Mode says whether a rule's denials take effect.
type Mode uint8

// Modes.
const (
	// Enforce rules decide.
	Enforce Mode = iota
	// DryRun rules only report, in Decision.DryRunDenials, what they would
	// have denied.
	DryRun
)

func (m Mode) String() string {
	if m == DryRun {
		return "dry-run"
	}
	return "enforce"
}

// Methods a rule can name. A rule matches tools/call unless it says otherwise.
const (
	MethodToolsCall     = "tools/call"
	MethodResourcesRead = "resources/read"
	MethodPromptsGet    = "prompts/get"
)

// Policy is a parsed, compiled set of rules. It is safe for concurrent use;
// its only mutable state is the rate limiter's counts.
type Policy struct {
	defaults map[string]Effect // server name or "*"
	rules    []*rule
	index    index
	limiter  *limiter
	shared   *sharedCounter // nil: rates are counted in limiter only
	// defaultReasons holds the precomputed reason of each listed server's default.
	defaultReasons map[string]string
}

// Input is one call to decide.
type Input struct {
	Server string
	// Method is tools/call (the default when empty), resources/read or
	// prompts/get.
	Method string
	// Name is the tool name, resource URI or prompt name.
	Name       string
	User       string
	GrantID    string
	GrantLabel string
	// Args are the call's arguments, as ParseArguments returns them. Nil is
	// an empty object.
	Args map[string]any
	// Now is the time of the call; the zero value means time.Now(). It drives
	// both the now variable and rate windows.
	Now time.Time
	// Probe asks what the decision would be without making a call: rates
	// are checked but the call is not counted (policy test).
	Probe bool
}

// Decision is the outcome of Evaluate. It always carries a human-readable
// reason, and the id of the deciding rule ("" when a default decided).
type Decision struct {
	Allow  bool
	RuleID string
	Reason string
	// DryRunDenials lists the ids of the dry-run rules that would have
	// denied the call.
	DryRunDenials []string
	// RetryAfter is set when a rate denied the call: the time until the
	// rule's window ends.
	RetryAfter time.Duration
}

// Rate is a limit of N calls per Per.
type Rate struct {
	N   int
	Per time.Duration
}

func (r Rate) String() string {
	unit := "s"
	switch r.Per {
	case time.Minute:
		unit = "m"
	case time.Hour:
		unit = "h"
	}
	return fmt.Sprintf("%d/%s", r.N, unit)
}

// rule is one compiled rule.
type rule struct {
	id          string
	description string
	index       int32 // position in the file, 0-based
	server      pattern
	names       []pattern
	methods     uint8 // bit set of methodBit values
	users       []pattern
	grants      []string // nil: any grant
	effect      Effect
	mode        Mode
	when        string
	prog        cel.Program // nil: unconditional
	usesArgs    bool        // prog reads args
	rate        Rate        // N == 0: none

	allowReason string
	denyReason  string
}

// methodBit maps a method to its bit; 0 for methods no rule can name.
func methodBit(m string) uint8 {
	switch m {
	case MethodToolsCall, "":
		return 1
	case MethodResourcesRead:
		return 2
	case MethodPromptsGet:
		return 4
	}
	return 0
}

// matchesIdentity reports whether r applies to a call of this method by this
// user and grant. Server and name are matched by the index.
func (r *rule) matchesIdentity(method uint8, in *Input) bool {
	if r.methods&method == 0 {
		return false
	}
	if r.users != nil && !matchAny(r.users, in.User) {
		return false
	}
	if r.grants != nil {
		ok := false
		for _, g := range r.grants {
			if (in.GrantID != "" && g == in.GrantID) || (in.GrantLabel != "" && g == in.GrantLabel) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// defaultEffect returns the default effect for server.
func (p *Policy) defaultEffect(server string) Effect {
	if e, ok := p.defaults[server]; ok {
		return e
	}
	if e, ok := p.defaults["*"]; ok {
		return e
	}
	return Allow
}

// defaultReason explains a decision made by server's default.
func (p *Policy) defaultReason(server string, e Effect) string {
	if r, ok := p.defaultReasons[server]; ok {
		return r
	}
	return "default for server " + quote(server) + " is " + e.String()
}

// quote quotes s for a reason; reasons reach logs and users.
func quote(s string) string { return fmt.Sprintf("%q", s) }
