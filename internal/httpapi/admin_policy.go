package httpapi

import (
	"net/http"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/policy"
)

func (h *Handler) policyStatus(changed bool) adminapi.PolicyStatus {
	return adminapi.PolicyStatus{
		Path: h.Policy.Path(), Enforced: h.Policy.Current() != nil,
		LoadedAt: h.Policy.LoadedAt().UTC(), Changed: changed,
	}
}

func (h *Handler) getPolicy(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, h.policyStatus(false))
	return nil
}

// reloadPolicy re-reads the policy file; a bad file is refused with its
// line and column and the policy in force stays.
func (h *Handler) reloadPolicy(w http.ResponseWriter, r *http.Request) error {
	changed, err := h.Policy.Reload()
	if err != nil {
		return mcpgate.Invalidf("policy not reloaded, the previous one stays in force: %v", err)
	}
	if changed {
		h.Logger.Info("policy reloaded", "path", h.Policy.Path())
	}
	if feed, ok := h.Store.(mcpgate.ChangeFeed); ok {
		// Every replica reloads its copy of the file.
		if err := feed.Publish(r.Context(), mcpgate.Change{Kind: mcpgate.ChangePolicy}); err != nil {
			h.Logger.Warn("could not ask the other replicas to reload the policy", "err", err)
		}
	}
	writeJSON(w, http.StatusOK, h.policyStatus(changed))
	return nil
}

// testPolicy evaluates a hypothetical call against the policy in force.
func (h *Handler) testPolicy(w http.ResponseWriter, r *http.Request) error {
	var req adminapi.PolicyTestRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	d, err := TestPolicy(h.Policy.Current(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// TestPolicy evaluates req against pol (nil: no policy, everything allowed).
// Rate counts are kept apart from real calls' by a grant id of their own.
func TestPolicy(pol *policy.Policy, req adminapi.PolicyTestRequest) (adminapi.PolicyDecision, error) {
	if req.Server == "" || req.Name == "" {
		return adminapi.PolicyDecision{}, mcpgate.Invalidf("server and name are required")
	}
	var args map[string]any
	if len(req.Args) > 0 && string(req.Args) != "null" {
		var err error
		if args, err = policy.ParseArguments(req.Args); err != nil {
			return adminapi.PolicyDecision{}, mcpgate.Invalidf("args: %v", err)
		}
	}
	if pol == nil {
		return adminapi.PolicyDecision{Allow: true, Reason: "no policy is configured", Visible: true}, nil
	}
	grantID := req.GrantID
	if grantID == "" {
		grantID = "policy-test"
	}
	in := policy.Input{Server: req.Server, Method: req.Method, Name: req.Name, User: req.User,
		GrantID: grantID, GrantLabel: req.GrantLabel, Args: args, Probe: true}
	d := pol.Evaluate(in)
	in.Args = nil
	return adminapi.PolicyDecision{
		Allow: d.Allow, RuleID: d.RuleID, Reason: d.Reason, DryRunDenials: d.DryRunDenials,
		RetryAfterMS: d.RetryAfter.Milliseconds(), Visible: pol.Visible(in),
	}, nil
}
