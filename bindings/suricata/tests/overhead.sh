#!/usr/bin/env bash
# Measures what the plugin adds to `suricata -r` on a synthetic capture of
# 1.2 million TCP packets (tests/gen-capture.py), in three configurations run
# alternately in the same invocation:
#   regular      the built-in EVE file type
#   passthrough  the plugin with `sweepwatch.enabled: no` (records only)
#   sweepwatch   the plugin with detection
# and prints a Markdown table of wall-clock (median and fastest) and CPU
# seconds. On a shared machine the fastest run is the least disturbed one.
#
# With INSTRUCTIONS=1 it runs each configuration once under callgrind instead
# and prints the instructions each executed, all threads together: a count
# that, unlike time on a shared machine, varies by about 1% between runs.
# Use a smaller capture for that (PACKETS=120000 takes about a minute a run).
#
# Usage: bindings/suricata/tests/overhead.sh
# Environment: RUNS (default 5), PACKETS (default 1200000), CAPTURE (default
# /tmp/sweepwatch-overhead.pcap, or /tmp/sweepwatch-overhead-PACKETS.pcap for
# another PACKETS; generated if absent), INSTRUCTIONS=1, KEEP=1 keeps the work
# directory, plus those of e2e.sh.
set -euo pipefail

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
runs=${RUNS:-5}
packets=${PACKETS:-1200000}
default_capture=/tmp/sweepwatch-overhead.pcap
[[ $packets == 1200000 ]] || default_capture=/tmp/sweepwatch-overhead-$packets.pcap
capture=${CAPTURE:-$default_capture}
instructions=${INSTRUCTIONS:-0}

need_tools python3
[[ -x /usr/bin/time ]] || fail "/usr/bin/time is not installed"
if [[ $instructions == 1 ]]; then
    command -v valgrind >/dev/null || fail "valgrind is not installed"
    # callgrind must start the binary itself, not a wrapper such as
    # scripts/suricata8 (whose chroot has no valgrind).
    [[ $(head -c 4 "$(command -v "$suricata")") == $'\x7fELF' ]] ||
        fail "INSTRUCTIONS=1 needs a Suricata binary, not a wrapper: $suricata"
    runs=1
fi
build_plugin

if [[ ! -f $capture ]]; then
    echo "== generating $capture"
    python3 "$here/gen-capture.py" "$capture" "$packets"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sweepwatch-overhead.XXXXXX")
if [[ ${KEEP:-0} == 1 ]]; then
    echo "work directory: $work"
else
    trap 'rm -rf "$work"' EXIT
fi

# Ordinary flow timeouts (30 s) here: flows end during the capture, as live.
configs=(regular passthrough sweepwatch)
render "$work/regular.yaml" "[10.0.0.0/8]" regular no 5 30
render "$work/passthrough.yaml" "[10.0.0.0/8]" sweepwatch no 5 30 no
render "$work/sweepwatch.yaml" "[10.0.0.0/8]" sweepwatch no 5 30 yes

if [[ $instructions == 1 ]]; then
    echo "== each configuration once under callgrind on $capture"
    echo
    echo "| configuration | instructions | vs regular | EVE lines | verdicts |"
    echo "|---|---|---|---|---|"
    base=
    for c in "${configs[@]}"; do
        out=$work/$c
        mkdir -p "$out"
        valgrind --tool=callgrind --callgrind-out-file="$out.cg" \
            "$suricata" -r "$capture" -c "$work/$c.yaml" -l "$out" -k none >"$out.log" 2>&1 ||
            { cat "$out.log" >&2; fail "$c failed under callgrind"; }
        n=$(sed -nE 's/.*Collected : ([0-9]+).*/\1/p' "$out.log")
        [[ -n $n ]] || fail "no instruction count in $out.log"
        base=${base:-$n}
        printf '| %s | %s | %+.1f%% | %s | %s |\n' "$c" "$n" "$(echo "($n / $base - 1) * 100" | bc -l)" \
            "$(wc -l <"$out/eve.json")" "$(grep -c '"event_type":"sweep"' "$out/eve.json" || true)"
    done
    echo
    echo "Suricata: $("$suricata" -V 2>&1 | head -1); capture: $(basename "$capture"), $(stat -c %s "$capture") bytes"
    exit 0
fi

echo "== $runs runs of each configuration on $capture"
for ((i = 1; i <= runs; i++)); do
    for c in "${configs[@]}"; do
        out=$work/$c.$i
        mkdir -p "$out"
        /usr/bin/time -f '%e %U %S' -o "$out.time" \
            "$suricata" -r "$capture" -c "$work/$c.yaml" -l "$out" -k none >"$out.log" 2>&1 ||
            { cat "$out.log" >&2; fail "$c run $i failed"; }
        read -r wall user sys <"$out.time"
        records=$(wc -l <"$out/eve.json")
        sweeps=$(grep -c '"event_type":"sweep"' "$out/eve.json" || true)
        echo "   $c run $i: ${wall}s wall, $(echo "$user + $sys" | bc)s CPU, $records records, $sweeps verdicts"
        echo "$wall $(echo "$user + $sys" | bc) $records $sweeps" >>"$work/$c.results"
        rm -rf "$out"
    done
done

median() {
    sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

minimum() {
    sort -n | head -1
}

base_wall=$(cut -d' ' -f1 "$work/regular.results" | median)
base_cpu=$(cut -d' ' -f2 "$work/regular.results" | median)
base_min=$(cut -d' ' -f1 "$work/regular.results" | minimum)
echo
echo "| configuration | wall s, median of $runs | vs regular | wall s, fastest | vs regular | CPU s (user+sys), median | vs regular | EVE lines | verdicts |"
echo "|---|---|---|---|---|---|---|---|---|"
for c in "${configs[@]}"; do
    wall=$(cut -d' ' -f1 "$work/$c.results" | median)
    fastest=$(cut -d' ' -f1 "$work/$c.results" | minimum)
    cpu=$(cut -d' ' -f2 "$work/$c.results" | median)
    records=$(cut -d' ' -f3 "$work/$c.results" | sort -n | tail -1)
    sweeps=$(cut -d' ' -f4 "$work/$c.results" | sort -n | tail -1)
    printf '| %s | %.2f | %+.1f%% | %.2f | %+.1f%% | %.2f | %+.1f%% | %s | %s |\n' "$c" \
        "$wall" "$(echo "($wall / $base_wall - 1) * 100" | bc -l)" \
        "$fastest" "$(echo "($fastest / $base_min - 1) * 100" | bc -l)" \
        "$cpu" "$(echo "($cpu / $base_cpu - 1) * 100" | bc -l)" "$records" "$sweeps"
done
echo
echo "Suricata: $("$suricata" -V 2>&1 | head -1); CPUs: $(nproc); capture: $(basename "$capture")," \
    "$(stat -c %s "$capture") bytes"
