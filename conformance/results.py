#!/usr/bin/env python3
"""Reads MCP conformance suite results (the per-scenario checks.json files the
suite writes with -o DIR) for scripts/conformance.sh. Standard library only.

  results.py check   OUTDIR EXPECTED.yml [--direct]
  results.py compare LABEL DIRECT_OUTDIR TARGET_OUTDIR
  results.py counts  OUTDIR

check: the suite's own exit code only covers *scored* scenarios when it runs
with --requirements (scenarios the requirement set lists as not_scored --
extensions, pending, added-after-release -- never affect it, and its
--expected-failures file is applied to scored scenarios only). Those unscored
scenarios mostly pass against the reference server, and a gateway must not
break them either. So this check looks at every scenario that ran:

  - a scenario fails when any of its checks has status FAILURE (WARNINGs are
    left to the suite, which counts them for scored scenarios when given
    --expected-failures, as scripts/conformance.sh always does);
  - it must fail only if EXPECTED.yml lists it under `not_scored:` (failures
    that happen against the upstream directly too) or, unless --direct, under
    `server:` (the suite's own expected-failures key: known gateway gaps);
  - a scenario listed under `not_scored:` that ran and passed is stale, like
    the suite's own stale-baseline rule, so the list cannot silently rot.

Prints one verdict line and exits 1 on unexpected failures or stale entries.
"""

import glob
import json
import os
import re
import sys

TS = re.compile(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


def load_results(outdir):
    """Returns {scenario: [checks]} from OUTDIR/*/checks.json.

    Directories are named <side>-<scenario>-<timestamp>; a scenario that ran
    more than once keeps its last run."""
    res = {}
    for path in sorted(glob.glob(os.path.join(outdir, "*", "checks.json"))):
        name = os.path.basename(os.path.dirname(path))
        name = TS.sub("", name)
        if name.startswith("server-"):
            name = name[len("server-"):]
        try:
            with open(path) as f:
                checks = json.load(f)
        except (OSError, ValueError) as e:
            checks = [{"id": "unreadable", "status": "FAILURE", "errorMessage": str(e)}]
        res[name] = checks
    return res


def counts(checks):
    p = sum(1 for c in checks if c.get("status") == "SUCCESS")
    f = sum(1 for c in checks if c.get("status") == "FAILURE")
    w = sum(1 for c in checks if c.get("status") == "WARNING")
    return p, f, w


def failing(checks):
    return any(c.get("status") == "FAILURE" for c in checks)


def load_expected(path):
    """Minimal reader for the expected-failures files in this directory:
    top-level `key:` (or `key: []`) followed by `  - item` lines; # comments."""
    out = {}
    key = None
    with open(path) as f:
        for raw in f:
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip():
                continue
            m = re.match(r"^([A-Za-z_][\w-]*):\s*(\[\s*\])?\s*$", line)
            if m:
                key = m.group(1)
                out.setdefault(key, [])
                continue
            m = re.match(r"^\s+-\s+(\S+)\s*$", line)
            if m and key is not None:
                out[key].append(m.group(1).strip("'\""))
                continue
            sys.exit("%s: cannot parse line: %r" % (path, raw.rstrip("\n")))
    return out


def cmd_check(outdir, expected_path, direct):
    res = load_results(outdir)
    if not res:
        print("  results: no scenario results in %s" % outdir)
        return 1
    exp = load_expected(expected_path)
    not_scored = set(exp.get("not_scored", []))
    allowed = set(not_scored)
    if not direct:
        # `server:` entries may name a scenario and check (`scenario:check-id`).
        allowed |= {e.split(":", 1)[0] for e in exp.get("server", [])}
    fails = {s for s, cs in res.items() if failing(cs)}
    unexpected = sorted(fails - allowed)
    stale = sorted(s for s in not_scored if s in res and s not in fails)
    expected = sorted(fails & allowed)
    ok = not unexpected and not stale
    print("  results: %d scenarios ran, %d failing: %d expected, %d unexpected; %d stale entries"
          % (len(res), len(fails), len(expected), len(unexpected), len(stale)))
    for s in unexpected:
        p, f, w = counts(res[s])
        first = next(c for c in res[s] if c.get("status") == "FAILURE")
        print("  UNEXPECTED FAILURE %s (%d passed, %d failed): [%s] %s"
              % (s, p, f, first.get("id"), (first.get("errorMessage") or "")[:300]))
    for s in stale:
        print("  STALE: %s is listed under not_scored in %s but passed: remove it"
              % (s, expected_path))
    return 0 if ok else 1


def cmd_compare(label, direct_dir, target_dir):
    d, t = load_results(direct_dir), load_results(target_dir)
    diff = []
    for s in sorted(set(d) | set(t)):
        dc, tc = d.get(s), t.get(s)
        dv = counts(dc) if dc is not None else None
        tv = counts(tc) if tc is not None else None
        if dv != tv:
            fmt = lambda v: "did not run" if v is None else "%d passed, %d failed, %d warnings" % v
            diff.append("  %-48s direct: %-34s target: %s" % (s, fmt(dv), fmt(tv)))
    if diff:
        print("%s: scenarios whose results differ from the direct run:" % label)
        print("\n".join(diff))
    else:
        print("%s: every scenario's checks match the direct run" % label)
    return 0


def cmd_counts(outdir):
    res = load_results(outdir)
    tot = [0, 0, 0]
    for cs in res.values():
        for i, v in enumerate(counts(cs)):
            tot[i] += v
    nfail = sum(1 for cs in res.values() if failing(cs))
    print("%d scenarios (%d failing), %d checks passed, %d failed" % (len(res), nfail, tot[0], tot[1]))
    return 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "check":
        return cmd_check(argv[1], argv[2], "--direct" in argv[3:])
    if len(argv) == 4 and argv[0] == "compare":
        return cmd_compare(argv[1], argv[2], argv[3])
    if len(argv) == 2 and argv[0] == "counts":
        return cmd_counts(argv[1])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
