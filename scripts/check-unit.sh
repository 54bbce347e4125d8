#!/usr/bin/env bash
# Checks the systemd units in packaging/systemd: systemd-analyze verify finds
# nothing to say about either (with ExecStart pointed at the built binary),
# and each one's command line, with the unit's default environment, runs as
# systemd would run it.
#
# sweepwatch.service follows an EVE file, writes the verdicts, and on
# SIGTERM saves its state and ends with status 0; started again, it
# restores that state.
#
# sweepwatch-aggregate.service, against a NATS server of the test's own,
# writes the verdicts of a sensor that publishes the bundled capture
# (203.0.113.66's sweep of 22/tcp and scan of 192.168.56.10, as
# examples/data/README.md counts them), writes on in a new file after its
# output is renamed and it gets SIGHUP, ends with status 0 on SIGTERM, and
# started again takes every partition from the checkpoints it wrote then.
#
# Usage: scripts/check-unit.sh   (after `cargo build --release`)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/sweepwatch
work=$(mktemp -d)
nats_pid=
trap '[ -z "$nats_pid" ] || kill "$nats_pid" 2>/dev/null; rm -rf "$work"' EXIT

# verify UNIT: systemd-analyze verify is silent on it.
verify() {
    local unit=$1 name
    name=$(basename "$unit")
    sed "s|/usr/local/bin/sweepwatch|$bin|" "$unit" >"$work/$name"
    if ! command -v systemd-analyze >/dev/null; then
        echo "check-unit: skip systemd-analyze (not installed)"
        return
    fi
    said=$(systemd-analyze verify "$work/$name" 2>&1) || {
        echo "FAIL: systemd-analyze verify $name: $said" >&2
        exit 1
    }
    if [ -n "$said" ]; then
        echo "FAIL: systemd-analyze verify $name warns: $said" >&2
        exit 1
    fi
}

unit=packaging/systemd/sweepwatch.service
verify "$unit"
verify packaging/systemd/sweepwatch-aggregate.service

