package proxy

import (
	"fmt"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/policy"
)

// PolicySource returns the policy in force (nil: none). It is read once per
// request, so a reload never changes the rules in the middle of a call.
type PolicySource interface {
	Current() *policy.Policy
}

// Auditor records decisions without blocking the call.
type Auditor interface {
	Record(mcpgate.AuditEvent)
}

// CodePolicyDenied is the JSON-RPC code of a call refused by policy.
const CodePolicyDenied = -32054

// ruled reports whether calls of method are decided by policy.
func ruled(method string) bool {
	return method == "tools/call" || method == "resources/read" || method == "prompts/get"
}

// decide applies the policy to a ruled call. It answers the client itself
// and returns false when the call must not go upstream.
func (p *Proxy) decide(x *exchange, pol *policy.Policy, body []byte) bool {
	if x.env.Batch {
		p.fail(x, http.StatusBadRequest, CodeInvalidRequest, "JSON-RPC batches cannot carry tools/call, resources/read or prompts/get while a policy is in force; send them one by one")
		return false
	}
	in := policy.Input{
		Server: x.up.Name, Method: x.env.Method, Name: x.env.Name,
		User: x.grant.User, GrantID: x.grant.ID, GrantLabel: x.grant.Label, Now: x.start,
	}
	if pol.NeedsArguments(in) && len(x.env.Arguments) > 0 && x.env.Arguments[0] == '{' {
		// The envelope has refused repeated members up to params.arguments;
		// one strict parse of the arguments refuses them inside, so the rule
		// and the upstream cannot read different values.
		args, err := policy.ParseArguments(x.env.Arguments)
		if err != nil {
			p.fail(x, http.StatusBadRequest, CodeInvalidRequest, "invalid request: params.arguments: "+err.Error())
			return false
		}
		in.Args = args
	}
	d := pol.Evaluate(in)
	x.decision = &d
	if len(d.DryRunDenials) > 0 {
		p.log.Warn("policy dry run would deny", "server", x.up.Name, "tool", x.env.Name, "user", x.grant.User, "rules", d.DryRunDenials)
	}
	if d.Allow {
		return true
	}
	msgText := fmt.Sprintf("denied by policy: %s", d.Reason)
	if d.RuleID != "" {
		msgText = fmt.Sprintf("denied by policy rule %q: %s", d.RuleID, d.Reason)
	}
	data := map[string]any{"rule": d.RuleID, "reason": d.Reason}
	if d.RetryAfter > 0 {
		secs := int(d.RetryAfter.Round(time.Second) / time.Second)
		msgText += fmt.Sprintf("; retry after %d s", max(secs, 1))
		data["retry_after_ms"] = d.RetryAfter.Milliseconds()
	}
	x.rec.Status = http.StatusOK
	x.rec.PolicyDenied = true
	WriteErrorData(x.w, http.StatusOK, x.env.ID, CodePolicyDenied, msgText, data)
	return false
}

// audit records the decision of a ruled call once it is over.
func (p *Proxy) audit(x *exchange, upstreamStatus int) {
	if p.auditor == nil || x.decision == nil {
		return
	}
	d := x.decision
	decision := mcpgate.DecisionAllow
	switch {
	case !d.Allow:
		decision = mcpgate.DecisionDeny
	case len(d.DryRunDenials) > 0:
		decision = mcpgate.DecisionDryRunDeny
	}
	ruleID, reason := d.RuleID, d.Reason
	if decision == mcpgate.DecisionDryRunDeny {
		ruleID, reason = d.DryRunDenials[0], "dry run: rule "+d.DryRunDenials[0]+" would deny; allowed by "+d.Reason
	}
	p.auditor.Record(mcpgate.AuditEvent{
		Time: x.start.UTC(), GrantID: x.grant.ID, User: x.grant.User, ClientName: x.clientName,
		Server: x.up.Name, Method: x.env.Method, Tool: x.env.Name, Decision: decision,
		RuleID: ruleID, Reason: reason, Latency: p.now().Sub(x.start), UpstreamStatus: upstreamStatus,
		Arguments: string(x.env.Arguments),
	})
}

// visibleTools returns the tools/list filter for this exchange, or nil.
func visibleTools(x *exchange, pol *policy.Policy) func(string) bool {
	return func(name string) bool {
		return pol.Visible(policy.Input{
			Server: x.up.Name, Method: "tools/call", Name: name,
			User: x.grant.User, GrantID: x.grant.ID, GrantLabel: x.grant.Label,
		})
	}
}
