package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/config"
)

func newServerCmd() *cobra.Command {
	return groupCmd("server", "Manage the upstream MCP servers behind the gateway",
		newServerAddCmd(),
		newServerListCmd(),
		newServerGetCmd(),
		newServerRemoveCmd(),
	)
}

// serverAddFlags are the flags of "server add"; secrets can come from files
// or the environment so they need not be typed on the command line.
type serverAddFlags struct {
	url          string
	headers      []string // "Name: value"
	headerFiles  []string // "Name=path"
	clientID     string
	secretFile   string
	secretEnvVar string
	authMethod   string
	scopes       []string
	keyFile      string // PEM private key for private_key_jwt
}

func newServerAddCmd() *cobra.Command {
	var f serverAddFlags
	cmd := &cobra.Command{
		Use:   "add NAME --url URL",
		Short: "Add an upstream MCP server",
		Example: `  mcpgate server add github --url https://api.githubcopilot.com/mcp/ --header-file 'Authorization=/run/secrets/gh'
  mcpgate server add notion --url https://mcp.notion.com/mcp --oauth-client-id ID --oauth-client-secret-env NOTION_SECRET
  mcpgate server add corp --url https://mcp.corp.example/mcp --oauth-client-id ID --oauth-private-key-file key.pem --oauth-scope read --oauth-scope write`,
		Args: exactArgs("NAME"),
	}
	out := addOutputFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "the server's MCP endpoint (Streamable HTTP); required")
	fl.StringArrayVar(&f.headers, "header", nil, `static header sent upstream, as 'Name: value' (repeatable)`)
	fl.StringArrayVar(&f.headerFiles, "header-file", nil, `static header whose value is read from a file, as 'Name=path' (repeatable)`)
	fl.StringVar(&f.clientID, "oauth-client-id", "", "pre-registered OAuth client id at the server's authorization server")
	fl.StringVar(&f.secretFile, "oauth-client-secret-file", "", "read the OAuth client secret from this file")
	fl.StringVar(&f.secretEnvVar, "oauth-client-secret-env", "", "read the OAuth client secret from this environment variable")
	fl.StringVar(&f.authMethod, "oauth-auth-method", "", "token endpoint auth method: none, client_secret_basic, client_secret_post or private_key_jwt (default: from the authorization server's metadata)")
	fl.StringArrayVar(&f.scopes, "oauth-scope", nil, "OAuth scope to request (repeatable; default: discovered)")
	fl.StringVar(&f.keyFile, "oauth-private-key-file", "", "read a PEM private key (EC P-256 or RSA) for private_key_jwt from this file")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := requireFlags(cmd, "url"); err != nil {
			return err
		}
		req, err := f.request(args[0])
		if err != nil {
			return err
		}
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		s, err := c.CreateServer(cmd.Context(), req)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if *out == jsonOutput {
			return writeJSON(w, s)
		}
		fmt.Fprintf(w, "Added server %s (%s).\n", cell(s.Name), cell(s.URL))
		fmt.Fprintf(w, "Next: mcpgate grant create --user USER --server %s\n", cell(s.Name))
		return nil
	}
	return cmd
}

// request builds the API request, reading secrets from their files and
// environment variables.
func (f serverAddFlags) request(name string) (adminapi.CreateServerRequest, error) {
	req := adminapi.CreateServerRequest{Name: name, URL: f.url, OAuthClientID: f.clientID,
		OAuthAuthMethod: f.authMethod, OAuthScopes: f.scopes}
	headers := map[string]string{}
	seen := map[string]bool{}
	add := func(name, value string) error {
		key := strings.ToLower(name)
		if seen[key] {
			return usagef("header %q is given twice", name)
		}
		seen[key] = true
		headers[name] = value
		return nil
	}
	for i, h := range f.headers {
		name, value, err := parseHeader(h)
		if err != nil {
			// The flag's text may be a secret: say which one, not what it was.
			return req, usagef("--header number %d: %w", i+1, err)
		}
		if err := add(name, value); err != nil {
			return req, err
		}
	}
	for _, hf := range f.headerFiles {
		name, path, ok := strings.Cut(hf, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || path == "" {
			return req, usagef("--header-file %q: want 'Name=path'", hf)
		}
		value, err := config.Secret{File: path}.Resolve(os.Getenv)
		if err != nil {
			return req, fmt.Errorf("header %s: %w", name, err)
		}
		if err := add(name, value); err != nil {
			return req, err
		}
	}
	if len(headers) > 0 {
		req.Headers = headers
	}

	secret := config.Secret{File: f.secretFile, Env: f.secretEnvVar}
	switch {
	case secret.File != "" && secret.Env != "":
		return req, usagef("use only one of --oauth-client-secret-file and --oauth-client-secret-env")
	case secret.IsSet() && f.clientID == "":
		return req, usagef("an OAuth client secret needs --oauth-client-id")
	case secret.IsSet():
		v, err := secret.Resolve(os.Getenv)
		if err != nil {
			return req, fmt.Errorf("OAuth client secret: %w", err)
		}
		req.OAuthClientSecret = v
	}
	if f.keyFile != "" {
		switch {
		case secret.IsSet():
			return req, usagef("use --oauth-private-key-file or an OAuth client secret, not both")
		case f.clientID == "":
			return req, usagef("an OAuth private key needs --oauth-client-id")
		}
		v, err := config.Secret{File: f.keyFile}.Resolve(os.Getenv)
		if err != nil {
			return req, fmt.Errorf("OAuth private key: %w", err)
		}
		req.OAuthPrivateKey = v
	}
	return req, nil
}

// parseHeader splits "Name: value". Its errors never quote s, which may hold
// a secret.
func parseHeader(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return "", "", errors.New(`want 'Name: value', e.g. 'Authorization: Bearer …'`)
	}
	return name, strings.TrimSpace(value), nil
}

func newServerListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List upstream servers",
		Args:  exactArgs(),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		servers, err := c.ListServers(cmd.Context())
		if err != nil {
			return err
		}
		if *out == jsonOutput {
			return writeJSON(cmd.OutOrStdout(), adminapi.ServerList{Servers: servers})
		}
		tw := table(cmd.OutOrStdout())
		fmt.Fprintln(tw, "NAME\tURL\tHEADERS\tOAUTH CLIENT\tSOURCE\tCREATED")
		for _, s := range servers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n",
				cell(s.Name), cell(s.URL), list(s.Headers), oauthClientCell(s), cell(s.Source), timestamp(s.CreatedAt))
		}
		return tw.Flush()
	}
	return cmd
}

func newServerGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show one upstream server",
		Args:  exactArgs("NAME"),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		s, err := c.GetServer(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if *out == jsonOutput {
			return writeJSON(cmd.OutOrStdout(), s)
		}
		return printServer(cmd.OutOrStdout(), s)
	}
	return cmd
}

// oauthClientCell is the OAUTH CLIENT column: the client id, and its auth
// method when one is set.
func oauthClientCell(s adminapi.Server) string {
	if s.OAuthAuthMethod == "" {
		return cell(s.OAuthClientID)
	}
	return cell(s.OAuthClientID) + " (" + cell(s.OAuthAuthMethod) + ")"
}

func printServer(w io.Writer, s adminapi.Server) error {
	secret := "not set"
	if s.HasOAuthClientSecret {
		secret = "set"
	}
	secretLabel := "OAuth client secret"
	if s.OAuthAuthMethod == "private_key_jwt" {
		secretLabel = "OAuth private key"
	}
	method := s.OAuthAuthMethod
	if method == "" && s.OAuthClientID != "" {
		method = "from the authorization server's metadata"
	}
	scopes := cell(strings.Join(s.OAuthScopes, " "))
	if len(s.OAuthScopes) == 0 {
		scopes = "discovered"
	}
	tw := table(w)
	fmt.Fprintf(tw, "Name:\t%s\n", cell(s.Name))
	fmt.Fprintf(tw, "URL:\t%s\n", cell(s.URL))
	fmt.Fprintf(tw, "Headers:\t%s\n", list(s.Headers))
	fmt.Fprintf(tw, "OAuth client id:\t%s\n", cell(s.OAuthClientID))
	fmt.Fprintf(tw, "%s:\t%s\n", secretLabel, secret)
	fmt.Fprintf(tw, "OAuth auth method:\t%s\n", cell(method))
	fmt.Fprintf(tw, "OAuth scopes:\t%s\n", scopes)
	fmt.Fprintf(tw, "Source:\t%s\n", cell(s.Source))
	fmt.Fprintf(tw, "Created:\t%s\n", timestamp(s.CreatedAt))
	fmt.Fprintf(tw, "Updated:\t%s\n", timestamp(s.UpdatedAt))
	return tw.Flush()
}

func newServerRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"rm"},
		Short:   "Remove an upstream server",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAdminClient()
			if err != nil {
				return err
			}
			if err := c.DeleteServer(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed server %s.\n", cell(args[0]))
			return nil
		},
	}
}
