#!/usr/bin/env bash
# Judges `sweepwatch detect --json` on real captures and logs against expectations
# written from the traffic itself (scripts/eval-cases.tsv), and checks every verdict's
# counts against the raw input (scripts/evidence.py). For each expected verdict it
# also prints how many probes the source had made when it was decided (the
# verdict's `probes`), and their median and maximum over all such cases.
#
# Usage: scripts/eval.sh [CASES.tsv]
#   SWEEPWATCH=path/to/sweepwatch  binary to judge (default target/release/sweepwatch)
#   SEEDS=N  check the evidence of runs under hash seeds 1 to N (default 1; the
#            cases are judged under seed 1); each seed adds one run per file
#
# Each distinct (file, home networks) of the table is run once; its output feeds both
# the cases and the evidence check. Prints one line per case (`ok`, `WRONG` with what
# was seen, or `skip` when the file is missing), one `evidence` line per run (also
# counted as a case), the number of skipped cases, and as its last line `K/N right`.
# Exits 1 if K < N (2 on a usage error). Needs bash, python3 (stdlib) and, for pcaps,
# tshark.
set -u
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export EVAL_REPO=$repo
export EVAL_BIN=${SWEEPWATCH:-$repo/target/release/sweepwatch}
export EVAL_CASES=${1:-$repo/scripts/eval-cases.tsv}
export EVAL_EVIDENCE=$repo/scripts/evidence.py
export EVAL_SEEDS=${SEEDS:-1}
[ -f "$EVAL_CASES" ] || { echo "eval.sh: no case table $EVAL_CASES" >&2; exit 2; }
exec python3 - <<'PY'
import ipaddress, json, os, subprocess, sys

repo, binary = os.environ["EVAL_REPO"], os.environ["EVAL_BIN"]
table, evidence = os.environ["EVAL_CASES"], os.environ["EVAL_EVIDENCE"]

def die(msg):
    print(f"eval.sh: {msg}", file=sys.stderr)
    sys.exit(2)

def norm(ip):
    try:
        return ipaddress.ip_address(ip).compressed
    except ValueError:
        return ip

# ---- the table --------------------------------------------------------------
cases = []
for n, raw in enumerate(open(table, encoding="utf-8"), 1):
    line = raw.rstrip("\n")
    if not line.strip() or line.lstrip().startswith("#"):
        continue
    cols = line.split("\t")
    if len(cols) < 3:
        die(f"{table}:{n}: need FILE<TAB>HOME<TAB>EXPECTATION[<TAB>WHY]")
    path, home, expect = cols[0].strip(), cols[1].strip(), cols[2].split()
    # HOME may also carry command options, those entries that start with `--`.
    homes = tuple(h for h in home.split(",") if h and h != "-")
    ok = (expect and (
        (expect[0] == "silent-all" and len(expect) == 1)
        or (expect[0] in ("silent", "silent-others") and len(expect) in (2, 3))
        or (expect[0] not in ("silent", "silent-all", "silent-others") and len(expect) in (5, 6))))
    if ok and len(expect) >= 5 and not (expect[2] == "-" or expect[2].isdigit()):
        ok = False
    if not ok:
        die(f"{table}:{n}: bad expectation {cols[2]!r}")
    cases.append({"line": n, "path": path, "homes": homes, "expect": expect,
                  "desc": f"{path} [{home or '-'}] {cols[2].strip()}"})

def resolve(path):
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(repo, path))

# ---- one detector run per (file, home networks) -------------------------------
def detect(path, homes, seed):
    # A fixed seed: estimates above 64 and evictions repeat run to run.
    cmd = [binary, "detect", "--json", "-q", "--seed", str(seed)]
    for h in homes:
        cmd += [h] if h.startswith("--") else ["--home-net", h]
    cmd.append(resolve(path))
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        out, err, rc = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"), p.returncode
    except (OSError, subprocess.TimeoutExpired) as e:
        out, err, rc = "", str(e), -1
    verdicts, error = [], None
    if rc != 0:
        tail = [l for l in err.strip().splitlines() if not l.startswith("DBG")][-2:]
        error = f"detector exited {rc}: " + " / ".join(tail)
    for l in out.splitlines():
        if not l.strip():
            continue
        try:
            v = json.loads(l)
            v["src"] = norm(v["src"])
            verdicts.append(v)
        except (ValueError, KeyError, TypeError):
            error = error or f"unparseable output line: {l[:100]}"
    return {"out": out, "verdicts": verdicts, "error": error}

seeds = range(1, int(os.environ["EVAL_SEEDS"]) + 1)
runs = {}
for c in cases:
    key = (c["path"], c["homes"])
    if key in runs or not os.path.exists(resolve(c["path"])):
        continue
    runs[key] = detect(c["path"], c["homes"], 1)

