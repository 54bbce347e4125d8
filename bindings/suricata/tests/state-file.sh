#!/usr/bin/env bash
# End-to-end test of `sweepwatch.state-file` in Suricata 7.0 or 8.0 (e2e.sh
# runs it; it also runs alone, with the same environment):
#   1. 445_scan.pcap, a slow scan (176.192.150.3 probes port 445 of 9 hosts
#      over 104 minutes), is cut in two by time between two of its targets,
#      so that no scanner flow spans the cut: Suricata ends every flow at the
#      end of each `-r` run, and a flow cut in two would be two attempts.
#      min-targets is set to the scanner's number of targets, so neither half
#      alone is a scan;
#   2. `suricata -r first.pcap`, then `-r second.pcap`, with one state file:
#      the first run reports nothing (no verdict, no final extent) and saves;
#      the second restores and reports the scanner with the counts tshark
#      gives for the whole capture, in the same sweep record as a run on the
#      whole capture (second.pcap alone, without the state, reports nothing);
#   3. a corrupt state (bytes flipped): a warning in suricata.log, detection
#      starts empty and still reports the scanner on the whole capture, and
#      the state is replaced by a good one (mode 0600, no temporary left).
#
# Usage: bindings/suricata/tests/state-file.sh
# Environment: as e2e.sh (SURICATA, SWEEPWATCH_DATA, CARGO_TARGET_DIR, KEEP).
set -euo pipefail

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
data=${SWEEPWATCH_DATA:-$(cd "$repo/.." && pwd)/shared/data}

need_tools tshark editcap python3
pcap=$data/bro-simple-scan/445_scan.pcap
scanner=176.192.150.3
[[ -f $pcap ]] || fail "$pcap not found (set SWEEPWATCH_DATA)"
[[ -f $plugin && ${SWEEPWATCH_PLUGIN_BUILT:-0} == 1 ]] || build_plugin

work=$(mktemp -d "${TMPDIR:-/tmp}/sweepwatch-state.XXXXXX")
if [[ ${KEEP:-0} == 1 ]]; then
    echo "work directory: $work"
else
    trap 'rm -rf "$work"' EXIT
fi
state=$work/state/sw.state
mkdir -p "$work/state"

echo "== state file across a restart ($(basename "$pcap") cut in two)"

# The scanner's SYNs, from the capture: "epoch target port", in time order.
tshark -n -r "$pcap" -Y "ip.src == $scanner && tcp.flags.syn == 1 && tcp.flags.ack == 0" \
    -T fields -E separator=' ' -e frame.time_epoch -e ip.dst -e tcp.dstport 2>/dev/null |
    sort -n >"$work/syns"
# Targets that answered at all, and those that accepted (SYN-ACK).
tshark -n -r "$pcap" -Y "ip.dst == $scanner && tcp" -T fields -e ip.src 2>/dev/null |
    sort -u >"$work/answered"
tshark -n -r "$pcap" -Y "ip.dst == $scanner && tcp.flags.syn == 1 && tcp.flags.ack == 1" \
    -T fields -e ip.src 2>/dev/null | sort -u >"$work/accepted"
targets=$(cut -d' ' -f2 "$work/syns" | sort -u | wc -l)
ports=$(cut -d' ' -f3 "$work/syns" | sort -un | paste -sd, -)
ports_count=$(cut -d' ' -f3 "$work/syns" | sort -u | wc -l)
probes=$(cut -d' ' -f2,3 "$work/syns" | sort -u | wc -l)
succeeded=$(wc -l <"$work/accepted")
unanswered=$((targets - $(wc -l <"$work/answered")))
failed=$((targets - succeeded))
first=$(head -1 "$work/syns" | cut -d' ' -f1)
first_seen=$(date -u -d "@${first%.*}" +%Y-%m-%dT%H:%M:%S.000000Z)
[[ $targets -ge 4 ]] || fail "$scanner probes only $targets targets in $pcap"

