package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

func newConnectionCmd() *cobra.Command {
	return groupCmd("connection", "Manage upstream OAuth connections: the tokens the gateway holds at servers",
		newConnectionListCmd(),
		newConnectionGetCmd(),
		newConnectionRevokeCmd(),
	)
}

func newConnectionListCmd() *cobra.Command {
	var server, user string
	cmd := &cobra.Command{
		Use:   "list [--server NAME] [--user USER]",
		Short: "List upstream connections (without their tokens)",
		Args:  exactArgs(),
	}
	out := addOutputFlag(cmd)
	cmd.Flags().StringVar(&server, "server", "", "only connections to this server")
	cmd.Flags().StringVar(&user, "user", "", "only this user's connections")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		all, err := c.ListConnections(cmd.Context())
		if err != nil {
			return err
		}
		conns := []adminapi.Connection{}
		for _, cn := range all {
			if (server == "" || cn.Server == server) && (user == "" || cn.User == user) {
				conns = append(conns, cn)
			}
		}
		if *out == jsonOutput {
			return writeJSON(cmd.OutOrStdout(), adminapi.ConnectionList{Connections: conns})
		}
		tw := table(cmd.OutOrStdout())
		fmt.Fprintln(tw, "ID\tSERVER\tUSER\tSTATE\tSCOPES\tEXPIRES\tLAST REFRESH\tLAST USED\tFAILURES")
		for _, cn := range conns {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n",
				cell(cn.ID), cell(cn.Server), connectionUser(cn), cell(cn.State), list(cn.Scopes),
				optTimestamp(cn.ExpiresAt, "unknown"), optTimestamp(cn.LastRefreshAt, "never"),
				optTimestamp(cn.LastUsedAt, "never"), cn.RefreshFailures)
		}
		return tw.Flush()
	}
	return cmd
}

func newConnectionGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Show one upstream connection",
		Args:  exactArgs("ID"),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if args[0] == "" {
			return usagef("ID is empty")
		}
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		cn, err := c.GetConnection(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if *out == jsonOutput {
			return writeJSON(cmd.OutOrStdout(), cn)
		}
		return printConnection(cmd.OutOrStdout(), cn)
	}
	return cmd
}

func newConnectionRevokeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a connection: its tokens are deleted and revoked at the provider",
		Args:  exactArgs("ID"),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if args[0] == "" {
			return usagef("ID is empty")
		}
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		res, err := c.RevokeConnection(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if res.ProviderError != "" {
			warnProvider(cmd.ErrOrStderr(), res.ProviderError)
		}
		if *out == jsonOutput {
			return writeJSON(cmd.OutOrStdout(), res)
		}
		cn := res.Connection
		fmt.Fprintf(cmd.OutOrStdout(), "Revoked connection %s (%s, %s): the gateway's tokens are deleted.\n",
			cell(cn.ID), cell(cn.Server), connectionUser(cn))
		return nil
	}
	return cmd
}

// warnProvider reports that a provider could not be told to revoke tokens.
func warnProvider(w io.Writer, providerError string) {
	fmt.Fprintf(w, "warning: the provider did not confirm the revocation (%s); the gateway's copy of the tokens is deleted regardless, but they may stay valid at the provider until they expire\n",
		cell(providerError))
}

// connectionUser names whom a connection serves.
func connectionUser(cn adminapi.Connection) string {
	if cn.Shared {
		return "(shared)"
	}
	return cell(cn.User)
}

func printConnection(w io.Writer, cn adminapi.Connection) error {
	refresh := "no"
	if cn.HasRefreshToken {
		refresh = "yes"
	}
	tw := table(w)
	fmt.Fprintf(tw, "ID:\t%s\n", cell(cn.ID))
	fmt.Fprintf(tw, "Server:\t%s\n", cell(cn.Server))
	fmt.Fprintf(tw, "User:\t%s\n", connectionUser(cn))
	fmt.Fprintf(tw, "State:\t%s\n", cell(cn.State))
	fmt.Fprintf(tw, "Grant type:\t%s\n", cell(cn.GrantType))
	fmt.Fprintf(tw, "Issuer:\t%s\n", cell(cn.Issuer))
	fmt.Fprintf(tw, "Client id:\t%s\n", cell(cn.ClientID))
	fmt.Fprintf(tw, "Scopes:\t%s\n", list(cn.Scopes))
	fmt.Fprintf(tw, "Step-up scopes:\t%s\n", list(cn.StepUpScopes))
	fmt.Fprintf(tw, "Refresh token:\t%s\n", refresh)
	fmt.Fprintf(tw, "Access token expires:\t%s\n", optTimestamp(cn.ExpiresAt, "unknown"))
	fmt.Fprintf(tw, "Generation:\t%s\n", strconv.FormatInt(cn.Generation, 10))
	fmt.Fprintf(tw, "Last refresh:\t%s\n", optTimestamp(cn.LastRefreshAt, "never"))
	fmt.Fprintf(tw, "Last used:\t%s\n", optTimestamp(cn.LastUsedAt, "never"))
	fmt.Fprintf(tw, "Refresh failures:\t%d\n", cn.RefreshFailures)
	fmt.Fprintf(tw, "Last error:\t%s\n", cell(cn.LastError))
	fmt.Fprintf(tw, "Last error at:\t%s\n", optTimestamp(cn.LastErrorAt, "-"))
	fmt.Fprintf(tw, "Created:\t%s\n", timestamp(cn.CreatedAt))
	fmt.Fprintf(tw, "Updated:\t%s\n", timestamp(cn.UpdatedAt))
	return tw.Flush()
}