# ---- judging ----------------------------------------------------------------
def brief(v):
    ports = ",".join(str(p) for p in (v.get("ports") or [])[:8])
    s = f"{v.get('kind')}/{v.get('direction')}/{v.get('proto')}"
    s += f"/{v.get('technique', '(no technique)')} ports[{ports}]"
    return s + (" final" if v.get("final") else "")

def seen(vs, limit=4):
    if not vs:
        return "nothing"
    parts, out = {}, []
    for v in vs:
        k = (v["src"], brief(v))
        parts[k] = parts.get(k, 0) + 1
    for (src, b), cnt in list(parts.items())[:limit]:
        out.append(f"{src} {b}" + (f" x{cnt}" if cnt > 1 else ""))
    more = len(parts) - limit
    return "; ".join(out) + (f"; +{more} more shapes" if more > 0 else "")

def judge(c, verdicts):
    e = c["expect"]
    if e[0] == "silent-all":
        return (not verdicts), f"{len(verdicts)} verdicts: " + seen(verdicts)
    if e[0] in ("silent", "silent-others"):
        host = norm(e[1])
        proto = e[2] if len(e) == 3 else None
        if e[0] == "silent":
            bad = [v for v in verdicts if v["src"] == host]
        else:
            bad = [v for v in verdicts if v["src"] != host]
        if proto:
            bad = [v for v in bad if v.get("proto") == proto]
        return (not bad), seen(bad)
    src, kind, port, direction, proto = norm(e[0]), e[1], e[2], e[3], e[4]
    tech = e[5] if len(e) == 6 else "-"
    live = [v for v in verdicts if not v.get("final")]
    for v in live:
        if v["src"] != src or v.get("kind") != kind or v.get("direction") != direction or v.get("proto") != proto:
            continue
        if port != "-" and int(port) not in (v.get("ports") or []):
            continue
        if tech != "-" and v.get("technique") != tech:
            continue
        return True, v.get("probes")
    mine = [v for v in verdicts if v["src"] == src]
    mine.sort(key=lambda v: (v.get("proto") != proto, v.get("kind") != kind, v.get("direction") != direction))
    if not mine:
        others = len({v["src"] for v in verdicts})
        return False, f"no verdict from {src} ({len(verdicts)} verdicts from {others} other sources)"
    nf = sum(1 for v in mine if v.get("final"))
    return False, seen(mine, 6) + (f" ({nf} of them final)" if nf else "")

right = total = skipped = 0
to_decide = []
for c in cases:
    key = (c["path"], c["homes"])
    if key not in runs:
        skipped += 1
        print(f"skip  {c['desc']} (file missing)")
        continue
    total += 1
    r = runs[key]
    if r["error"]:
        ok, what = False, r["error"]
    else:
        ok, what = judge(c, r["verdicts"])
    right += ok
    note = ""
    if ok and isinstance(what, int):
        to_decide.append(what)
        note = f"  (decided at {what} probes)"
    print(("ok    " if ok else "WRONG ") + c["desc"] + (note if ok else f"  -- seen: {what}"))

# ---- evidence: one more case per run and seed ------------------------------
# No tolerance: every count of every verdict is at most what the file holds.
for ((path, homes), first), seed in ((item, seed) for item in runs.items() for seed in seeds):
    r = first if seed == 1 else detect(path, homes, seed)
    total += 1
    desc = f"evidence {path} [{','.join(homes) or '-'}]" + (f" seed {seed}" if len(seeds) > 1 else "")
    if r["error"]:
        print(f"WRONG {desc}  -- {r['error']}")
        continue
    cmd = [sys.executable, evidence, "--strict"]
    for h in homes:
        if not h.startswith("--"):
            cmd += ["--home-net", h]
    p = subprocess.run(cmd + [resolve(path)], input=r["out"].encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = p.stdout.decode(errors="replace").splitlines()
    bad = [l for l in lines if l.startswith("VIOLATION")]
    if p.returncode == 0:
        right += 1
        print(f"ok    {desc}: {len(r['verdicts'])} verdicts within the raw counts")
    else:
        why = f"{len(bad)} of {len(r['verdicts'])} verdicts fail the evidence check" if bad else \
              "evidence.py failed: " + (p.stderr.decode(errors="replace").strip() or f"exit {p.returncode}")
        print(f"WRONG {desc}  -- {why}")
        for l in bad:
            print(f"        {l}")

if to_decide:
    d = sorted(to_decide)
    mid = len(d) // 2
    median = d[mid] if len(d) % 2 else (d[mid - 1] + d[mid]) / 2
    print(f"probes to decide: median {median}, max {d[-1]} over {len(d)} expected verdicts")
print(f"skipped: {skipped} cases whose file is missing (not counted)")
print(f"{right}/{total} right")
sys.exit(0 if right == total else 1)
PY
