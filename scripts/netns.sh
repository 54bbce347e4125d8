# Shared by the scripts that make captures of real tools in network namespaces
# (examples/data/make-sample.sh, tests/data/fixtures/make-fixtures.sh). Source
# it after setting NS_SCAN and NS_TGT, naming the tools the script needs:
#
#   . scripts/netns.sh ip tcpdump nmap
#
# It checks the tools and root, makes a work folder ($work), keeps the
# background processes' pids ($pids) and, on exit, stops them and removes both
# namespaces and the work folder. in_scan and in_tgt run a command in either
# namespace; make_link creates both, joined by a veth pair.

for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "must run as root (network namespaces, raw sockets)" >&2; exit 1; }

work=$(mktemp -d)
pids=()

cleanup() {
    local pid
    # Background processes live in the namespaces; deleting a namespace does not
    # stop them, so stop them first.
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    pids=()
    ip netns del "$NS_SCAN" 2>/dev/null || true
    ip netns del "$NS_TGT" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A previous run that was killed hard may have left namespaces behind.
ip netns del "$NS_SCAN" 2>/dev/null || true
ip netns del "$NS_TGT" 2>/dev/null || true

# Background processes are started with a plain `ip netns exec` (which execs the
# command) rather than these functions, so that $! is the process itself.
in_scan() { ip netns exec "$NS_SCAN" "$@"; }
in_tgt() { ip netns exec "$NS_TGT" "$@"; }

# make_link SCAN_IF TGT_IF NN: both namespaces, joined by a veth pair SCAN_IF
# (in NS_SCAN) <-> TGT_IF (in NS_TGT) with fixed, locally administered MACs
# 02:00:5e:00:NN:01 and :02, so that reruns differ only in timing; no IPv6
# autoconfiguration chatter; every link up.
make_link() {
    local ns
    ip netns add "$NS_SCAN"
    ip netns add "$NS_TGT"
    ip link add "$1" netns "$NS_SCAN" address "02:00:5e:00:$3:01" type veth \
        peer name "$2" netns "$NS_TGT" address "02:00:5e:00:$3:02"
    for ns in "$NS_SCAN" "$NS_TGT"; do
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip netns exec "$ns" ip link set lo up
    done
    in_scan ip link set "$1" up
    in_tgt ip link set "$2" up
}

# wait_for FILE PATTERN: polls (up to 30 s) until a background process writes
# PATTERN to FILE, its sign of readiness.
wait_for() {
    local i
    for i in $(seq 300); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "timed out waiting for '$2' in $1:" >&2
    cat "$1" >&2 || true
    return 1
}

# eve_of OUT NAME...: Suricata's EVE flow log of each $work/NAME.pcap (its
# built-in defaults plus one EVE output with flow records only), copied with
# the capture to OUT/NAME.pcap and OUT/NAME.eve.json.
eve_of() {
    local out=$1 name
    shift
    cat >"$work/suricata.yaml" <<'YAML'
%YAML 1.1
---
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - flow
stats:
  enabled: no
logging:
  default-log-level: warning
  outputs:
    - console:
        enabled: yes
YAML
    for name in "$@"; do
        rm -rf "$work/eve"
        mkdir "$work/eve"
        suricata -c "$work/suricata.yaml" -r "$work/$name.pcap" -k none -S /dev/null \
            -l "$work/eve" >"$work/eve.log" 2>&1 || { cat "$work/eve.log" >&2; return 1; }
        cp "$work/$name.pcap" "$out/$name.pcap"
        cp "$work/eve/eve.json" "$out/$name.eve.json"
        echo "wrote $name.pcap ($(stat -c %s "$out/$name.pcap") bytes," \
            "$(tcpdump -nr "$out/$name.pcap" 2>/dev/null | wc -l) packets)," \
            "$name.eve.json ($(wc -l <"$out/$name.eve.json") flow records)" >&2
    done
}
