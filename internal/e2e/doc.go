// Package e2e holds end-to-end tests in which real MCP clients — the Go SDK
// client, the TypeScript SDK client (e2e/node/ts-client.mjs) and mcp-remote —
// reach real upstream MCP servers (the Go SDK conformance everything-server,
// stateful and stateless) through a real mcpgate process, with grants made
// through the admin API. The helpers that start those processes are in
// internal/e2e/gatewaytest.
//
// The Node.js clients need node >= 20 and npm; the tests run `npm ci` in
// e2e/node once when node_modules is missing or stale. Without node, npm or
// the gateway binary the tests fail under CI=true and are skipped elsewhere.
package e2e
