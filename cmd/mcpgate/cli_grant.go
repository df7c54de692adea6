package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

func newGrantCmd() *cobra.Command {
	return groupCmd("grant", "Manage grants: the tokens that let a user's client reach servers",
		newGrantCreateCmd(),
		newGrantListCmd(),
		newGrantGetCmd(),
		newGrantRevokeCmd(),
	)
}

func newGrantCreateCmd() *cobra.Command {
	var (
		req adminapi.CreateGrantRequest
		ttl time.Duration
	)
	cmd := &cobra.Command{
		Use:     "create --user USER --server NAME [--server NAME …]",
		Short:   "Create a grant and print its token (shown only once)",
		Example: `  mcpgate grant create --user ann@example.com --server github --server notion --ttl 720h --name "ann's laptop"`,
		Args:    exactArgs(),
	}
	out := addOutputFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&req.User, "user", "", "who the grant is for; required")
	fl.StringSliceVar(&req.Servers, "server", nil, "a server the grant reaches (repeatable, or comma separated); required")
	fl.DurationVar(&ttl, "ttl", 0, "lifetime, e.g. 24h or 720h; without it the grant does not expire")
	fl.StringVar(&req.Label, "name", "", "a label for the grant, e.g. the device it is for")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "user", "server"); err != nil {
			return err
		}
		if cmd.Flags().Changed("ttl") {
			if ttl <= 0 {
				return usagef("--ttl must be positive; leave it out for a grant that does not expire")
			}
			req.TTL = ttl.String()
		}
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		g, err := c.CreateGrant(cmd.Context(), req)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if *out == jsonOutput {
			return writeJSON(w, g)
		}
		tw := table(w)
		fmt.Fprintf(tw, "ID:\t%s\n", cell(g.ID))
		fmt.Fprintf(tw, "Token:\t%s\n", g.Token)
		fmt.Fprintf(tw, "User:\t%s\n", cell(g.User))
		fmt.Fprintf(tw, "Servers:\t%s\n", list(g.Servers))
		fmt.Fprintf(tw, "Expires:\t%s\n", optTimestamp(g.ExpiresAt, "never"))
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write grant: %w", err)
		}
		fmt.Fprintln(w, "\nThe token is shown only once: copy it now, it cannot be retrieved later.")
		if len(g.Servers) > 0 {
			fmt.Fprintf(w, "Client setup: mcpgate client-config --client claude-code --server %s --token -\n", cell(g.Servers[0]))
		}
		return nil
	}
	return cmd
}

func newGrantListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List grants (without their tokens)",
		Args:  exactArgs(),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		grants, err := c.ListGrants(cmd.Context())
		if err != nil {
			return err
		}
		if *out == jsonOutput {
			return writeJSON(cmd.OutOrStdout(), adminapi.GrantList{Grants: grants})
		}
		tw := table(cmd.OutOrStdout())
		fmt.Fprintln(tw, "ID\tUSER\tSERVERS\tLABEL\tSTATUS\tCREATED\tEXPIRES\tLAST USED")
		for _, g := range grants {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
				cell(g.ID), cell(g.User), list(g.Servers), cell(g.Label), cell(g.Status),
				timestamp(g.CreatedAt), optTimestamp(g.ExpiresAt, "never"), optTimestamp(g.LastUsedAt, "never"))
		}
		return tw.Flush()
	}
	return cmd
}

func newGrantGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Show one grant",
		Args:  exactArgs("ID"),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		g, err := c.GetGrant(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if *out == jsonOutput {
			return writeJSON(cmd.OutOrStdout(), g)
		}
		return printGrant(cmd.OutOrStdout(), g)
	}
	return cmd
}

func newGrantRevokeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a grant; its token stops working at once",
		Args:  exactArgs("ID"),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		g, err := c.RevokeGrant(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if *out == jsonOutput {
			return writeJSON(cmd.OutOrStdout(), g)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Revoked grant %s (%s).\n", cell(g.ID), cell(g.User))
		return nil
	}
	return cmd
}

func printGrant(w io.Writer, g adminapi.Grant) error {
	tw := table(w)
	fmt.Fprintf(tw, "ID:\t%s\n", cell(g.ID))
	fmt.Fprintf(tw, "User:\t%s\n", cell(g.User))
	fmt.Fprintf(tw, "Servers:\t%s\n", list(g.Servers))
	fmt.Fprintf(tw, "Label:\t%s\n", cell(g.Label))
	fmt.Fprintf(tw, "Status:\t%s\n", cell(g.Status))
	fmt.Fprintf(tw, "Created:\t%s\n", timestamp(g.CreatedAt))
	fmt.Fprintf(tw, "Expires:\t%s\n", optTimestamp(g.ExpiresAt, "never"))
	fmt.Fprintf(tw, "Revoked:\t%s\n", optTimestamp(g.RevokedAt, "-"))
	fmt.Fprintf(tw, "Last used:\t%s\n", optTimestamp(g.LastUsedAt, "never"))
	return tw.Flush()
}
