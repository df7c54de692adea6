package adminapi

import (
	"encoding/json"
	"time"
)

// PolicyStatus is the answer to GET /policy and POST /policy/reload.
type PolicyStatus struct {
	// Path is the policy file ("" when no policy is configured).
	Path     string    `json:"path"`
	Enforced bool      `json:"enforced"`
	LoadedAt time.Time `json:"loaded_at"`
	// Changed is set by a reload that installed a new policy.
	Changed bool `json:"changed"`
}

// PolicyTestRequest asks how the policy in force decides a call
// (POST /policy/test). Method defaults to tools/call; Name is the tool name,
// resource URI or prompt name.
type PolicyTestRequest struct {
	User       string          `json:"user"`
	Server     string          `json:"server"`
	Method     string          `json:"method,omitempty"`
	Name       string          `json:"name"`
	GrantID    string          `json:"grant_id,omitempty"`
	GrantLabel string          `json:"grant_label,omitempty"`
	Args       json.RawMessage `json:"args,omitempty"`
}

// PolicyDecision is the outcome of a policy test.
type PolicyDecision struct {
	Allow         bool     `json:"allow"`
	RuleID        string   `json:"rule_id"`
	Reason        string   `json:"reason"`
	DryRunDenials []string `json:"dry_run_denials,omitempty"`
	RetryAfterMS  int64    `json:"retry_after_ms,omitempty"`
	// Visible says whether the tool appears in this identity's tools/list.
	Visible bool `json:"visible"`
}
