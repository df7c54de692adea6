package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// connectFunc opens an MCP client session to the scenario's server through
// the gateway (with the grant as bearer token).
type connectFunc func(ctx context.Context, opts *mcp.ClientOptions) (*mcp.ClientSession, error)

// scenario drives one conformance scenario as an MCP client. It mirrors the
// Go SDK's own conformance/everything-client, with one difference: it talks
// to the gateway, which holds the upstream authorization. An error the
// gateway reports as "authorize the upstream first" (see authWatch)
// makes main authorize and run the scenario again.
type scenario func(ctx context.Context, connect connectFunc, cc map[string]any) error

var scenarios = map[string]scenario{
	"initialize":                          listTools,
	"tools_call":                          toolsCall,
	"request-metadata":                    connectOnly,
	"elicitation-sep1034-client-defaults": elicitationDefaults,
	"sse-retry":                           sseRetry,
	"json-schema-ref-no-deref":            jsonSchemaRefNoDeref,
	"json-schema-2020-12-preservation":    jsonSchemaPreservation,
	"sep-2322-client-request-state":       mrtr,
	"http-standard-headers":               httpStandardHeaders,
	"http-custom-headers":                 httpCustomHeaders,
	"http-invalid-tool-headers":           httpInvalidToolHeaders,
}

// authScenarios use a protected server with one tool, test-tool. Who
// authorizes, and how, is the gateway's business: the client only lists and
// calls.
var authScenarios = []string{
	"auth/metadata-default",
	"auth/metadata-var1",
	"auth/metadata-var2",
	"auth/metadata-var3",
	"auth/basic-cimd",
	"auth/scope-from-www-authenticate",
	"auth/scope-from-scopes-supported",
	"auth/scope-omitted-when-undefined",
	"auth/scope-step-up",
	"auth/scope-retry-limit",
	"auth/token-endpoint-auth-basic",
	"auth/token-endpoint-auth-post",
	"auth/token-endpoint-auth-none",
	"auth/pre-registration",
	"auth/2025-03-26-oauth-metadata-backcompat",
	"auth/2025-03-26-oauth-endpoint-fallback",
	"auth/resource-mismatch",
	"auth/offline-access-scope",
	"auth/offline-access-not-supported",
	"auth/authorization-server-migration",
	"auth/iss-supported",
	"auth/iss-not-advertised",
	"auth/iss-supported-missing",
	"auth/iss-wrong-issuer",
	"auth/iss-unexpected",
	"auth/iss-normalized",
	"auth/metadata-issuer-mismatch",
	// Extensions.
	"auth/client-credentials-jwt",
	"auth/client-credentials-basic",
	"auth/enterprise-managed-authorization",
	"auth/dpop",
	"auth/dpop-nonce",
	"auth/wif-jwt-bearer",
	// conformance 0.1.16's name for enterprise-managed authorization.
	"auth/cross-app-access-complete-flow",
}

func init() {
	for _, name := range authScenarios {
		scenarios[name] = authClient
	}
}

func scenarioNames() []string {
	var out []string
	for name := range scenarios {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func connectOnly(ctx context.Context, connect connectFunc, _ map[string]any) error {
	s, err := connect(ctx, nil)
	if err != nil {
		return err
	}
	return s.Close()
}

func listTools(ctx context.Context, connect connectFunc, _ map[string]any) error {
	s, err := connect(ctx, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.ListTools(ctx, nil); err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	return nil
}

// callListed lists the tools, checks that name is among them and calls it.
func callListed(ctx context.Context, s *mcp.ClientSession, name string, args map[string]any) (*mcp.ListToolsResult, error) {
	tools, err := s.ListTools(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("tools/list: %w", err)
	}
	if !slices.ContainsFunc(tools.Tools, func(t *mcp.Tool) bool { return t.Name == name }) {
		return tools, fmt.Errorf("tool %q not listed", name)
	}
	if _, err := s.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args}); err != nil {
		return tools, fmt.Errorf("tools/call %s: %w", name, err)
	}
	return tools, nil
}

func toolsCall(ctx context.Context, connect connectFunc, _ map[string]any) error {
	s, err := connect(ctx, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = callListed(ctx, s, "add_numbers", map[string]any{"a": 5, "b": 3})
	return err
}

func authClient(ctx context.Context, connect connectFunc, _ map[string]any) error {
	s, err := connect(ctx, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = callListed(ctx, s, "test-tool", map[string]any{})
	return err
}

func elicitationDefaults(ctx context.Context, connect connectFunc, _ map[string]any) error {
	s, err := connect(ctx, &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			// Accept with no content: the server fills in its defaults.
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{}}, nil
		},
	})
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = callListed(ctx, s, "test_client_elicitation_defaults", map[string]any{})
	return err
}