# The unit's command with its default environment, as systemd expands it.
opts=$(sed -n 's/^Environment="SWEEPWATCH_OPTIONS=\(.*\)"$/\1/p' "$unit")
exec_line=$(sed -n 's/^ExecStart=//p' "$unit")
[ -n "$opts" ] && [ -n "$exec_line" ] || { echo "FAIL: unit lacks ExecStart or options" >&2; exit 1; }
input=$work/eve.json
cmd=${exec_line//\$SWEEPWATCH_OPTIONS/$opts}
cmd=${cmd//\$\{SWEEPWATCH_INPUT\}/$input}
cmd=${cmd//\/usr\/local\/bin\/sweepwatch/$bin}
cmd=${cmd//\/var\/log\/sweepwatch\//$work/}
cmd=${cmd//\/var\/lib\/sweepwatch\//$work/}
# shellcheck disable=SC2086 # split as systemd splits $VAR
$cmd >"$work/stdout" 2>"$work/stderr" &
pid=$!
cp tests/data/fixtures/mixed-sS-sU-PE.eve.json "$input"
# The events are held for the default window (60 s) and fed once the input
# has been quiet that long; the verdicts follow.
for _ in $(seq 1 900); do
    [ -s "$work/verdicts.log" ] && break
    sleep 0.1
done
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
if [ "$status" -ne 0 ]; then
    echo "FAIL: the unit's command exited $status on SIGTERM: $(cat "$work/stderr")" >&2
    exit 1
fi
records=$(grep -c '"event_type":"sweep"' "$work/verdicts.log" || true)
if [ "$records" -lt 1 ]; then
    echo "FAIL: the unit's command wrote no EVE sweep records" >&2
    exit 1
fi
if [ ! -s "$work/watch.state" ]; then
    echo "FAIL: the unit's command saved no state on SIGTERM" >&2
    exit 1
fi
# Started again (without --quiet, to hear it): it restores the state and
# goes on from where it stopped, so the file's records are not read again.
# shellcheck disable=SC2086
${cmd/ --quiet/} >"$work/stdout" 2>"$work/stderr" &
pid=$!
for _ in $(seq 1 100); do
    grep -q "going on from byte" "$work/stderr" && break
    sleep 0.1
done
kill -TERM "$pid"
wait "$pid" || { echo "FAIL: the restarted command failed: $(cat "$work/stderr")" >&2; exit 1; }
if ! grep -q "state restored" "$work/stderr" || ! grep -q " 0 records" "$work/stderr"; then
    echo "FAIL: the restarted command did not go on from its state: $(cat "$work/stderr")" >&2
    exit 1
fi
again=$(grep -c '"event_type":"sweep"' "$work/verdicts.log" || true)
if [ "$again" -ne "$records" ]; then
    echo "FAIL: the restart wrote $((again - records)) more records for input already read" >&2
    exit 1
fi
echo "check-unit: systemd-analyze verify is silent; the unit's command wrote $records EVE sweep records, saved its state on SIGTERM and went on from it when started again"

# The aggregator's unit, its options as an operator sets them in
# /etc/default/sweepwatch-aggregate (a short ordering window, so that the
# check does not wait a minute for it).
unit=packaging/systemd/sweepwatch-aggregate.service
# shellcheck source=lib/nats.sh
source scripts/lib/nats.sh
start_nats "$work/nats"
opts="$(sed -n 's/^Environment="SWEEPWATCH_OPTIONS=\(.*\)"$/\1/p' "$unit") --reorder-secs 2"
exec_line=$(sed -n 's/^ExecStart=//p' "$unit")
cmd=${exec_line//\$SWEEPWATCH_OPTIONS/$opts}
cmd=${cmd//\$\{SWEEPWATCH_NATS\}/$nats_url}
cmd=${cmd//\/usr\/local\/bin\/sweepwatch/$bin}
cmd=${cmd//\/var\/log\/sweepwatch\//$work/}
log=$work/aggregate.log
# shellcheck disable=SC2086 # split as systemd splits $VAR
$cmd >"$work/agg.stdout" 2>"$work/agg.stderr" &
pid=$!
# wait_for FILE JQ: until a record of FILE passes the jq filter (60 s at most).
wait_for() {
    for _ in $(seq 1 600); do
        [ -s "$1" ] && [ -n "$(jq -c "select($2)" "$1" 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    echo "FAIL: no record with $2 in $1; the aggregator said: $(cat "$work/agg.stderr")" >&2
    exit 1
}
"$bin" detect -q --publish "$nats_url" examples/data/sample.pcap >/dev/null
wait_for "$log" '.sweep.kind == "port_sweep" and .sweep.src == "203.0.113.66" and .sweep.ports[0] == 22'
wait_for "$log" '.sweep.kind == "port_scan" and .sweep.src == "203.0.113.66" and .dest_ip == "192.168.56.10"'
# Rotated as logrotate's `create` does: renamed, then SIGHUP (ExecReload).
mv "$log" "$log.1"
kill -HUP "$pid"
"$bin" detect -q --publish "$nats_url" tests/data/fixtures/mixed-sS-sU-PE.pcap >/dev/null
wait_for "$log" '.sweep.src == "10.10.0.1"'
if [ -n "$(jq -c 'select(.sweep.src == "10.10.0.1")' "$log.1")" ] ||
    [ -n "$(jq -c 'select(.sweep.src != "10.10.0.1")' "$log")" ]; then
    echo "FAIL: after SIGHUP verdicts went to the renamed file, or old ones to the new" >&2
    exit 1
fi
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
if [ "$status" -ne 0 ] || [ -s "$work/agg.stderr" ]; then
    echo "FAIL: the aggregator's command exited $status on SIGTERM: $(cat "$work/agg.stderr")" >&2
    exit 1
fi
# Started again (without --quiet, to hear it; stopping once idle): every
# partition from its checkpoint, and no verdict written again.
before=$(jq -c 'select(.sweep.final == false)' "$log.1" "$log" | wc -l)
# shellcheck disable=SC2086
${cmd/ --quiet/} --exit-when-idle 3 >"$work/agg.stdout" 2>"$work/agg.stderr" ||
    { echo "FAIL: the restarted aggregator failed: $(cat "$work/agg.stderr")" >&2; exit 1; }
if ! grep -Eq "in 8 partition takes \(8 from checkpoints\)" "$work/agg.stderr"; then
    echo "FAIL: the restarted aggregator did not take its partitions from checkpoints: $(cat "$work/agg.stderr")" >&2
    exit 1
fi
after=$(jq -c 'select(.sweep.final == false)' "$log.1" "$log" | wc -l)
if [ "$after" -ne "$before" ]; then
    echo "FAIL: the restarted aggregator wrote $((after - before)) verdicts again" >&2
    exit 1
fi
echo "check-unit: the aggregator's unit wrote $before verdicts of two publishing sensors, wrote on in a new file after SIGHUP, stopped cleanly on SIGTERM and was taken up from its 8 checkpoints"
