package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

func newConnectCmd() *cobra.Command {
	var req adminapi.ConnectRequest
	cmd := &cobra.Command{
		Use:   "connect SERVER (--user USER | --shared) [--client-credentials | --workload-identity | --assertion-file F | --id-token-file F]",
		Short: "Connect a user, or the whole gateway, to an upstream server through OAuth",
		Long: `Connect a user, or the whole gateway, to an upstream server through OAuth.

With --user the connection is that user's own; with --shared it serves every
user of the server. Both print an authorization URL to open in a browser.
With --client-credentials the gateway gets a shared connection at once, with
the server's pre-registered OAuth client and no browser.

With --assertion-file the gateway presents a JWT the server's authorization
server trusts, such as a workload identity token, with the JWT-bearer grant
(RFC 7523). With --id-token-file it exchanges the user's ID token at the
configured enterprise identity provider (identity_provider in the config)
for an ID-JAG and presents that (enterprise-managed authorization). Either
is kept sealed and presented again for each new access token until it
expires. "-" reads the token from standard input.

With --workload-identity the gateway presents its own workload identity
token with the JWT-bearer grant: the file named by
workload_identity_token_file in its config (a Kubernetes projected service
account token, say), read again for each new access token, so a token the
platform rotates is always presented fresh. The connection is shared.`,
		Example: `  mcpgate connect github --user ann@example.com
  mcpgate connect notion --shared
  mcpgate connect billing --client-credentials
  mcpgate connect search --shared --assertion-file ./workload.jwt
  mcpgate connect search --workload-identity
  mcpgate connect crm --user ann@example.com --id-token-file ann.jwt`,
		Args: exactArgs("SERVER"),
	}
	out := addOutputFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&req.User, "user", "", "connect this user (their own connection)")
	fl.BoolVar(&req.Shared, "shared", false, "make the server's shared connection, used for every user")
	fl.BoolVar(&req.ClientCredentials, "client-credentials", false, "get the shared connection with the OAuth client credentials grant (implies --shared)")
	fl.BoolVar(&req.WorkloadIdentity, "workload-identity", false, "get the shared connection with the gateway's workload identity token file and the JWT-bearer grant (implies --shared)")
	assertionFile := fl.String("assertion-file", "", "connect with the JWT-bearer grant, presenting the JWT in this file (- for standard input)")
	idTokenFile := fl.String("id-token-file", "", "connect --user with enterprise-managed authorization, exchanging the ID token in this file (- for standard input)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		user := cmd.Flags().Changed("user")
		ways := 0
		for _, set := range []bool{req.ClientCredentials, req.WorkloadIdentity, *assertionFile != "", *idTokenFile != ""} {
			if set {
				ways++
			}
		}
		if ways > 1 {
			return usagef("use only one of --client-credentials, --workload-identity, --assertion-file and --id-token-file")
		}
		var err error
		if *assertionFile != "" {
			if req.Assertion, err = readToken(cmd, *assertionFile); err != nil {
				return err
			}
		}
		if *idTokenFile != "" {
			if !user {
				return usagef("--id-token-file connects a user: give --user")
			}
			if req.IDToken, err = readToken(cmd, *idTokenFile); err != nil {
				return err
			}
		}
		switch {
		case user && req.User == "":
			return usagef("--user is empty")
		case user && req.ClientCredentials:
			return usagef("--client-credentials makes a shared connection; it cannot be used with --user")
		case user && req.WorkloadIdentity:
			return usagef("--workload-identity makes a shared connection (the identity is the gateway's); it cannot be used with --user")
		case user && req.Shared:
			return usagef("use only one of --user and --shared")
		case req.ClientCredentials || req.WorkloadIdentity:
			req.Shared = true
		case !user && !req.Shared:
			return usagef("--user or --shared is required")
		}
		req.Server = args[0]
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		started, conn, err := c.Connect(cmd.Context(), req)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if conn != nil {
			if *out == jsonOutput {
				return writeJSON(w, conn)
			}
			how := map[string]string{"client_credentials": "client credentials", "jwt_bearer": "JWT bearer", "id_jag": "enterprise-managed", "workload_identity": "workload identity"}[conn.GrantType]
			if conn.User == "" {
				fmt.Fprintf(w, "Connected %s for every user (shared connection, %s).\n", cell(conn.Server), how)
			} else {
				fmt.Fprintf(w, "Connected %s to %s (%s).\n", cell(conn.User), cell(conn.Server), how)
			}
			tw := table(w)
			fmt.Fprintf(tw, "ID:\t%s\n", cell(conn.ID))
			fmt.Fprintf(tw, "State:\t%s\n", cell(conn.State))
			fmt.Fprintf(tw, "Scopes:\t%s\n", list(conn.Scopes))
			fmt.Fprintf(tw, "Expires:\t%s\n", optTimestamp(conn.ExpiresAt, "unknown"))
			return tw.Flush()
		}
		if *out == jsonOutput {
			return writeJSON(w, started)
		}
		if req.Shared {
			fmt.Fprintf(w, "To make the shared connection to %s (used for every user), open this URL in a browser and approve access:\n", cell(req.Server))
		} else {
			fmt.Fprintf(w, "To connect %s to %s, open this URL in a browser as %s and approve access:\n", cell(req.User), cell(req.Server), cell(req.User))
		}
		fmt.Fprintf(w, "\n%s\n\n", cell(started.AuthorizationURL))
		fmt.Fprintf(w, "The link expires at %s. Then check: mcpgate connection list --server %s\n", timestamp(started.ExpiresAt), cell(req.Server))
		return nil
	}
	return cmd
}

// maxTokenFile bounds what is read as a token: a JWT is far smaller.
const maxTokenFile = 64 << 10

// readToken reads a token from path ("-": standard input), trimmed.
func readToken(cmd *cobra.Command, path string) (string, error) {
	var r io.Reader = cmd.InOrStdin()
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxTokenFile {
		return "", usagef("%s is larger than %d KiB: not a token", path, maxTokenFile>>10)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", usagef("%s is empty", path)
	}
	return tok, nil
}
