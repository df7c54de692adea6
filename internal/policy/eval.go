package policy

import (
	"time"
)

// Evaluate decides one call, in the order the package documentation gives.
// A nil Policy allows everything.
func (p *Policy) Evaluate(in Input) Decision {
	if p == nil {
		return Decision{Allow: true, Reason: "no policy"}
	}
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	method := methodBit(in.Method)
	var buf [32]int32
	var cands []int32
	if method != 0 {
		cands = p.candidates(in.Server, in.Name, buf[:0])
	}
	a := activations.Get().(*activation)
	a.in = in
	defer a.release()

	var d Decision
	// 1. Deny overrides. Deny rules with a rate are limiters, counted in 4.
	var limBuf [4]*rule
	limiters := limBuf[:0]
	denied := false
	for _, ri := range cands {
		r := p.rules[ri]
		if r.effect != Deny || !r.matchesIdentity(method, &a.in) {
			continue
		}
		if r.mode == DryRun {
			if r.rate.N == 0 {
				if ok, err := a.cond(r); ok || err != nil {
					d.DryRunDenials = append(d.DryRunDenials, r.id)
				}
			}
			continue
		}
		if denied {
			continue
		}
		ok, err := a.cond(r)
		switch {
		case err != nil:
			denied = true
			d.RuleID = r.id
			d.Reason = r.denyReason + " (condition failed, failing closed: " + err.Error() + ")"
		case !ok:
		case r.rate.N > 0:
			limiters = append(limiters, r)
		default:
			denied = true
			d.RuleID = r.id
			d.Reason = r.denyReason
		}
	}
	if denied {
		return d
	}

	// 2. The first allow rule whose condition holds.
	var allowRule, failedRule *rule
	var failedErr error
	for _, ri := range cands {
		r := p.rules[ri]
		if r.effect != Allow || r.mode != Enforce || !r.matchesIdentity(method, &a.in) {
			continue
		}
		ok, err := a.cond(r)
		if err != nil {
			if failedRule == nil {
				failedRule, failedErr = r, err
			}
			continue
		}
		if ok {
			allowRule = r
			break
		}
	}

	// 3. The server's default.
	if allowRule != nil {
		d.Allow = true
		d.RuleID = allowRule.id
		d.Reason = allowRule.allowReason
	} else {
		e := p.defaultEffect(in.Server)
		d.Allow = e == Allow
		d.Reason = p.defaultReason(in.Server, e)
		if failedRule != nil {
			d.Reason += "; rule " + quote(failedRule.id) + " did not apply: condition failed: " + failedErr.Error()
		}
	}
	if !d.Allow {
		return d
	}

	// 4. Rates.
	if allowRule != nil && allowRule.rate.N > 0 {
		limiters = append(limiters, allowRule)
	}
	if len(limiters) > 0 {
		var tokBuf [4]token
		taken := tokBuf[:0]
		for _, r := range limiters {
			tok, retry, err := p.take(r, in.GrantID, in.Name, in.Now)
			if err == nil && retry == 0 {
				taken = append(taken, tok)
				continue
			}
			for _, t := range taken {
				p.refund(t)
			}
			d.Allow = false
			d.RuleID = r.id
			d.RetryAfter = retry
			if err != nil {
				d.Reason = r.denyReason + " (" + err.Error() + ")"
			} else {
				d.Reason = rateReason(r, &in, retry)
			}
			return d
		}
		if in.Probe {
			for _, t := range taken {
				p.refund(t)
			}
		}
	}
	for _, ri := range cands {
		r := p.rules[ri]
		if r.mode != DryRun || r.rate.N == 0 || !r.matchesIdentity(method, &a.in) {
			continue
		}
		ok, err := a.cond(r)
		if err != nil && r.effect == Deny {
			d.DryRunDenials = append(d.DryRunDenials, r.id)
			continue
		}
		if !ok || err != nil {
			continue
		}
		tok, retry, err := p.take(r, in.GrantID, in.Name, in.Now)
		if err != nil || retry > 0 {
			d.DryRunDenials = append(d.DryRunDenials, r.id)
		} else if in.Probe {
			p.refund(tok)
		}
	}
	return d
}

// cond evaluates r's condition; a rule without one holds.
func (a *activation) cond(r *rule) (bool, error) {
	if r.prog == nil {
		return true, nil
	}
	return a.eval(r.prog)
}

func rateReason(r *rule, in *Input, retry time.Duration) string {
	secs := (retry + time.Second - 1).Truncate(time.Second)
	return "rate limit " + r.rate.String() + " of rule " + quote(r.id) + " exceeded for grant " +
		quote(in.GrantID) + " and " + quote(in.Name) + "; retry in " + secs.String()
}

// Visible reports whether the name in could ever be allowed for its server,
// method, user and grant, whatever the arguments: false when an enforce-mode
// deny rule without condition or rate matches, or when no enforce-mode allow
// rule matches and the server's default is deny. Use it to filter lists
// (tools/list, resources/list, prompts/list). A nil Policy shows everything.
func (p *Policy) Visible(in Input) bool {
	if p == nil {
		return true
	}
	method := methodBit(in.Method)
	if method == 0 {
		return p.defaultEffect(in.Server) == Allow
	}
	var buf [32]int32
	couldAllow := false
	for _, ri := range p.candidates(in.Server, in.Name, buf[:0]) {
		r := p.rules[ri]
		if r.mode != Enforce || !r.matchesIdentity(method, &in) {
			continue
		}
		switch {
		case r.effect == Deny && r.prog == nil && r.rate.N == 0:
			return false
		case r.effect == Allow:
			couldAllow = true
		}
	}
	return couldAllow || p.defaultEffect(in.Server) == Allow
}

// NeedsArguments reports whether deciding in (whose Args are not looked at)
// may read the call's arguments: whether a rule matching its server, method,
// name, user and grant has a condition that reads args. When it is false the
// caller can skip ParseArguments.
func (p *Policy) NeedsArguments(in Input) bool {
	if p == nil {
		return false
	}
	method := methodBit(in.Method)
	if method == 0 {
		return false
	}
	var buf [32]int32
	for _, ri := range p.candidates(in.Server, in.Name, buf[:0]) {
		if r := p.rules[ri]; r.usesArgs && r.matchesIdentity(method, &in) {
			return true
		}
	}
	return false
}
