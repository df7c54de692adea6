#!/usr/bin/env bash
# Runs the official MCP conformance suite (server side) through mcpgate and
# checks that the gateway is transparent: the result must equal the suite run
# directly against the same upstream.
#
#   suite --> tokenproxy --> mcpgate /mcp/<server> --> Go SDK everything-server
#
# Server-mode conformance sends no credentials, so conformance/tokenproxy sits in
# front of the gateway and adds `Authorization: Bearer <grant token>` to every
# request (Host and all other headers untouched, responses flushed immediately).
#
# Three runs, each first directly against the upstream (the baseline), then
# through the gateway:
#   0.1.16                      conformance@0.1.16, active suite      stateful upstream
#   2025-11-25                  conformance@0.2.0-alpha.12 --requirements 2025-11-25   stateful
#   2026-07-28                  conformance@0.2.0-alpha.12 --requirements 2026-07-28   stateless
# A run passes when the suite exits 0 with --expected-failures
# conformance/expected-failures/server-<run>.yml (scored scenarios) and
# conformance/results.py finds no unexpected failure among the unscored ones
# (see conformance/README.md). Exits non-zero on any failure.
#
# Usage: scripts/conformance.sh [--direct] [--no-baseline] [--only RUN]... [--out DIR] [--keep]
#   --direct       skip the gateway: the tokenproxy points straight at the upstream
#                  (tests the plumbing; the target results must then equal the baseline)
#   --no-baseline  skip the direct baseline runs
#   --only RUN     run only RUN (0.1.16, 2025-11-25 or 2026-07-28); repeatable
#   --out DIR      keep logs and the suite's per-scenario results in DIR
#   --keep         keep the temporary directory (logs, results) and print its path
# Environment: MCPGATE_BIN=path  use this gateway binary instead of building ./cmd/mcpgate
#
# Needs go, node/npx (npx fetches node@22 and the suite), python3 and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SUITE_OLD="@modelcontextprotocol/conformance@0.1.16"
SUITE_NEW="@modelcontextprotocol/conformance@0.2.0-alpha.12"
ALL_RUNS=(0.1.16 2025-11-25 2026-07-28)

direct_only=false baseline=true keep=false out="" runs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --direct) direct_only=true ;;
    --no-baseline) baseline=false ;;
    --only) shift; runs+=("${1:?--only needs a run name}") ;;
    --out) shift; out="${1:?--out needs a directory}" ;;
    --keep) keep=true ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ ${#runs[@]} -gt 0 ] || runs=("${ALL_RUNS[@]}")
for r in "${runs[@]}"; do
  case " ${ALL_RUNS[*]} " in *" $r "*) ;; *) echo "unknown run: $r (want one of: ${ALL_RUNS[*]})" >&2; exit 2 ;; esac
done

for tool in go npx python3 curl; do
  command -v "$tool" >/dev/null || { echo "conformance: $tool is required" >&2; exit 1; }
done
TIMEOUT=""
if command -v timeout >/dev/null; then TIMEOUT="timeout 900"; fi

T0=$SECONDS
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcpgate-conformance.XXXXXX")
BIN=$TMP/bin LOGS=$TMP/logs
RES=${out:-$TMP/results}
mkdir -p "$BIN" "$LOGS" "$RES"
PIDS=()

cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$out" ]; then
    rm -rf "$RES/logs"; cp -r "$LOGS" "$RES/logs" 2>/dev/null || true
  fi
  if $keep; then
    echo "conformance: kept $TMP"
  else
    rm -rf "$TMP"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n==> %s\n' "$*"; }

# start NAME CMD...: runs CMD in the background, output in $LOGS/NAME.log.
start() {
  local name=$1; shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  PIDS+=($!)
}

# free_ports N: N distinct free TCP ports on 127.0.0.1.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# wait_http NAME URL [WANT]: waits up to 30 s until URL answers (with status
# WANT if given, any HTTP status otherwise).
wait_http() {
  local name=$1 url=$2 want=${3:-} code
  for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    if [ "$code" != "000" ] && { [ -z "$want" ] || [ "$code" = "$want" ]; }; then
      return 0
    fi
    sleep 0.1
  done
  echo "conformance: $name did not become ready at $url (last status $code); log:" >&2
  tail -n 40 "$LOGS/$name.log" >&2 || true
  exit 1
}

