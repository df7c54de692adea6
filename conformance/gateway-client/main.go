// Command gateway-client is the client under test when the official MCP
// conformance suite runs in client mode against mcpgate:
//
//	conformance client --command "gateway-client" --requirements 2026-07-28
//
// The suite starts a mock MCP server (and, for auth scenarios, a mock
// authorization server) and runs `gateway-client <server-url>` with
// MCP_CONFORMANCE_SCENARIO naming the scenario and, for some scenarios,
// MCP_CONFORMANCE_CONTEXT carrying credentials as JSON. In the gateway's
// world the OAuth client of the upstream is the gateway, not the end client,
// so this program plays the whole deployment:
//
//  1. starts mcpgate ($MCPGATE_BIN, else the mcpgate next to this program) on
//     a free loopback port with a temporary data directory, loopback egress
//     allowed, a random admin token and its own address as public URL;
//  2. registers the scenario's server, with the pre-registered OAuth client
//     from MCP_CONFORMANCE_CONTEXT when there is one (client_id plus
//     client_secret or private_key_pem);
//  3. creates a grant for user "conformance" and acts as an MCP client
//     through the gateway (Go SDK StreamableClientTransport, grant as
//     bearer), doing what the scenario expects, like the Go SDK's
//     conformance/everything-client;
//  4. authorizes lazily, as a person would: when the gateway answers that the
//     upstream needs authorization (JSON-RPC -32053 with reason
//     not_connected, reauth_required or step_up_required) it connects the
//     server through the admin API, headlessly (see connectUpstream), and
//     runs the scenario again, at most three times (the spec's step-up retry
//     limit). client-credentials scenarios connect with the
//     client_credentials grant as the server's shared connection,
//     auth/wif-jwt-bearer with the scenario's workload JWT (JWT-bearer
//     grant), and enterprise-managed authorization with the scenario's ID
//     token, the gateway being started with the scenario's identity
//     provider.
//
// Everything the suite checks about OAuth (discovery order, scopes, PKCE,
// resource indicators, iss checks, client authentication) is therefore done
// by the gateway. The program exits 0 when the scenario's client part
// succeeded, 1 otherwise, and always stops the gateway (which is also killed
// with it, should the suite kill this program first).
//
// Environment:
//
//	MCPGATE_BIN                     the mcpgate executable
//	MCPGATE_CONFORMANCE_LOG_LEVEL   the gateway's log level (default debug)
//	MCPGATE_CONFORMANCE_TIMEOUT     overall time limit (default 25s; the suite's is 30s)
//
// The gateway's log is written to standard error with the prefix [mcpgate];
// the suite keeps it in its results (stderr.txt).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxAuthorizations bounds the authorizations of one run: the first one
// plus step-ups (the spec's scope challenge handling asks clients to stop
// after a few attempts).
const maxAuthorizations = 3

func main() {
	if len(os.Args) != 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintf(os.Stderr, "usage: MCP_CONFORMANCE_SCENARIO=NAME %s <server-url>\n\nscenarios:\n  %s\n",
			os.Args[0], strings.Join(scenarioNames(), "\n  "))
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		logf("FAILED: %v", err)
		os.Exit(1)
	}
	logf("scenario done")
}

func run(serverURL string) error {
	name := os.Getenv("MCP_CONFORMANCE_SCENARIO")
	sc, ok := scenarios[name]
	if !ok {
		return fmt.Errorf("unknown scenario %q (MCP_CONFORMANCE_SCENARIO); known: %s", name, strings.Join(scenarioNames(), ", "))
	}
	var cc map[string]any
	if raw := os.Getenv("MCP_CONFORMANCE_CONTEXT"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &cc); err != nil {
			return fmt.Errorf("MCP_CONFORMANCE_CONTEXT: %w", err)
		}
	}
	limit := 25 * time.Second
	if v := os.Getenv("MCPGATE_CONFORMANCE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("MCPGATE_CONFORMANCE_TIMEOUT: %w", err)
		}
		limit = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	logf("scenario %s, server %s", name, serverURL)
	var env []string
	if idp, _ := cc["idp_token_endpoint"].(string); idp != "" {
		// Enterprise-managed authorization: the scenario's identity provider
		// is the gateway's.
		clientID, _ := cc["idp_client_id"].(string)
		env = append(env, "MCPGATE_IDP_TOKEN_ENDPOINT="+idp, "MCPGATE_IDP_CLIENT_ID="+clientID)
	}
	g, err := startGateway(ctx, os.Stderr, env)
	if err != nil {
		return err
	}
	defer g.stop()
	logf("gateway at %s", g.BaseURL)

	s := setup{
		Server:            "upstream",
		User:              "conformance",
		ClientCredentials: strings.HasPrefix(name, "auth/client-credentials-"),
	}
	switch name {
	case "auth/wif-jwt-bearer":
		s.Assertion, _ = cc["valid_jwt"].(string)
	case "auth/enterprise-managed-authorization", "auth/cross-app-access-complete-flow":
		s.IDToken, _ = cc["idp_id_token"].(string)
	}
	if err := addServer(ctx, g, s.Server, serverURL, cc); err != nil {
		return err
	}
	token, err := createGrant(ctx, g, s.User, s.Server)
	if err != nil {
		return err
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	watch := &authWatch{}
	hc := &http.Client{Transport: bearer{token: token, next: base, watch: watch}}
	endpoint := g.MCPURL(s.Server)
	connect := func(ctx context.Context, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
		c := mcp.NewClient(&mcp.Implementation{Name: "mcpgate-conformance-client", Version: "1.0.0"}, opts)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}, nil)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", endpoint, err)
		}
		return cs, nil
	}

	for authorizations := 0; ; {
		err := sc(ctx, connect, cc)
		need, ok := watch.take()
		if err == nil || !ok {
			// Done, or failed for another reason than the upstream's
			// authorization.
			return err
		}
		if authorizations == maxAuthorizations {
			return fmt.Errorf("the upstream still needs authorization (%s) after %d authorizations; giving up: %w", need.Reason, authorizations, err)
		}
		authorizations++
		logf("the gateway says the upstream needs authorization (%s): %s; authorizing (%d of at most %d)",
			need.Reason, need.Message, authorizations, maxAuthorizations)
		if err := connectUpstream(ctx, g, s); err != nil {
			return err
		}
	}
}

// bearer adds the grant token to every request to the gateway and shows
// the answers to watch.
type bearer struct {
	token string
	next  http.RoundTripper
	watch *authWatch
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := b.next.RoundTrip(r)
	if err == nil {
		b.watch.observe(resp)
	}
	return resp, err
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[gateway-client] %s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
