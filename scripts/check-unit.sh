#!/usr/bin/env bash
# Checks packaging/systemd/sweepwatch.service: systemd-analyze verify finds
# nothing to say about it (with ExecStart pointed at the built binary), and
# its command line, with the unit's default environment, follows an EVE
# file, writes the verdicts, and on SIGTERM (as systemd stops it) saves its
# state and ends with status 0; started again, it restores that state.
#
# Usage: scripts/check-unit.sh   (after `cargo build --release`)
set -euo pipefail
cd "$(dirname "$0")/.."
unit=packaging/systemd/sweepwatch.service
bin=$PWD/target/release/sweepwatch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sed "s|/usr/local/bin/sweepwatch|$bin|" "$unit" >"$work/sweepwatch.service"
if command -v systemd-analyze >/dev/null; then
    said=$(systemd-analyze verify "$work/sweepwatch.service" 2>&1) || {
        echo "FAIL: systemd-analyze verify: $said" >&2
        exit 1
    }
    if [ -n "$said" ]; then
        echo "FAIL: systemd-analyze verify warns: $said" >&2
        exit 1
    fi
else
    echo "check-unit: skip systemd-analyze (not installed)"
fi

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
