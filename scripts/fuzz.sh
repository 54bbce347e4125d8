#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ for a while each.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 30; the targets default to all of them
# (pcap sniff zeek argus netflow eve config plugin_record). Seed corpora are made afresh
# under fuzz/corpus/<target>/ from tests/data/fixtures and, when present,
# ../shared/data (small files whole, prefixes of larger ones); what the
# fuzzer adds there is kept between runs (fuzz/corpus is not committed).
#
# Works on the stable toolchain: cargo fuzz passes -Z flags, which
# RUSTC_BOOTSTRAP=1 allows. Builds with AddressSanitizer, optimisations, and
# debug assertions and overflow checks on. Installs cargo-fuzz if missing.
#
# Exits non-zero if any target crashed (panic, failed invariant, sanitizer
# report, out-of-memory, or an input slower than $FUZZ_TIMEOUT seconds, 10 by
# default) and prints each crashing input's path (fuzz/artifacts/<target>/)
# and how to reproduce it. Logs: fuzz/target/fuzz-logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

secs=${1:-30}
[ $# -gt 0 ] && shift
case $secs in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
    ;;
esac
all_targets=(pcap sniff zeek argus netflow eve config plugin_record)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    [ -f "fuzz/fuzz_targets/$t.rs" ] || {
        echo "unknown target: $t (have: ${all_targets[*]})" >&2
        exit 2
    }
done
timeout_secs=${FUZZ_TIMEOUT:-10}

export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

data=$root/tests/data/fixtures
shared=$root/../shared/data
corpus=$root/fuzz/corpus
logs=$root/fuzz/target/fuzz-logs
mkdir -p "$logs"
KB=1024
MAX_SEED=$((1024 * KB)) # files up to this size are seeds whole

# `seed DIR NAME FILE [LINES]`: FILE (or its first LINES lines; or, if it is
# over MAX_SEED, its first 64 KiB, cut at a line end for text) as DIR/NAME.
seed() {
    local dir=$1 name=$2 file=$3 lines=${4:-}
    [ -f "$file" ] || return 0
    mkdir -p "$dir"
    if [ -n "$lines" ]; then
        head -n "$lines" "$file" >"$dir/$name"
    elif [ "$(stat -c %s "$file")" -le $MAX_SEED ]; then
        cp "$file" "$dir/$name"
    elif grep -Iq . "$file"; then
        head -c $((64 * KB)) "$file" | sed '$d' >"$dir/$name"
    else
        head -c $((64 * KB)) "$file" >"$dir/$name"
    fi
}

# `to_pcapng IN OUT`: the capture IN rewritten as pcapng.
to_pcapng() {
    if command -v editcap >/dev/null; then
        editcap -F pcapng "$1" "$2" 2>/dev/null && return 0
    fi
    command -v python3 >/dev/null || return 0
    python3 - "$1" "$2" <<'EOF'
import struct, sys
src = open(sys.argv[1], "rb").read()
magic = src[:4]
if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
    e = "<"
elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
    e = ">"
else:
    sys.exit(0)
nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
snap, link = struct.unpack(e + "II", src[16:24])
def block(kind, body):
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack("<II", kind, n) + body + struct.pack("<I", n)
out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
opts = b""
if nano:  # if_tsresol = 9
    opts = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)
out += block(1, struct.pack("<HHI", link & 0xFFFF, 0, snap) + opts)
i = 24
while i + 16 <= len(src):
    sec, frac, incl, orig = struct.unpack(e + "IIII", src[i:i + 16])
    pkt = src[i + 16:i + 16 + incl]
    i += 16 + incl
    ts = sec * (10**9 if nano else 10**6) + frac
    out += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(pkt), orig) + pkt)
open(sys.argv[2], "wb").write(out)
EOF
}

# `with_mode BYTE FILE OUT`: FILE behind the sniff target's mode byte
# (00: as it is; 01: the target gzips it first).
with_mode() {
    { printf "\\x$1"; cat "$2"; } >"$3"
}

make_config_seeds() {
    local d=$corpus/config
    mkdir -p "$d"
    # The full example of the README.
    sed -n '/^```toml$/,/^```$/p' README.md | sed '1d;$d' >"$d/readme.toml"
    [ -s "$d/readme.toml" ] || rm -f "$d/readme.toml"
    printf '' >"$d/empty.toml"
    cat >"$d/small.toml" <<'EOF'
home_networks = ["192.0.2.0/24", "2001:db8::/32"]
min_targets = 8
allow = ["198.51.100.7", { net = "203.0.113.0/28", ports = [161, 162] }]
memory_bytes = 262144
shards = 2
hash_seed = 42
EOF
    cat >"$d/tuned.toml" <<'EOF'
# Slow scanners on a small network
home_networks = ["10.1.0.0/16"]
ignore_ports = [123, 5353]
ignore_networks = ["224.0.0.0/4", "255.255.255.255/32", "ff00::/8", "10.1.255.0/24"]
reply_ports = [53, 123, 1900]
theta0 = 0.9
theta1 = 0.05
detection_probability = 0.999
false_alarm_probability = 0.001
idle_timeout_secs = 7200
suspect_timeout_secs = 172800
dedup_secs = 600
suppress_secs = 86400
memory_bytes = 1048576
shards = 8
EOF
    cat >"$d/allow-tables.toml" <<'EOF'
home_networks = ["0.0.0.0/0", "::/0"]

[[allow]]
net = "192.0.2.10/32"
ports = [22, 443]

[[allow]]
net = "fd00::/8"
EOF
    cat >"$d/bad-field.toml" <<'EOF'
theta1 = 0.9
memory_bytes = 1024
unknown_key = "x"
EOF
    cat >"$d/bad-values.toml" <<'EOF'
home_networks = ["192.168.1.0/33", "not-a-net"]
min_targets = 0
shards = 0
theta0 = nan
EOF
}

