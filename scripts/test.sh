#!/usr/bin/env bash
# The full test suite: vet, unit and integration tests with the race detector
# (SQLite and PostgreSQL stores, real MCP clients), then the MCP conformance
# suite through the gateway. Installs what it needs (npm packages, a running
# PostgreSQL) and may be run on a fresh machine as it is.
# With CI=true nothing is skipped: a missing PostgreSQL or Node.js fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "PostgreSQL on 127.0.0.1:5432"
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && break; sleep 1; done
  fi
fi
if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then echo "reachable"; else echo "NOT reachable: PostgreSQL tests will fail on CI and skip loudly elsewhere"; fi

step "Node.js packages for the real-client tests"
if [ -f e2e/node/package-lock.json ]; then
  (cd e2e/node && npm ci --no-audit --no-fund --loglevel=error)
fi

step "go vet"
go vet ./...

step "go test -race"
go test -race -count=1 -timeout 15m ./...

step "benchmarks (brief run: they must work; numbers are in BENCHMARKS.md)"
go test -run '^$' -bench . -benchtime 20x -count=1 ./... >/dev/null

step "MCP conformance suite through the gateway (server mode)"
scripts/conformance.sh

step "MCP conformance suite through the gateway (client mode: the gateway as OAuth client)"
scripts/conformance-client.sh
