package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newUserCmd() *cobra.Command {
	return groupCmd("user", "Manage users of the gateway",
		newUserRemoveCmd(),
	)
}

func newUserRemoveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "remove USER",
		Aliases: []string{"rm"},
		Short:   "Remove a user: delete their connections (revoking them at the providers) and revoke their grants",
		Args:    exactArgs("USER"),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if args[0] == "" {
			return usagef("USER is empty")
		}
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		res, err := c.RemoveUser(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if res.ProviderError != "" {
			warnProvider(cmd.ErrOrStderr(), res.ProviderError)
		}
		w := cmd.OutOrStdout()
		if *out == jsonOutput {
			return writeJSON(w, res)
		}
		fmt.Fprintf(w, "Removed user %s.\n", cell(res.User))
		tw := table(w)
		fmt.Fprintf(tw, "Removed connections:\t%s\n", countedList(res.RemovedConnections))
		fmt.Fprintf(tw, "Revoked grants:\t%s\n", countedList(res.RevokedGrants))
		return tw.Flush()
	}
	return cmd
}

// countedList is "none", or how many ids there are followed by the ids.
func countedList(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d (%s)", len(ids), list(ids))
}