say "building"
go build -o "$BIN/everything-server" github.com/modelcontextprotocol/go-sdk/conformance/everything-server
go build -o "$BIN/tokenproxy" ./conformance/tokenproxy
if ! $direct_only; then
  if [ -n "${MCPGATE_BIN:-}" ]; then
    cp "$MCPGATE_BIN" "$BIN/mcpgate"
  else
    go build -o "$BIN/mcpgate" ./cmd/mcpgate
  fi
fi

read -r P_STATEFUL P_STATELESS P_GW P_TP_STATEFUL P_TP_STATELESS <<<"$(free_ports 5)"

say "starting the upstreams (Go SDK everything-server)"
start upstream-stateful "$BIN/everything-server" -http "127.0.0.1:$P_STATEFUL" -stateless=false
start upstream-stateless "$BIN/everything-server" -http "127.0.0.1:$P_STATELESS"
# The everything-server answers on any path; a GET without a session gets a 4xx.
wait_http upstream-stateful "http://127.0.0.1:$P_STATEFUL/mcp"
wait_http upstream-stateless "http://127.0.0.1:$P_STATELESS/mcp"
UP_STATEFUL=http://127.0.0.1:$P_STATEFUL/mcp
UP_STATELESS=http://127.0.0.1:$P_STATELESS/mcp
echo "stateful  $UP_STATEFUL"
echo "stateless $UP_STATELESS"

TOKEN_FILE=$TMP/grant-token
(umask 077; : >"$TOKEN_FILE")
if $direct_only; then
  say "direct mode: tokenproxy -> upstream (no gateway)"
  echo "not-a-real-token" >"$TOKEN_FILE"
  start tokenproxy-stateful "$BIN/tokenproxy" -listen "127.0.0.1:$P_TP_STATEFUL" -target "http://127.0.0.1:$P_STATEFUL" -token-file "$TOKEN_FILE" -v
  start tokenproxy-stateless "$BIN/tokenproxy" -listen "127.0.0.1:$P_TP_STATELESS" -target "http://127.0.0.1:$P_STATELESS" -token-file "$TOKEN_FILE" -v
  TARGET_STATEFUL=http://127.0.0.1:$P_TP_STATEFUL/mcp
  TARGET_STATELESS=http://127.0.0.1:$P_TP_STATELESS/mcp
  TARGET_NAME="via tokenproxy"
else
  say "starting mcpgate"
  GW=http://127.0.0.1:$P_GW
  ADMIN_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
  export MCPGATE_URL=$GW MCPGATE_ADMIN_TOKEN=$ADMIN_TOKEN
  MCPGATE_EGRESS_ALLOW=127.0.0.0/8 MCPGATE_PUBLIC_URL=$GW \
    start gateway "$BIN/mcpgate" serve --addr "127.0.0.1:$P_GW" --data-dir "$TMP/gateway-data"
  wait_http gateway "$GW/readyz" 200
  "$BIN/mcpgate" server add everything-stateful --url "$UP_STATEFUL" >"$LOGS/server-add-stateful.log" 2>&1 ||
    { cat "$LOGS/server-add-stateful.log" >&2; exit 1; }
  "$BIN/mcpgate" server add everything-stateless --url "$UP_STATELESS" >"$LOGS/server-add-stateless.log" 2>&1 ||
    { cat "$LOGS/server-add-stateless.log" >&2; exit 1; }
  "$BIN/mcpgate" grant create --user conformance --server everything-stateful --server everything-stateless \
    --name conformance -o json 2>"$LOGS/grant-create.log" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])' >"$TOKEN_FILE" ||
    { echo "conformance: grant create failed:" >&2; cat "$LOGS/grant-create.log" >&2; exit 1; }
  echo "gateway   $GW (servers everything-stateful, everything-stateless; grant for user conformance)"
  # Both tokenproxies target the gateway; two listeners keep the logs apart.
  start tokenproxy-stateful "$BIN/tokenproxy" -listen "127.0.0.1:$P_TP_STATEFUL" -target "$GW" -token-file "$TOKEN_FILE" -v
  start tokenproxy-stateless "$BIN/tokenproxy" -listen "127.0.0.1:$P_TP_STATELESS" -target "$GW" -token-file "$TOKEN_FILE" -v
  TARGET_STATEFUL=http://127.0.0.1:$P_TP_STATEFUL/mcp/everything-stateful
  TARGET_STATELESS=http://127.0.0.1:$P_TP_STATELESS/mcp/everything-stateless
  TARGET_NAME="via gateway"
