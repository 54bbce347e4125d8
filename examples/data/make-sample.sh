#!/usr/bin/env bash
# Makes examples/data/sample.pcap: a real nmap port sweep and port scan plus
# benign HTTP traffic, captured entirely inside two private network namespaces
# and then re-addressed so that it reads as an Internet scanner probing a home
# network.
#
# Usage (as root): examples/data/make-sample.sh [OUTPUT.pcap]
# Needs: ip (iproute2), tcpdump, nmap, tcprewrite (tcpreplay), curl, python3.
#
# Topology (all addresses exist only inside the namespaces created here):
#
#   swscan                                   swtarget (router + hosts)
#   sw-scan 10.98.0.1/24 (scanner)  <--veth-->  sw-tgt 10.98.0.2/24
#           10.98.0.5/24 (benign client)        lo: 10.99.0.10 .. 10.99.0.17
#   route 10.99.0.0/24 via 10.98.0.2            10.99.0.18 .. .31 blackhole (silence)
#                                               10.99.0.32 .. .40 no ARP answer (ICMP)
#
# After capture the addresses are rewritten:
#   10.98.0.1   -> 203.0.113.66   (scanner, external documentation address)
#   10.98.0.5   -> 192.168.56.5   (benign home client)
#   10.98.0.2   -> 192.168.56.1   (home router, source of ICMP unreachables)
#   10.99.0.0/24 -> 192.168.56.0/24 (home hosts)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/sample.pcap}

NS_SCAN=swscan
NS_TGT=swtarget
SCANNER=10.98.0.1
CLIENT=10.98.0.5
ROUTER=10.98.0.2
SWEEP_RANGE=10.99.0.10-40
SCAN_TARGET=10.99.0.10
# Namespace address -> published address (tcprewrite --pnat syntax).
ADDRESS_MAP=(
    "$SCANNER/32:203.0.113.66/32"
    "$CLIENT/32:192.168.56.5/32"
    "$ROUTER/32:192.168.56.1/32"
    "10.99.0.0/24:192.168.56.0/24"
)

# Tool and root checks, $work, $pids, cleanup on exit, in_scan and in_tgt.
# shellcheck source=../../scripts/netns.sh
. "$here/../../scripts/netns.sh" ip tcpdump nmap tcprewrite curl python3

# --- topology -----------------------------------------------------------------
make_link sw-scan sw-tgt 00

in_scan ip addr add "$SCANNER/24" dev sw-scan
in_scan ip addr add "$CLIENT/24" dev sw-scan
in_scan ip route add 10.99.0.0/24 via "$ROUTER"

in_tgt ip addr add "$ROUTER/24" dev sw-tgt
for i in $(seq 10 17); do
    in_tgt ip addr add "10.99.0.$i/32" dev lo
done
# The target namespace routes: probes of absent addresses are forwarded, and
# the blackhole swallows most of them silently. No ICMP rate limit, so every
# probe of an unreachable address (below) gets its answer.
in_tgt sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0
in_tgt ip route add blackhole 10.99.0.0/24
# 10.99.0.32-40 sit on a LAN segment where nobody answers ARP, so the router
# reports them with ICMP host unreachable, as a home router does for an absent
# host. (An 'unreachable' route would do it too, but the kernel rate-limits those
# answers globally.) The far end ignores ARP; short retransmit times make the
# failure quick.
ip link add sw-lan netns "$NS_TGT" address 02:00:5e:00:00:03 type veth \
    peer name sw-lan-peer netns "$NS_TGT" address 02:00:5e:00:00:04
in_tgt ip link set sw-lan-peer arp off up
in_tgt ip link set sw-lan up
in_tgt sysctl -qw net.ipv4.neigh.sw-lan.retrans_time_ms=200
in_tgt ip route add 10.99.0.32/29 dev sw-lan
in_tgt ip route add 10.99.0.40/32 dev sw-lan

