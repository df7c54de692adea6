#!/usr/bin/env bash
# Runs the official MCP conformance suite in client mode against mcpgate.
#
# In client mode the suite starts mock MCP servers (and authorization servers)
# and runs a client program against each. Here that program is
# conformance/gateway-client: it starts mcpgate with the scenario's server as
# upstream, lets the gateway authorize at it (the gateway is the upstream's
# OAuth client: discovery, registration, PKCE, scopes, iss checks, client
# credentials), and acts as an MCP client through the gateway. See the
# package comment of conformance/gateway-client.
#
# Three runs:
#   2025-11-25   conformance@0.2.0-alpha.12 --requirements 2025-11-25
#   2026-07-28   conformance@0.2.0-alpha.12 --requirements 2026-07-28
#   0.1.16       conformance@0.1.16 --suite all
# each with --expected-failures conformance/expected-failures/client-<run>.yml.
# The suite's exit code covers the scenarios it scores (under --requirements
# only the required ones); the extension scenarios it runs without scoring
# (client credentials, DPoP, enterprise-managed authorization, ...) are checked
# here against the same file's `not_scored:` list: each must pass unless
# listed, and a listed one that passes is stale. A run fails on any
# unexpected failure or stale entry; the script exits non-zero if a run
# failed.
#
# Usage: scripts/conformance-client.sh [--only RUN]... [--out DIR] [--keep]
#   --only RUN   run only RUN (2025-11-25, 2026-07-28 or 0.1.16); repeatable
#   --out DIR    keep the suite's per-scenario results and logs in DIR
#   --keep       keep the temporary directory and print its path
# Environment: MCPGATE_BIN=path  use this gateway binary instead of building ./cmd/mcpgate
#
# Needs go, node/npx (npx fetches node@22 and the suite) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SUITE_OLD="@modelcontextprotocol/conformance@0.1.16"
SUITE_NEW="@modelcontextprotocol/conformance@0.2.0-alpha.12"
ALL_RUNS=(2025-11-25 2026-07-28 0.1.16)

