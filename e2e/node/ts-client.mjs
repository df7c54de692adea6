#!/usr/bin/env node
// ts-client.mjs drives the official TypeScript MCP SDK client
// (@modelcontextprotocol/sdk: Client + StreamableHTTPClientTransport) against
// one Streamable HTTP endpoint, for the end-to-end tests in internal/e2e.
//
// Usage:
//
//	MCPGATE_TOKEN=<grant token> node ts-client.mjs http://127.0.0.1:PORT/mcp/NAME
//
// The token travels in the environment, not in argv, so it never shows up in
// a process listing. When MCPGATE_TOKEN is empty no Authorization header is sent.
//
// The script reads one JSON command per line on stdin and answers each with
// exactly one JSON line on stdout, so the Go test can act between two calls of
// the same live session (for example revoke the grant, then call again):
//
//	{"op":"connect"}                                  → {serverName, protocolVersion, sessionId}
//	{"op":"listTools"}                                → {tools: [names]}
//	{"op":"setLoggingLevel","level":"info"}           → {}
//	{"op":"callTool","name":N,"arguments":{},"progress":true}
//	                                                  → the CallToolResult
//	{"op":"close"}                                    → {} and the process exits
//
// Every answer is {"ok":true,"result":…} or {"ok":false,"error":{name,message,code}},
// plus what happened meanwhile: "progress" and "logs" (notifications received,
// each with "ms", the milliseconds since the command started) and "http" (every
// HTTP response the transport saw: method, status, content type,
// WWW-Authenticate). Diagnostics go to stderr.
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const url = process.argv[2];
if (!url) {
  process.stderr.write('usage: MCPGATE_TOKEN=<token> node ts-client.mjs <url>\n');
  process.exit(2);
}
const token = process.env.MCPGATE_TOKEN ?? '';

// What the current command observed; reset when a command starts.
let started = Date.now();
let progress = [];
let logs = [];
let http = [];

// A fetch that records each response the transport receives, so the test can
// see the real status code (401 after revocation) and content type (SSE).
async function recordingFetch(input, init) {
  const res = await fetch(input, init);
  http.push({
    method: init?.method ?? 'GET',
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    wwwAuthenticate: res.headers.get('www-authenticate') ?? '',
  });
  return res;
}

const headers = token ? { Authorization: `Bearer ${token}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers },
  fetch: recordingFetch,
  // Bounded: a broken stream must not keep the test waiting.
  reconnectionOptions: {
    initialReconnectionDelay: 100,
    maxReconnectionDelay: 500,
    reconnectionDelayGrowFactor: 1.5,
    maxRetries: 2,
  },
});
transport.onerror = (err) => process.stderr.write(`transport error: ${err?.message ?? err}\n`);

const client = new Client({ name: 'mcpgate-e2e-ts-client', version: '1.0.0' });
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
  logs.push({ ms: Date.now() - started, level: n.params.level, data: n.params.data });
});

const timeout = 15000;

async function run(cmd) {
  switch (cmd.op) {
    case 'connect':
      await client.connect(transport, { timeout });
      return {
        serverName: client.getServerVersion()?.name ?? '',
        protocolVersion: transport.protocolVersion ?? '',
        sessionId: transport.sessionId ?? '',
      };
    case 'listTools': {
      const res = await client.listTools(undefined, { timeout });
      return { tools: res.tools.map((t) => t.name) };
    }
    case 'setLoggingLevel':
      await client.setLoggingLevel(cmd.level, { timeout });
      return {};
    case 'callTool': {
      const opts = { timeout };
      if (cmd.progress) {
        // Passing onprogress makes the SDK attach a progressToken.
        opts.onprogress = (p) => progress.push({ ms: Date.now() - started, ...p });
      }
      return await client.callTool({ name: cmd.name, arguments: cmd.arguments ?? {} }, undefined, opts);
    }
    case 'close':
      await client.close();
      return {};
    default:
      throw new Error(`unknown op ${JSON.stringify(cmd.op)}`);
  }
}

function describe(err) {
  return {
    name: err?.name ?? 'Error',
    message: String(err?.message ?? err),
    // StreamableHTTPError carries the HTTP status, McpError the JSON-RPC code.
    code: typeof err?.code === 'number' ? err.code : 0,
  };
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    process.stdout.write(JSON.stringify({ ok: false, error: describe(err) }) + '\n');
    continue;
  }
  started = Date.now();
  progress = [];
  logs = [];
  http = [];
  let answer;
  try {
    answer = { ok: true, result: await run(cmd) };
  } catch (err) {
    answer = { ok: false, error: describe(err) };
  }
  // Notifications that raced the response are still delivered first by the
  // SDK; give stragglers one tick.
  await new Promise((r) => setImmediate(r));
  process.stdout.write(JSON.stringify({ ...answer, ms: Date.now() - started, progress, logs, http }) + '\n');
  if (cmd.op === 'close') break;
}
process.exit(0);