# --- services -----------------------------------------------------------------
# Open TCP ports: 10.99.0.10:{22,80,443}, 10.99.0.13:22, 10.99.0.14:8080. Every
# other port of an existing address is closed (RST).
mkdir -p "$work/www"
printf 'hello from the sample web server\n' >"$work/www/index.html"
cat >"$work/serve.py" <<'EOF'
import functools, http.server, sys, threading
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
handler = functools.partial(Quiet, directory=sys.argv[1])
servers = []
for spec in sys.argv[2:]:
    addr, port = spec.rsplit(":", 1)
    servers.append(http.server.ThreadingHTTPServer((addr, int(port)), handler))
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
print("ready", flush=True)
servers[0].serve_forever()
EOF
ip netns exec "$NS_TGT" python3 "$work/serve.py" "$work/www" \
    10.99.0.10:80 10.99.0.10:22 10.99.0.10:443 10.99.0.13:22 10.99.0.14:8080 \
    >"$work/serve.log" 2>&1 &
pids+=("$!")

wait_for() { # FILE PATTERN: poll until a background process reports readiness
    local i
    for i in $(seq 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "timed out waiting for '$2' in $1:" >&2
    cat "$1" >&2 || true
    return 1
}
wait_for "$work/serve.log" ready

# --- capture ------------------------------------------------------------------
# Capture on the target side; IPv4 only (no ARP), snaplen large enough for every
# header and the small HTTP payloads.
ip netns exec "$NS_TGT" tcpdump -i sw-tgt -n -U -s 512 -w "$work/raw.pcap" ip >"$work/tcpdump.log" 2>&1 &
tcpdump_pid=$!
pids+=("$tcpdump_pid")
wait_for "$work/tcpdump.log" "listening on"

# Benign client: 20 ordinary page fetches, spread over the time of the scans.
(
    for i in $(seq 20); do
        # Names rather than addresses, since the Host header is not re-addressed.
        if ((i % 2)); then url=http://nas.home.arpa/; else url=http://media.home.arpa:8080/index.html; fi
        in_scan curl -sf --interface "$CLIENT" -o /dev/null \
            --resolve nas.home.arpa:80:10.99.0.10 --resolve media.home.arpa:8080:10.99.0.14 "$url"
        sleep 0.4
    done
) &
client_pid=$!
pids+=("$client_pid")

sleep 0.5
# (1) Port sweep: port 22 across 31 addresses; 8 exist (RST or SYN-ACK), 14 are
# silent, 9 answer ICMP host unreachable.
in_scan nmap -sS -Pn -n -p 22 --max-retries 1 -e sw-scan -S "$SCANNER" "$SWEEP_RANGE" >"$work/nmap-sweep.txt"
sleep 1
# (2) Port scan: the first 1000 ports of one host.
in_scan nmap -sS -Pn -n -p 1-1000 -e sw-scan -S "$SCANNER" "$SCAN_TARGET" >"$work/nmap-scan.txt"

wait "$client_pid"
sleep 1
kill -TERM "$tcpdump_pid"
wait "$tcpdump_pid" || true

# --- re-address ---------------------------------------------------------------
# tcprewrite warns about the snaplen; requote.py below reports whether anything
# was actually truncated (nothing is: the largest packet is well under 512).
tcprewrite --fixcsum \
    --pnat="$(IFS=,; echo "${ADDRESS_MAP[*]}")" \
    --infile="$work/raw.pcap" --outfile="$work/readdressed.pcap"

# tcprewrite leaves the packet quoted inside an ICMP error untouched, and a
# detector matches the error to its probe by that quote; map it the same way.
cat >"$work/requote.py" <<'EOF'
import ipaddress, struct, sys

src, dst, maps = sys.argv[1], sys.argv[2], []
for spec in sys.argv[3:]:
    a, b = spec.split(":")
    maps.append((ipaddress.ip_network(a), ipaddress.ip_network(b)))

def remap(raw):
    ip = ipaddress.ip_address(raw)
    for a, b in maps:
        if ip in a:
            return (int(b.network_address) | (int(ip) & int(a.hostmask))).to_bytes(4, "big")
    return raw

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

data = bytearray(open(src, "rb").read())
endian = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
off, fixed, truncated = 24, 0, 0
while off < len(data):
    caplen, origlen = struct.unpack_from(endian + "II", data, off + 8)
    truncated += caplen < origlen
    pkt = off + 16
    end = pkt + caplen
    off = end
    if caplen < 14 + 20 + 8 + 20 or data[pkt + 12:pkt + 14] != b"\x08\x00":
        continue
    ip = pkt + 14
    ihl = (data[ip] & 15) * 4
    icmp = ip + ihl
    # Only errors quote a packet: unreachable, time exceeded, parameter problem.
    if data[ip + 9] != 1 or data[icmp] not in (3, 11, 12):
        continue
    q = icmp + 8
    qihl = (data[q] & 15) * 4
    data[q + 12:q + 16] = remap(bytes(data[q + 12:q + 16]))
    data[q + 16:q + 20] = remap(bytes(data[q + 16:q + 20]))
    struct.pack_into("!H", data, q + 10, 0)
    struct.pack_into("!H", data, q + 10, csum(bytes(data[q:q + qihl])))
    # The quoted TCP/UDP checksum covers the addresses too; fix it when the
    # whole segment is quoted.
    qlen = struct.unpack_from("!H", data, q + 2)[0]
    l4, proto = q + qihl, data[q + 9]
    if proto in (6, 17) and q + qlen <= end:
        at = l4 + (16 if proto == 6 else 6)
        struct.pack_into("!H", data, at, 0)
        pseudo = bytes(data[q + 12:q + 20]) + struct.pack("!BBH", 0, proto, qlen - qihl)
        struct.pack_into("!H", data, at, csum(pseudo + bytes(data[l4:q + qlen])))
    iplen = struct.unpack_from("!H", data, ip + 2)[0]
    struct.pack_into("!H", data, icmp + 2, 0)
    struct.pack_into("!H", data, icmp + 2, csum(bytes(data[icmp:min(ip + iplen, end)])))
    fixed += 1
open(dst, "wb").write(data)
print("re-addressed %d quoted packets; %d packets truncated" % (fixed, truncated), file=sys.stderr)
EOF
python3 "$work/requote.py" "$work/readdressed.pcap" "$work/sample.pcap" "${ADDRESS_MAP[@]}"

# Nothing of the namespace addressing may remain.
leaked=$(tcpdump -nvr "$work/sample.pcap" 2>/dev/null | grep -c '[^0-9.]10\.9[89]\.' || true)
[[ $leaked -eq 0 ]] || { echo "rewrite left $leaked namespace addresses" >&2; exit 1; }

mv "$work/sample.pcap" "$out"

count() { tcpdump -nr "$out" "$1" 2>/dev/null | wc -l; }
{
    echo "wrote $out ($(stat -c %s "$out") bytes, $(count ip) packets)"
    echo "scanner 203.0.113.66: SYN $(count 'src host 203.0.113.66 and tcp[tcpflags] == tcp-syn')" \
        "(port 22: $(count 'src host 203.0.113.66 and tcp[tcpflags] == tcp-syn and dst port 22'))," \
        "RST $(count 'src host 203.0.113.66 and tcp[tcpflags] & tcp-rst != 0')"
    echo "answers to scanner: SYN-ACK $(count 'dst host 203.0.113.66 and tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)')," \
        "RST $(count 'dst host 203.0.113.66 and tcp[tcpflags] & tcp-rst != 0')," \
        "ICMP unreachable $(count 'dst host 203.0.113.66 and icmp[icmptype] == icmp-unreach')"
    echo "benign 192.168.56.5: SYN $(count 'src host 192.168.56.5 and tcp[tcpflags] == tcp-syn')," \
        "SYN-ACK back $(count 'dst host 192.168.56.5 and tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)')"
    echo "nmap sweep, states of port 22:"; grep -oE '^22/tcp +[a-z|]+' "$work/nmap-sweep.txt" | sort | uniq -c
    echo "nmap scan:"; grep -E '^[0-9]+/tcp|Not shown' "$work/nmap-scan.txt" | sed 's/^/  /'
} >&2
