package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/httpapi"
	"github.com/mcpgate/mcpgate/internal/policy"
)

func newPolicyCmd() *cobra.Command {
	return groupCmd("policy", "Inspect, reload and try out the per-tool policy",
		newPolicyStatusCmd(),
		newPolicyReloadCmd(),
		newPolicyTestCmd(),
	)
}

func printPolicyStatus(cmd *cobra.Command, s adminapi.PolicyStatus, json bool) error {
	w := cmd.OutOrStdout()
	if json {
		return writeJSON(w, s)
	}
	if !s.Enforced {
		fmt.Fprintln(w, "No policy is configured: every call is allowed (set policy_file or MCPGATE_POLICY_FILE).")
		return nil
	}
	verb := "In force"
	if s.Changed {
		verb = "Reloaded"
	}
	fmt.Fprintf(w, "%s: %s (loaded %s)\n", verb, cell(s.Path), s.LoadedAt.Format(time.RFC3339))
	return nil
}

func newPolicyStatusCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "status", Short: "Show the policy in force", Args: exactArgs()}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		s, err := c.PolicyStatus(cmd.Context())
		if err != nil {
			return err
		}
		return printPolicyStatus(cmd, s, *out == jsonOutput)
	}
	return cmd
}

func newPolicyReloadCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Re-read the policy file now",
		Long: `Re-read the policy file. A file that does not parse is refused with its line
and column, and the policy in force stays. The gateway also reloads on its own
when the file changes, and on SIGHUP.`,
		Args: exactArgs(),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		s, err := c.ReloadPolicy(cmd.Context())
		if err != nil {
			return err
		}
		return printPolicyStatus(cmd, s, *out == jsonOutput)
	}
	return cmd
}

func newPolicyTestCmd() *cobra.Command {
	var req adminapi.PolicyTestRequest
	var args, file string
	cmd := &cobra.Command{
		Use:   "test --user U --server S --tool T [--args JSON] [--file policy.yaml]",
		Short: "Show how the policy decides a call, and which rule decides",
		Long: `Show how the policy decides a call. By default the running gateway's policy is
asked; with --file the given file is evaluated locally, without a gateway.`,
		Args: exactArgs(),
	}
	f := cmd.Flags()
	f.StringVar(&req.User, "user", "", "the user making the call")
	f.StringVar(&req.Server, "server", "", "the upstream server")
	f.StringVar(&req.Name, "tool", "", "the tool name (or resource URI / prompt name with --method)")
	f.StringVar(&req.Method, "method", "tools/call", "tools/call, resources/read or prompts/get")
	f.StringVar(&req.GrantLabel, "grant-label", "", "the grant's label, for rules that match on it")
	f.StringVar(&args, "args", "", "the call's arguments as a JSON object")
	f.StringVar(&file, "file", "", "evaluate this policy file locally instead of asking the gateway")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if req.Server == "" || req.Name == "" {
			return usageError{fmt.Errorf("--server and --tool are required")}
		}
		if args != "" {
			req.Args = json.RawMessage(args)
		}
		var d adminapi.PolicyDecision
		var err error
		if file != "" {
			d, err = evaluateLocally(file, req)
		} else {
			c, cerr := newAdminClient()
			if cerr != nil {
				return cerr
			}
			d, err = c.TestPolicy(cmd.Context(), req)
		}
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if *out == jsonOutput {
			return writeJSON(w, d)
		}
		verdict := "DENY"
		if d.Allow {
			verdict = "ALLOW"
		}
		rule := d.RuleID
		if rule == "" {
			rule = "(default)"
		}
		fmt.Fprintf(w, "%s  rule %s: %s\n", verdict, rule, d.Reason)
		if len(d.DryRunDenials) > 0 {
			fmt.Fprintf(w, "dry run: would be denied by %s\n", strings.Join(d.DryRunDenials, ", "))
		}
		if !d.Visible {
			fmt.Fprintln(w, "hidden from tools/list for this identity")
		}
		return nil
	}
	return cmd
}

func evaluateLocally(path string, req adminapi.PolicyTestRequest) (adminapi.PolicyDecision, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return adminapi.PolicyDecision{}, err
	}
	pol, err := policy.Parse(data)
	if err != nil {
		return adminapi.PolicyDecision{}, fmt.Errorf("%s: %w", path, err)
	}
	return httpapi.TestPolicy(pol, req)
}
