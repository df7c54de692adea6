// Package policy decides, for one MCP call, whether the gateway lets it
// through. It is pure: no HTTP, no store, no goroutines. A Policy is parsed
// once from YAML (Parse), compiled (every CEL condition is type-checked and
// planned at load), and is then safe for concurrent use.
//
// # Rules
//
// A rule matches a call by server (exact or glob), method (tools/call by
// default; resources/read and prompts/get), name (tool name, resource URI or
// prompt name; globs), user (globs) and grant (id or label). Globs follow
// path.Match, except that a lone "*" matches every string, "/" included. A
// rule has an effect (allow or deny), an optional CEL condition (when), an
// optional rate (N/s, N/m or N/h) and a mode (enforce or dry-run).
//
// # Evaluation order
//
// Evaluate considers only the rules that match the call's server, method,
// name, user and grant, in file order, and decides as follows.
//
//  1. Deny overrides. The first enforce-mode deny rule (without a rate) whose
//     condition is true denies; its id is reported. A deny rule whose
//     condition fails at run time (missing key, wrong type) also denies: it
//     fails closed, and the reason says the condition failed.
//  2. Otherwise the first enforce-mode allow rule whose condition is true
//     allows. An allow rule whose condition fails at run time does not
//     allow; evaluation goes on as if the condition were false.
//  3. Otherwise the server's default effect applies: defaults[server], else
//     defaults["*"], else allow. The rule id is then "" and the reason says
//     "default for server X is allow|deny".
//  4. Rates, only when steps 1–3 allowed the call. The allow rule that
//     decided, if it has a rate, and every enforce-mode deny rule with a rate
//     whose condition is true (a deny rule with a rate is a pure limiter: it
//     denies only the calls beyond its rate) count the call against N per
//     window, per (rule, grant id, name). If any is over, the call is denied
//     with RetryAfter and the counts taken by this call are given back.
//
// Dry-run rules never change the outcome. A dry-run deny rule whose
// condition is true or fails, and a dry-run rule with a rate that is over it
// (counted only for calls that are allowed), are listed in
// Decision.DryRunDenials. A dry-run allow rule without a rate has no effect.
//
// Visible answers the tools/list question without arguments: a name is
// hidden when it could never be allowed for the identity, that is when an
// enforce-mode deny rule without condition or rate matches it, or when no
// enforce-mode allow rule (conditional or not) matches it and the server's
// default is deny.
//
// # Conditions
//
// Conditions are CEL expressions that must type-check to bool. Variables:
// args (map(string, dyn), the call's arguments), user, server, tool (the
// name: tool, resource URI or prompt name), method (strings), grant (a map
// with keys id and label) and now (timestamp). Every number in args is a
// CEL double, whatever its JSON spelling or Go type: args.amount > 100 holds
// for 150 and 150.5, args.count == 3 holds for 3 and 3.0 (CEL compares
// numbers across types), but arithmetic must use doubles (args.count + 1.0).
// Time zones for now.getHours("Europe/Paris") come from the embedded time
// zone database, and each is loaded once.
//
// # Rates
//
// Counting uses a fixed window per key (rule, grant, name) that starts at the
// key's first counted call: at most N calls are counted between that call and
// the end of the window. Keys whose window has ended are evicted; the number
// of keys is bounded and, when the limiter is full of live keys, a new key is
// refused (fail closed). Counts live in the Policy: a reloaded Policy starts
// afresh.
//
// With WithSharedRates, replicas count together in a store instead: windows
// are aligned to the clock so that every replica derives the same one, keyed
// by rule id rather than position so that a reload keeps them. While the
// store fails, counting falls back to the Policy's own limiter.
//
// # Arguments
//
// ParseArguments parses a tools/call arguments object once, strictly
// (duplicate keys, invalid UTF-8, unpaired surrogate escapes and nesting
// deeper than 64 are errors), keeping numbers as json.Number. NeedsArguments
// tells the caller when no matching rule reads args, so that the parse can
// be skipped.
package policy
