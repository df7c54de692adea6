package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate"
)

// clientConfig is what every client's snippet is made of.
type clientConfig struct {
	name  string // the server's name in the gateway, and the entry's name in the client
	url   string // BASE/mcp/NAME
	token string // the grant token
}

// clientRenderers write the configuration of each supported client, following
// how each takes a remote server with a bearer token.
var clientRenderers = map[string]func(io.Writer, clientConfig) error{
	"claude-code": renderClaudeCode,
	"codex":       renderCodex,
	"cursor":      renderCursor,
	"vscode":      renderVSCode,
}

// clientNames are clientRenderers' keys, sorted, for help and messages.
var clientNames = slices.Sorted(maps.Keys(clientRenderers))

func newClientConfigCmd() *cobra.Command {
	var client, server, token, base string
	cmd := &cobra.Command{
		Use:   "client-config --client CLIENT --server NAME --token TOKEN",
		Short: "Print ready-to-paste configuration for an MCP client",
		Long: `Print the configuration that points an MCP client at one server through the
gateway, authenticated with a grant token. It needs no running gateway.

The server URL is BASE/mcp/NAME, where BASE is --url, else MCPGATE_PUBLIC_URL,
else MCPGATE_URL, else ` + defaultURL + `.`,
		Example: `  mcpgate grant create --user ann --server github -o json | jq -r .token |
    mcpgate client-config --client claude-code --server github --token -`,
		Args: exactArgs(),
	}
	fl := cmd.Flags()
	fl.StringVar(&client, "client", "", "the client: "+strings.Join(clientNames, ", ")+"; required")
	fl.StringVar(&server, "server", "", "the server's name in the gateway; required")
	fl.StringVar(&token, "token", "", `the grant token, or "-" to read it from standard input; required`)
	fl.StringVar(&base, "url", "", "the gateway's public base URL")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "client", "server", "token"); err != nil {
			return err
		}
		if err := oneOf("client", client, clientNames); err != nil {
			return err
		}
		if err := mcpgate.ValidateServerName(server); err != nil {
			return usageError{fmt.Errorf("--server: %w", err)}
		}
		if token == "-" {
			// One line, so a token pasted at a terminal needs no Ctrl-D.
			line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read token from standard input: %w", err)
			}
			token = strings.TrimSpace(line)
		}
		if err := mcpgate.ParseGrantToken(token); err != nil {
			return usageError{fmt.Errorf("--token is not a grant token as printed by 'mcpgate grant create' (%s…): %w", mcpgate.GrantTokenPrefix, err)}
		}
		if base == "" {
			base = publicURL()
		}
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return usagef("gateway URL %q: want an absolute http(s) URL such as https://mcpgate.example.com", base)
		}
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s is plain http: the token would cross the network unencrypted\n", base)
		}
		cfg := clientConfig{name: server, url: strings.TrimRight(base, "/") + "/mcp/" + server, token: token}
		return clientRenderers[client](cmd.OutOrStdout(), cfg)
	}
	return cmd
}

// publicURL is the gateway's base URL as clients see it.
func publicURL() string {
	if v := os.Getenv("MCPGATE_PUBLIC_URL"); v != "" {
		return v
	}
	return gatewayURL()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// jsonServer is one server entry in the JSON configuration files.
type jsonServer struct {
	Type    string            `json:"type,omitempty"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// jsonSnippet renders {"<key>": {"<name>": entry}}.
func jsonSnippet(key string, c clientConfig, typ string) (string, error) {
	var b bytes.Buffer
	entry := jsonServer{Type: typ, URL: c.url, Headers: map[string]string{"Authorization": "Bearer " + c.token}}
	if err := writeJSON(&b, map[string]map[string]jsonServer{key: {c.name: entry}}); err != nil {
		return "", err
	}
	return b.String(), nil
}

func renderClaudeCode(w io.Writer, c clientConfig) error {
	snippet, err := jsonSnippet("mcpServers", c, "http")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, `# Claude Code: add the server with the CLI
claude mcp add --transport http %s %s --header %s

# or put this in .mcp.json at the project root (merge into "mcpServers" if the
# file exists; it holds the token, so keep it out of version control):
%s`, shellQuote(c.name), shellQuote(c.url), shellQuote("Authorization: Bearer "+c.token), snippet)
	return err
}

func renderCursor(w io.Writer, c clientConfig) error {
	snippet, err := jsonSnippet("mcpServers", c, "")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, `# Cursor: put this in .cursor/mcp.json (this project) or ~/.cursor/mcp.json
# (all projects); merge into "mcpServers" if the file exists. It holds the
# token, so keep it out of version control.
%s`, snippet)
	return err
}

func renderVSCode(w io.Writer, c clientConfig) error {
	snippet, err := jsonSnippet("servers", c, "http")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, `# VS Code: put this in .vscode/mcp.json (merge into "servers" if the file
# exists). It holds the token, so keep it out of version control.
%s`, snippet)
	return err
}

// renderCodex points Codex at an environment variable: it rejects an inline
// bearer token in config.toml.
func renderCodex(w io.Writer, c clientConfig) error {
	name := codexName(c.name)
	envVar := "MCPGATE_TOKEN_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	_, err := fmt.Fprintf(w, `# Codex reads the token from an environment variable; set it where Codex runs
# (for example in your shell profile):
export %s=%s

# then add the server with the CLI
codex mcp add %s --url %s --bearer-token-env-var %s

# or put this in ~/.codex/config.toml:
[mcp_servers.%s]
url = %s
bearer_token_env_var = %s
`, envVar, shellQuote(c.token),
		name, shellQuote(c.url), envVar,
		name, tomlString(c.url), tomlString(envVar))
	return err
}

// codexName maps a gateway server name to one Codex accepts (letters,
// digits, '-' and '_'); gateway names may also hold '.'.
func codexName(name string) string {
	return strings.ReplaceAll(name, ".", "_")
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r))
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// tomlString is s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