keep=false out="" runs=()
while [ $# -gt 0 ]; do
  case "$1" in
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

for tool in go npx python3; do
  command -v "$tool" >/dev/null || { echo "conformance-client: $tool is required" >&2; exit 1; }
done
TIMEOUT=""
if command -v timeout >/dev/null; then TIMEOUT="timeout 600"; fi

T0=$SECONDS
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcpgate-conformance-client.XXXXXX")
BIN=$TMP/bin
RES=${out:-$TMP/results}
mkdir -p "$BIN" "$RES"

cleanup() {
  local rc=$?
  if $keep; then echo "conformance-client: kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n==> %s\n' "$*"; }

say "building"
if [ -n "${MCPGATE_BIN:-}" ]; then
  cp "$MCPGATE_BIN" "$BIN/mcpgate"
else
  go build -o "$BIN/mcpgate" ./cmd/mcpgate
fi
go build -o "$BIN/gateway-client" ./conformance/gateway-client
# The adapter finds the gateway through MCPGATE_BIN (or next to itself).
export MCPGATE_BIN=$BIN/mcpgate
# The suite runs every scenario at once, each with its own gateway: on a
# loaded 2-core machine one can take well over the suite's default 30 s.
# The adapter's own limit stays below the suite's, so that it still stops
# its gateway and says what it was waiting for.
SUITE_TIMEOUT_MS=90000
export MCPGATE_CONFORMANCE_TIMEOUT=80s

# check_unscored DIR EXPECTED.yml SCORED...: the suite ignores scenarios a
# requirement set does not score, both for its exit code and for
# --expected-failures. Each of them that ran must pass unless EXPECTED.yml
# lists it under not_scored:, and a listed one that passed is stale.
check_unscored() {
  python3 - "$@" <<'EOF'
import glob, json, os, re, sys

outdir, expected_path, scored = sys.argv[1], sys.argv[2], set(sys.argv[3:])
ts = re.compile(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$")
results = {}
for path in sorted(glob.glob(os.path.join(outdir, "**", "checks.json"), recursive=True)):
    name = ts.sub("", os.path.relpath(os.path.dirname(path), outdir))
    with open(path) as f:
        results[name] = json.load(f)

listed, key = [], None
with open(expected_path) as f:
    for raw in f:
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        m = re.match(r"^([A-Za-z_][\w-]*):", line)
        if m:
            key = m.group(1)
            continue
        m = re.match(r"^\s+-\s+(\S+)\s*$", line)
        if m and key == "not_scored":
            listed.append(m.group(1))

bad = lambda checks: any(c.get("status") in ("FAILURE", "WARNING") for c in checks)
unscored = sorted(n for n in results if n not in scored)
unexpected = [n for n in unscored if bad(results[n]) and n not in listed]
stale = [n for n in listed if n in results and not bad(results[n])]
for n in unscored:
    mark = "✗" if bad(results[n]) else "✓"
    note = " (expected failure)" if n in listed and bad(results[n]) else ""
    print(f"  {mark} {n}{note}")
for n in unexpected:
    print(f"  UNEXPECTED FAILURE (not listed under not_scored:): {n}")
for n in stale:
    print(f"  STALE not_scored entry (now passing, remove it): {n}")
print(f"  unscored: {len(unscored)} ran, {sum(bad(results[n]) for n in unscored)} failing, "
      f"{len(unexpected)} unexpected, {len(stale)} stale")
sys.exit(1 if unexpected or stale else 0)
EOF
}

# explain_failures DIR: every failing or warning check with its message, so
# that a failed run says why without its result files.
explain_failures() {
  python3 - "$1" <<'EOF'
import glob, json, os, re, sys
ts = re.compile(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$")
for path in sorted(glob.glob(os.path.join(sys.argv[1], "**", "checks.json"), recursive=True)):
    name = ts.sub("", os.path.relpath(os.path.dirname(path), sys.argv[1]))
    for c in json.load(open(path)):
        if c.get("status") in ("FAILURE", "WARNING"):
            print(f"  {name}: {c['status']} {c.get('id')}: "
                  f"{c.get('errorMessage') or c.get('description', '')}")
    # The adapter says why it gave up, if it did.
    err = os.path.join(os.path.dirname(path), "stderr.txt")
    if os.path.exists(err):
        for line in open(err, errors="replace"):
            if line.startswith("[gateway-client]") and "FAILED:" in line:
                print(f"  {name}: adapter {line.strip()[:300]}")
EOF
}

# scored_scenarios REVISION: the client scenarios the requirement set scores.
scored_scenarios() {
  npx -y -p node@22 -p "$SUITE_NEW" -- conformance list --requirements "$1" 2>/dev/null |
    sed -n '/^Client scenarios/,/^$/p' | sed -n 's/^  - //p'
}

failed=()
: >"$RES/verdicts"
for run in "${runs[@]}"; do
  say "conformance client $run"
  ef=$ROOT/conformance/expected-failures/client-$run.yml
  dir=$RES/$run log=$RES/$run.log
  rm -rf "$dir"; mkdir -p "$dir"
  case "$run" in
    0.1.16) pkg=$SUITE_OLD args=(--suite all) ;;
    *) pkg=$SUITE_NEW args=(--requirements "$run") ;;
  esac
  t=$SECONDS rc=0 crc=0
  $TIMEOUT npx -y -p node@22 -p "$pkg" -- conformance client --command "$BIN/gateway-client" \
    "${args[@]}" --timeout "$SUITE_TIMEOUT_MS" --expected-failures "$ef" -o "$dir" >"$log" 2>&1 || rc=$?
  # The suite's summary and baseline verdict (stdout), without colours.
  sed -n '/=== SUITE SUMMARY ===/,$p' "$log" | sed 's/\x1b\[[0-9;]*m//g' | grep -v '^=== SUITE SUMMARY' | grep -v '^$' || true
  if ! grep -q '=== SUITE SUMMARY ===' "$log"; then
    echo "  (no summary; last lines of $log:)"; tail -n 30 "$log"
  fi
  if [ "$run" != 0.1.16 ]; then
    echo "unscored scenarios (checked here against not_scored: in $(basename "$ef")):"
    # shellcheck disable=SC2046
    check_unscored "$dir" "$ef" $(scored_scenarios "$run") || crc=$?
  fi
  verdict=PASS
  [ $rc -eq 0 ] && [ $crc -eq 0 ] || verdict=FAIL
  [ "$verdict" = PASS ] || explain_failures "$dir" | tee "$RES/$run.failures"
  printf -- '--- %s: %s (suite exit %d, %ds)\n' "$run" "$verdict" "$rc" $((SECONDS - t))
  printf '%s\t%s\t%s\n' "$run" "$verdict" "$(grep -m1 '^Total:' "$log" | sed 's/\x1b\[[0-9;]*m//g; s/^Total: //' || echo 'no total')" >>"$RES/verdicts"
  [ "$verdict" = PASS ] || failed+=("$run")
done

say "summary ($((SECONDS - T0))s)"
printf '%-11s %-5s %s\n' run ok "suite Total (all checks)"
while IFS=$'\t' read -r run verdict total; do
  printf '%-11s %-5s %s\n' "$run" "$verdict" "$total"
done <"$RES/verdicts"

if [ ${#failed[@]} -gt 0 ]; then
  # Once more at the end, where a CI log's tail shows it.
  for run in "${failed[@]}"; do
    echo "failing in $run:"; head -n 12 "$RES/$run.failures"
  done
  echo
  echo "FAILED: ${failed[*]} (per-scenario results and the adapter's and gateway's logs: stderr.txt under $RES/<run>/)"
  [ -n "$out" ] || echo "rerun with --out DIR (or --keep) to keep them"
  exit 1
fi
echo
echo "conformance-client: all runs passed"