make_seeds() {
    local t=$1 d=$corpus/$1 f n
    mkdir -p "$d"
    case $t in
    pcap)
        for f in "$data"/*.pcap "$root"/examples/data/*.pcap \
            "$shared"/bro-simple-scan/*.pcap "$shared"/bro-simple-scan/*.trace \
            "$shared"/slips/*.pcap; do
            [ -f "$f" ] || continue
            n=$(basename "$f")
            seed "$d" "$n" "$f"
            to_pcapng "$d/$n" "$d/$n.pcapng"
        done
        ;;
    sniff)
        local tmp=$d/.tmp
        mkdir -p "$tmp"
        for f in "$data"/stealth-fin-sweep.pcap "$data"/midstream-tcp.pcap \
            "$shared"/bro-simple-scan/port_scan.pcap "$shared"/slips/test12-icmp-portscan.pcap; do
            [ -f "$f" ] || continue
            n=$(basename "$f")
            cp "$f" "$tmp/$n"
            to_pcapng "$f" "$tmp/$n.pcapng"
        done
        seed "$tmp" fin-sweep.eve.json "$data"/stealth-fin-sweep.eve.json 40
        seed "$tmp" dns-replies.eve.json "$data"/dns-replies.eve.json 40
        seed "$tmp" horizontal.conn.log "$shared"/slips/port-scans-horizontal/conn.log 60
        seed "$tmp" vertical.conn.log "$shared"/slips/port-scans-vertical/conn.log 40
        seed "$tmp" normal42.conn.log "$shared"/ctu-normal/normal42-day2.conn.log 60
        printf '\xef\xbb\xbf{"event_type":"flow"}\n' >"$tmp/bom.eve.json"
        printf '\n\n  \n' >"$tmp/blank"
        for f in "$tmp"/*; do
            n=$(basename "$f")
            with_mode 00 "$f" "$d/$n"
            with_mode 01 "$f" "$d/$n.wrap"
            gzip -9nc "$f" >"$tmp/gz"
            with_mode 00 "$tmp/gz" "$d/$n.gz"
        done
        # Two gzip members, one after the other.
        { gzip -nc "$tmp/fin-sweep.eve.json"; gzip -nc "$tmp/dns-replies.eve.json"; } >"$tmp/gz2" 2>/dev/null &&
            with_mode 00 "$tmp/gz2" "$d/two-members.gz"
        rm -rf "$tmp"
        ;;
    zeek)
        seed "$d" horizontal.conn.log "$shared"/slips/port-scans-horizontal/conn.log
        seed "$d" vertical.conn.log "$shared"/slips/port-scans-vertical/conn.log
        seed "$d" vertical-head.conn.log "$shared"/slips/port-scans-vertical/conn.log 20
        seed "$d" normal42-head.conn.log "$shared"/ctu-normal/normal42-day2.conn.log 40
        seed "$d" normal43-head.conn.log "$shared"/ctu-normal/normal43-day1.conn.log 400
        printf '#separator \\x09\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state\thistory\n1700000000.5\t10.0.0.1\t50000\t10.0.0.2\t22\ttcp\tREJ\tSr\n1700000001.5\t2001:db8::1\t50001\t2001:db8::2\t53\tudp\tS0\tD\n' \
            >"$d/minimal.conn.log"
        ;;
    argus)
        seed "$d" test4-head.binetflow "$shared"/slips/test4-malicious.binetflow 60
        printf 'StartTime,Flgs,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,TotPkts,TotBytes,State\n07:20:48.736994, e        ,tcp,203.0.113.66,44925,   ->,192.168.56.11,ssh,2,112,RST\n07:20:49.1, e        ,icmp,192.168.56.1,0x0003,   ->,203.0.113.66,0x0001,2,140,URH\n' \
            >"$d/ra-default.csv"
        printf 'StartTime,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,SrcPkts,DstPkts\n1700000000.5,tcp,10.0.0.1,50000,   ->,10.0.0.2,22,S_RA,1,1\n1700000001.5,udp,2001:db8::1,50001,  <->,2001:db8::2,53,CON,1,1\n' \
            >"$d/ra-flags.csv"
        ;;
    netflow)
        # Real export packets: softflowd replaying the bundled capture as
        # NetFlow v5, v9 and IPFIX to a loopback port; a version's packets
        # joined by 0xfe (the target splits there), so templates come first.
        if command -v softflowd >/dev/null; then
            python3 - "$d" "$root/examples/data/sample.pcap" <<'PY'
import socket, subprocess, sys
out, capture = sys.argv[1], sys.argv[2]
for v in ("5", "9", "10"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    port = s.getsockname()[1]
    subprocess.run(["softflowd", "-r", capture, "-n", f"127.0.0.1:{port}", "-v", v],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    packets = []
    try:
        while len(packets) < 4:
            packets.append(s.recv(65535))
    except socket.timeout:
        pass
    for i, p in enumerate(packets):
        open(f"{out}/v{v}-{i}", "wb").write(p)
    open(f"{out}/v{v}-joined", "wb").write(b"\xfe".join(packets))
PY
        fi
        ;;
    eve | plugin_record)
        for f in "$data"/*.eve.json; do
            n=$(basename "$f" .eve.json)
            seed "$d" "$n.head.json" "$f" 30
        done
        seed "$d" fin-sweep.json "$data"/stealth-fin-sweep.eve.json
        # (plugin_record's inputs are kept under 64 KiB.)
        n=200
        [ "$t" = eve ] || n=40
        seed "$d" slips-test6.head.json "$shared"/slips/test6-malicious.suricata.json $n
        # One record a seed: what the plugin is handed.
        if [ -f "$shared"/slips/test6-malicious.suricata.json ]; then
            grep -m 20 '"event_type":"flow"' "$shared"/slips/test6-malicious.suricata.json |
                split -l 1 - "$d/slips-flow-"
        fi
        grep -h -m 3 '"proto":"UDP"' "$data"/dns-replies.eve.json 2>/dev/null | split -l 1 - "$d/udp-flow-" || true
        ;;
    config)
        make_config_seeds
        ;;
    esac
}

dict_for() {
    case $1 in
    pcap) echo "$root/fuzz/dict/pcap.dict" ;;
    zeek) echo "$root/fuzz/dict/zeek.dict" ;;
    argus) echo "$root/fuzz/dict/argus.dict" ;;
    netflow) echo "$root/fuzz/dict/netflow.dict" ;;
    eve | plugin_record) echo "$root/fuzz/dict/eve.dict" ;;
    config) echo "$root/fuzz/dict/config.dict" ;;
    sniff)
        cat "$root"/fuzz/dict/*.dict >"$root/fuzz/target/sniff.dict"
        echo "$root/fuzz/target/sniff.dict"
        ;;
    esac
}

max_len_for() {
    case $1 in
    pcap | sniff) echo $((1024 * KB)) ;;
    netflow) echo $((64 * KB)) ;;
    zeek | argus | eve) echo $((256 * KB)) ;;
    plugin_record) echo $((64 * KB)) ;;
    config) echo $((16 * KB)) ;;
    esac
}

start=$(date +%s)
echo "== seeds"
for t in "${targets[@]}"; do
    make_seeds "$t"
    printf '  %-14s %4d files\n' "$t" "$(find "$corpus/$t" -type f | wc -l)"
done

# -O: optimised; -a: with debug assertions and overflow checks (which -O
# alone turns off); AddressSanitizer is cargo fuzz's default.
flags=(-O -a)
echo "== build"
cargo fuzz build "${flags[@]}"

failed=()
summary=()
for t in "${targets[@]}"; do
    echo "== $t: ${secs}s"
    log=$logs/$t.log
    set +e
    cargo fuzz run "${flags[@]}" "$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout="$timeout_secs" \
        -max_len="$(max_len_for "$t")" -dict="$(dict_for "$t")" \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
    corp=$(find "$corpus/$t" -type f | wc -l)
    if [ $rc -eq 0 ]; then
        result=ok
    else
        result="CRASH (exit $rc)"
        failed+=("$t")
        # The panic and its message, the sanitizer's verdict, the artifact.
        grep -E -A1 'panicked at' "$log" | head -n 6 | sed 's/^/  /'
        grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|^SUMMARY:|Test unit written to' "$log" |
            head -n 10 | sed 's/^/  /'
    fi
    summary+=("$(printf '%-14s %10s runs %8s exec/s  cov %6s  corpus %5s  %s' \
        "$t" "${runs:-?}" "${rate:-?}" "${cov:-?}" "$corp" "$result")")
done

echo "== summary (${secs}s per target, $(($(date +%s) - start))s in all; logs in ${logs#"$root"/})"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "== crashes"
    for t in "${failed[@]}"; do
        for a in $(sed -n 's/.*Test unit written to //p' "$logs/$t.log" | sort -u); do
            a=${a#"$root"/}
            echo "  $t: $a"
            echo "    reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run ${flags[*]} $t $a"
            echo "    minimize:  RUSTC_BOOTSTRAP=1 cargo fuzz tmin ${flags[*]} $t $a"
        done
    done
    exit 1
fi