// sseRetry calls a tool whose SSE stream the server closes early; the client
// must reconnect after the server's retry interval (through the gateway).
// The suite scores that interval by wall-clock time, so the scenario starts
// once its siblings are done (see waitAlone).
func sseRetry(ctx context.Context, connect connectFunc, _ map[string]any) error {
	waitAlone(ctx, 45*time.Second)
	s, err := connect(ctx, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = callListed(ctx, s, "test_reconnection", map[string]any{})
	return err
}

// jsonSchemaRefNoDeref lists tools; the referee records any fetch of the
// canary $ref URL (which neither the gateway nor the client may make).
func jsonSchemaRefNoDeref(ctx context.Context, connect connectFunc, _ map[string]any) error {
	s, err := connect(ctx, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	_, _ = s.ListTools(ctx, nil)
	return nil
}

// jsonSchemaPreservation echoes the focal tool's inputSchema, as received
// through the gateway, back to the referee.
func jsonSchemaPreservation(ctx context.Context, connect connectFunc, _ map[string]any) error {
	s, err := connect(ctx, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	tools, err := s.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	i := slices.IndexFunc(tools.Tools, func(t *mcp.Tool) bool { return t.Name == "json_schema_2020_12_tool" })
	if i < 0 {
		return fmt.Errorf("tool json_schema_2020_12_tool not listed")
	}
	if _, err := s.CallTool(ctx, &mcp.CallToolParams{
		Name:      "json_schema_echo",
		Arguments: map[string]any{"schema": tools.Tools[i].InputSchema},
	}); err != nil {
		return fmt.Errorf("tools/call json_schema_echo: %w", err)
	}
	return nil
}

// mrtr drives SEP-2322 multi-round-trip requests: the SDK answers the
// embedded elicitation and echoes requestState; some calls are meant to be
// rejected locally.
func mrtr(ctx context.Context, connect connectFunc, _ map[string]any) error {
	s, err := connect(ctx, &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{}},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirmed": true}}, nil
		},
	})
	if err != nil {
		return err
	}
	defer s.Close()
	for _, name := range []string{"test_mrtr_echo_state", "test_mrtr_no_state", "test_mrtr_unrelated", "test_mrtr_no_result_type"} {
		if _, err := s.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{}}); err != nil {
			logf("tools/call %s rejected (expected for some): %v", name, err)
		}
	}
	return nil
}

// httpStandardHeaders uses tools, resources and prompts once each so the
// referee sees Mcp-Method / Mcp-Name on every kind of request.
func httpStandardHeaders(ctx context.Context, connect connectFunc, _ map[string]any) error {
	s, err := connect(ctx, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	if tools, err := s.ListTools(ctx, nil); err == nil && len(tools.Tools) > 0 {
		_, _ = s.CallTool(ctx, &mcp.CallToolParams{Name: tools.Tools[0].Name, Arguments: map[string]any{}})
	}
	if res, err := s.ListResources(ctx, nil); err == nil && len(res.Resources) > 0 {
		_, _ = s.ReadResource(ctx, &mcp.ReadResourceParams{URI: res.Resources[0].URI})
	}
	if prompts, err := s.ListPrompts(ctx, nil); err == nil && len(prompts.Prompts) > 0 {
		_, _ = s.GetPrompt(ctx, &mcp.GetPromptParams{Name: prompts.Prompts[0].Name, Arguments: map[string]string{}})
	}
	return nil
}

// httpCustomHeaders lists tools (so the SDK knows their x-mcp-header
// parameters) and makes the calls the referee asks for in the context.
func httpCustomHeaders(ctx context.Context, connect connectFunc, cc map[string]any) error {
	s, err := connect(ctx, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.ListTools(ctx, nil); err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	calls, _ := cc["toolCalls"].([]any)
	for _, item := range calls {
		obj, _ := item.(map[string]any)
		name, _ := obj["name"].(string)
		args, _ := obj["arguments"].(map[string]any)
		if args == nil {
			args = map[string]any{}
		}
		if _, err := s.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args}); err != nil {
			logf("tools/call %s: %v", name, err)
		}
	}
	return nil
}

// httpInvalidToolHeaders lists tools (the SDK drops those with invalid
// x-mcp-header declarations) and calls every survivor.
func httpInvalidToolHeaders(ctx context.Context, connect connectFunc, _ map[string]any) error {
	s, err := connect(ctx, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	tools, err := s.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	for _, t := range tools.Tools {
		if _, err := s.CallTool(ctx, &mcp.CallToolParams{Name: t.Name, Arguments: map[string]any{"region": "us-west1"}}); err != nil {
			logf("tools/call %s rejected: %v", t.Name, err)
		}
	}
	return nil
}
