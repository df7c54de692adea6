#!/usr/bin/env bash
# The scale-out chaos tests (issue 6) on their own, with the race detector
# and CI=true (nothing skips): three replicas on one PostgreSQL under client
# load with one killed by SIGKILL and grants revoked across replicas;
# PostgreSQL cut (restart) and silenced (partition) under load; session
# continuity across replicas; a replica with another sealing key; replicas
# migrating a fresh schema at once. Prints the numbers each test reports.
# Needs PostgreSQL on 127.0.0.1:5432 (or MCPGATE_TEST_POSTGRES_DSN); the full
# suite (scripts/test.sh) runs these tests too.
set -euo pipefail
cd "$(dirname "$0")/.."
CI=true go test -race -count=1 -timeout 10m -v \
  -run '^(TestChaosReplicas|TestPostgresOutage|TestSessionContinuityAcrossReplicas|TestReplicaWithAnotherSealKeyRefusesToStart|TestReplicasMigrateAFreshSchemaAtOnce)$' \
  ./internal/e2e/ | grep -E '^\s+chaos_[a-z0-9_]+_test\.go:[0-9]+: |^(--- |ok|FAIL|PASS)'