fi
wait_http tokenproxy-stateful "http://127.0.0.1:$P_TP_STATEFUL/"
wait_http tokenproxy-stateless "http://127.0.0.1:$P_TP_STATELESS/"
echo "target    $TARGET_STATEFUL"
echo "target    $TARGET_STATELESS"

# suite RUN SIDE URL: runs the suite once; prints its summary; returns 0 if it passed.
suite() {
  local run=$1 side=$2 url=$3 pkg args=() rc=0 crc=0 ef
  local dir=$RES/$run/$side log=$RES/$run/$side.log
  ef=$ROOT/conformance/expected-failures/server-$run.yml
  case "$run" in
    0.1.16) pkg=$SUITE_OLD ;;
    *) pkg=$SUITE_NEW; args=(--requirements "$run") ;;
  esac
  # The direct baseline must pass with no expected failures at all.
  [ "$side" = direct ] || args+=(--expected-failures "$ef")
  rm -rf "$dir"; mkdir -p "$dir"
  local t=$SECONDS
  # A hung scenario times out after 30 s inside the suite; this caps a whole run.
  $TIMEOUT npx -y -p node@22 -p "$pkg" -- conformance server --url "$url" "${args[@]}" -o "$dir" >"$log" 2>&1 || rc=$?
  if [ "$side" = direct ]; then
    python3 "$ROOT/conformance/results.py" check "$dir" "$ef" --direct >"$log.check" || crc=$?
  else
    python3 "$ROOT/conformance/results.py" check "$dir" "$ef" >"$log.check" || crc=$?
  fi
  local verdict=PASS
  [ $rc -eq 0 ] && [ $crc -eq 0 ] || verdict=FAIL
  printf -- '--- %s, %s: %s (suite exit %d, %ds)\n' "$run" "$side" "$verdict" "$rc" $((SECONDS - t))
  # The summary minus its passing lines, then the suite's verdict lines.
  sed -n '/=== SUMMARY ===/,$p' "$log" | sed 's/\x1b\[[0-9;]*m//g' | grep -v '^✓ ' | grep -v '^=== SUMMARY' | grep -v '^$' || true
  cat "$log.check"
  if [ "$verdict" = FAIL ] && ! grep -q '=== SUMMARY ===' "$log"; then
    echo "  (no summary; last lines of $log:)"; tail -n 20 "$log"
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$run" "$side" "$verdict" \
    "$(grep -m1 '^Total:' "$log" | sed 's/^Total: //' || echo 'no total')" \
    "$(sed -n 's/^  results: [0-9]* scenarios ran, //p' "$log.check")" >>"$RES/verdicts"
  [ "$verdict" = PASS ]
}

failed=()
: >"$RES/verdicts"
for run in "${runs[@]}"; do
  case "$run" in
    2026-07-28) up=$UP_STATELESS target=$TARGET_STATELESS ;;
    *) up=$UP_STATEFUL target=$TARGET_STATEFUL ;;
  esac
  say "conformance $run"
  if $baseline; then
    suite "$run" direct "$up" || failed+=("$run direct (baseline: environment problem?)")
  fi
  if $direct_only; then side=tokenproxy; else side=gateway; fi
  suite "$run" "$side" "$target" || failed+=("$run $TARGET_NAME")
  if $baseline; then
    python3 "$ROOT/conformance/results.py" compare "$run" "$RES/$run/direct" "$RES/$run/$side"
  fi
done

say "summary ($((SECONDS - T0))s)"
printf '%-11s %-10s %-5s %-28s %s\n' run side ok "suite Total (all checks)" "failing scenarios (results.py)"
while IFS=$'\t' read -r run side verdict total scen; do
  printf '%-11s %-10s %-5s %-28s %s\n' "$run" "$side" "$verdict" "$total" "$scen"
done <"$RES/verdicts"

if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "FAILED: ${failed[*]}"
  if ! $direct_only; then
    echo
    echo "--- last 60 lines of the gateway log ($LOGS/gateway.log) ---"
    tail -n 60 "$LOGS/gateway.log" || true
  fi
  [ -n "$out" ] && echo "logs and per-scenario results: $RES"
  exit 1
fi
echo
echo "conformance: all runs passed"