# The cut: at the first SYN of the target that comes after half of them, in
# the order they were first probed. Every earlier target's last SYN must come
# before it, so each flow lies in one half.
read -r cut before after < <(awk -v half=$((targets / 2)) '
    !($2 in start) { start[$2] = $1; order[++n] = $2 }
    { last[$2] = $1 }
    END {
        cut = start[order[half + 1]]
        for (i = 1; i <= half; i++) if (last[order[i]] >= cut) { print "spans"; exit }
        printf "%s %d %d\n", cut, half, n - half
    }' "$work/syns")
[[ $cut != spans ]] || fail "no cut between targets leaves every scanner flow in one half"
editcap -F pcap -B "$cut" "$pcap" "$work/first.pcap" 2>/dev/null
editcap -F pcap -A "$cut" "$pcap" "$work/second.pcap" 2>/dev/null
echo "   $scanner: $targets targets, ports $ports; cut at $cut: $before targets before, $after after"
min_targets=$targets

# configure NAME [STATE]: a configuration for $work/NAME/ with min-targets
# $min_targets, Suricata's log at level info also in NAME/suricata.log, and
# the state file STATE if given.
configure() {
    local yaml=$work/$1.yaml
    mkdir -p "$work/$1"
    render "$yaml" "[192.168.0.0/16,10.10.0.0/16]" sweepwatch no "$min_targets"
    sed -i -e 's/^  default-log-level: notice$/  default-log-level: info/' \
        -e 's/^    - console:$/    - file:\n        enabled: yes\n        filename: suricata.log\n    - console:/' \
        "$yaml"
    [[ -z ${2:-} ]] || sed -i "s|^        hash-seed: 1\$|        hash-seed: 1\n        state-file: $2|" "$yaml"
    grep -q '^        filename: suricata.log$' "$yaml" || fail "$1: no log file in $yaml"
}

# run NAME PCAP [STATE]: Suricata with the plugin on PCAP into $work/NAME/.
run() {
    configure "$1" "${3:-}"
    if ! "$suricata" -r "$2" -c "$work/$1.yaml" -l "$work/$1" -k none >"$work/$1.log" 2>&1; then
        cat "$work/$1.log" >&2
        fail "$1: suricata exited with an error"
    fi
    [[ -s $work/$1/suricata.log ]] || fail "$1: no suricata.log"
}

# sweeps NAME: the run's sweep records, one per line.
sweeps() {
    jq -c 'select(.event_type == "sweep")' "$work/$1/eve.json"
}

# The idle timeout of a slow scan (see e2e.sh).
printf 'idle_timeout_secs = 14400\n' >"$work/slow.toml"
sw_config=$work/slow.toml

run whole "$pcap"
decided=$(sweeps whole | jq -c 'select(.sweep.final == false)')
[[ $(echo "$decided" | sed '/^$/d' | wc -l) == 1 ]] ||
    fail "whole capture: expected one decided verdict, got: $(sweeps whole)"

run first "$work/first.pcap" "$state"
grep -q "no saved state at $state yet: detection starts empty" "$work/first/suricata.log" ||
    fail "first run: no message about starting empty (see $work/first/suricata.log)"
[[ -z $(sweeps first) ]] || fail "first half: sweep records: $(sweeps first)"
saved=$(grep -o "saved state to $state: .*" "$work/first/suricata.log") ||
    fail "first run: state not saved (see $work/first/suricata.log)"
echo "   first half: no verdict; $saved"
[[ $(stat -c %a "$state") == 600 ]] || fail "state file mode $(stat -c %a "$state"), not 600"
[[ $(ls "$work/state") == sw.state ]] || fail "files left beside the state: $(ls "$work/state")"
cp "$state" "$work/first.state"

run alone "$work/second.pcap"
[[ -z $(sweeps alone) ]] || fail "second half alone: sweep records: $(sweeps alone)"

run second "$work/second.pcap" "$state"
restored=$(grep -o "restored state from $state: .*" "$work/second/suricata.log") ||
    fail "second run: state not restored (see $work/second/suricata.log)"
echo "   second half: $restored"
got=$(sweeps second)
echo "$got" | sed 's/^/   verdict: /'
[[ $(echo "$got" | sed '/^$/d' | wc -l) == 1 ]] ||
    fail "second half: expected one verdict (no final extent: the scan goes on), got: ${got:-nothing}"
want=$(jq -nc --arg src "$scanner" --arg ports "$ports" --arg first_seen "$first_seen" \
    --argjson targets "$targets" --argjson ports_count "$ports_count" --argjson probes "$probes" \
    --argjson failed "$failed" --argjson succeeded "$succeeded" --argjson unanswered "$unanswered" \
    '{src: $src, kind: "port_sweep", ports: ($ports | split(",") | map(tonumber)),
      targets: $targets, ports_count: $ports_count, probes: $probes, failed: $failed,
      succeeded: $succeeded, unanswered: $unanswered, first_seen: $first_seen, final: false}')
have=$(echo "$got" | jq -c --argjson w "$want" '.sweep | with_entries(select(.key | IN($w | keys[])))')
[[ $(jq -S . <<<"$have") == "$(jq -S . <<<"$want")" ]] ||
    fail "second half: counts differ from the capture's: got $have, want $want"
[[ $(echo "$got" | jq -c 'del(.flow_id)') == "$(echo "$decided" | jq -c 'del(.flow_id)')" ]] ||
    fail "second half: the verdict differs from the whole capture's: $decided"
echo "   the counts of the whole capture (tshark): $targets targets, $probes probes, $failed failed, first seen $first_seen"

echo "== corrupt state file"
cp "$work/first.state" "$state"
python3 - "$state" <<'EOF'
import sys
# Flip every bit of 16 bytes in the middle of the shard arrays.
with open(sys.argv[1], "r+b") as f:
    data = bytearray(f.read())
    mid = len(data) // 2
    data[mid:mid + 16] = bytes(b ^ 0xFF for b in data[mid:mid + 16])
    f.seek(0)
    f.write(data)
EOF
run corrupt "$pcap" "$state"
warning=$(grep -o "state file $state not restored (.*): detection starts empty.*" "$work/corrupt/suricata.log") ||
    fail "corrupt state: no warning in suricata.log (see $work/corrupt/suricata.log)"
echo "   $warning"
grep -q "not restored (saved state refused: its checksum fails" "$work/corrupt/suricata.log" ||
    fail "corrupt state: the warning does not say the checksum fails"
[[ $(sweeps corrupt | jq -c 'select(.sweep.final == false) | del(.flow_id)') == "$(echo "$decided" | jq -c 'del(.flow_id)')" ]] ||
    fail "corrupt state: detection differs from a run without state: $(sweeps corrupt)"
[[ $(head -c 7 "$state") == SWSTATE && $(stat -c %a "$state") == 600 ]] ||
    fail "corrupt state: not replaced by a good state at shutdown"
run check "$work/second.pcap" "$state"
grep -q "restored state from $state" "$work/check/suricata.log" ||
    fail "the state saved after the corrupt one does not restore"
echo "   detection started empty and found $scanner; the state saved at shutdown restores"
echo "PASS: state file"
