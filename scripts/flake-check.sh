#!/usr/bin/env bash
# Runs the Rust test suites (the library, readers, CLI and C ABI, and the
# Suricata plugin's) N times and lists every test that failed in any run.
# Detectors built without a fixed seed draw random hash keys, so each run
# exercises other keys: a test that depends on them shows up here.
#
# Usage: scripts/flake-check.sh [N]   (default 5)
# Exit status: 0 when every run passed, 1 otherwise. Each failing run's
# output is kept in the printed directory.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [N]" >&2; exit 2; }
logs=$(mktemp -d "${TMPDIR:-/tmp}/sweepwatch-flake.XXXXXX")

# Build once, so that the runs measure only the tests.
cargo test --workspace --no-run --quiet

failed_runs=0
for ((i = 1; i <= runs; i++)); do
    log=$logs/run-$i.log
    ok=1
    cargo test --workspace --quiet >"$log" 2>&1 || ok=0
    if [[ $ok == 1 ]]; then
        rm -f "$log"
    else
        failed_runs=$((failed_runs + 1))
        # libtest lists the failed tests' names, indented, under "failures:".
        names=$(awk '/^failures:$/ { f = 1; next } f && /^    [^ ]/ { print $1; next } { f = 0 }' "$log" |
            sort -u | tr '\n' ' ')
        echo "run $i of $runs failed: ${names:-see $log} (output: $log)"
    fi
done

if [[ $failed_runs -eq 0 ]]; then
    rmdir "$logs"
    echo "flake-check: $runs passed, 0 failed"
else
    echo "flake-check: $((runs - failed_runs)) passed, $failed_runs failed (outputs in $logs)"
    exit 1
fi
