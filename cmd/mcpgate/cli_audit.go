package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/adminclient"
)

func newAuditCmd() *cobra.Command {
	var q adminclient.AuditQuery
	cmd := &cobra.Command{
		Use:   "audit [--server NAME] [--user USER] [--decision allow|deny|dry_run_deny] [--since 1h] [--until TIME] [--limit N]",
		Short: "Show the decision log: every policy decision on a proxied call, newest first",
		Long: `Show the decision log: every policy decision on a proxied call, newest
first, with the call's arguments redacted (see -o json).

--since and --until take a duration back from now (30m, 1h, 7d) or an RFC 3339
time (2025-06-01T12:00:00Z); since is inclusive, until exclusive. At most
--limit events are shown (default 100, at most 1000); when there are more, the
command says which --before-id shows the next, older page.`,
		Example: `  mcpgate audit --decision deny --since 24h
  mcpgate audit --user ann@example.com --server github -o json`,
		Args: exactArgs(),
	}
	out := addOutputFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&q.Server, "server", "", "only calls to this server")
	fl.StringVar(&q.User, "user", "", "only this user's calls")
	fl.StringVar(&q.Decision, "decision", "", "only this decision: allow, deny or dry_run_deny")
	fl.StringVar(&q.Since, "since", "", "only events at or after this time (1h, 7d or RFC 3339)")
	fl.StringVar(&q.Until, "until", "", "only events before this time (1h, 7d or RFC 3339)")
	fl.IntVar(&q.Limit, "limit", 0, "show at most N events, 1 to 1000 (default 100)")
	fl.Int64Var(&q.BeforeID, "before-id", 0, "only events older than this id: the next page of an earlier listing")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if cmd.Flags().Changed("decision") {
			if err := oneOf("decision", q.Decision, []string{adminapi.DecisionAllow, adminapi.DecisionDeny, adminapi.DecisionDryRunDeny}); err != nil {
				return err
			}
		}
		if cmd.Flags().Changed("limit") && (q.Limit < 1 || q.Limit > 1000) {
			return usagef("--limit %d: want 1 to 1000", q.Limit)
		}
		if cmd.Flags().Changed("before-id") && q.BeforeID < 1 {
			return usagef("--before-id %d: want an event id", q.BeforeID)
		}
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		list, err := c.Audit(cmd.Context(), q)
		if err != nil {
			return err
		}
		if *out == jsonOutput {
			return writeJSON(cmd.OutOrStdout(), list)
		}
		tw := table(cmd.OutOrStdout())
		fmt.Fprintln(tw, "TIME\tUSER\tSERVER\tMETHOD\tTOOL\tDECISION\tRULE\tREASON\tLATENCY")
		for _, e := range list.Events {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
				timestamp(e.Time), cell(e.User), cell(e.Server), cell(e.Method), cell(e.Tool),
				cell(e.Decision), cell(e.RuleID), cell(e.Reason), strconv.FormatFloat(e.LatencyMS, 'f', 1, 64)+"ms")
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write audit events: %w", err)
		}
		if list.NextBeforeID != 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "More events are older: repeat with --before-id %d for the next page.\n", list.NextBeforeID)
		}
		return nil
	}
	return cmd
}
