// Package oauthtest provides in-process fakes of whole services for tests of
// mcpgate's upstream OAuth 2.1 client: an authorization server ([AuthServer])
// and an OAuth-protected MCP server ([ProtectedMCPServer]).
//
// Both run on loopback httptest servers that are closed on t.Cleanup. Their
// purpose is to be strict and adversarial where real providers are: the
// authorization server requires PKCE S256, binds codes to redirect_uri and
// resource, rotates refresh tokens on every refresh, detects refresh-token
// reuse and then revokes the whole token family, and lets a test inject
// failures at runtime (error statuses, latency, responses lost after the
// rotation already happened). Counters ([AuthServer.Stats],
// [AuthServer.RefreshesPerGeneration]) let a test assert properties such as
// "exactly one refresh per token generation".
//
// The protected MCP server is built on the Go SDK (mcp.NewServer and
// mcp.NewStreamableHTTPHandler) and validates bearer tokens against an
// AuthServer: 401 with a resource_metadata challenge, RFC 9728 protected
// resource metadata, audience (resource) binding, and an HTTP 403
// insufficient_scope challenge for the admin_action tool.
//
// Nothing here is meant for production: JWT handling is deliberately minimal
// (ES256 client assertions only) and all state is in memory.
package oauthtest
