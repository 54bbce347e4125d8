#!/usr/bin/env python3
"""Generate a large synthetic pcap for throughput measurements.

    scripts/gen-pcap.py --packets 5000000 --out /tmp/big.pcap [--seed N]

The capture looks as if taken at the gateway of a home network (192.168.0.0/18)
over ten minutes: mostly benign TCP conversations between a few thousand home
clients and many external servers, inbound connections to a few home servers,
DNS through a home resolver (which itself queries many external servers), a
little ping, and four scanners:

  * an inbound port sweep of one port across many home addresses (RSTs from
    hosts that exist, silence or ICMP host unreachable from those that do not);
  * an inbound 1000-port vertical scan of one home server;
  * an outbound sweep of port 445 from a home client, mostly unanswered;
  * an inbound ICMP echo sweep.

Scanners use documentation addresses (192.0.2/24, 198.51.100/24, 203.0.113/24),
which benign traffic never uses. The ground truth goes to stderr and, as JSON,
to OUT.truth.json.

Ethernet + IPv4; IP, TCP, UDP and ICMP checksums are all valid, because engines
such as Suricata drop or ignore packets with bad checksums by default.
Standard library only. Speed comes from computing checksums arithmetically from
precomputed partial sums instead of over bytes, packing whole headers with one
precompiled struct, and writing in large chunks.
"""

import argparse
import heapq
import itertools
import json
import math
import os
import random
import struct
import sys
import time

# ---------------------------------------------------------------------------
# Layouts. Each packet is one Struct.pack of the headers plus constant bytes.

PCAP_HDR = struct.Struct("<IHHiIII")
REC_HDR = struct.Struct("<IIII")
# Ethernet | IPv4 (no options) | TCP (20 bytes before options)
TCP_PKT = struct.Struct("!14sBBHHHBBH4s4sHHIIBBHHH")
# Ethernet | IPv4 | UDP
UDP_PKT = struct.Struct("!14sBBHHHBBH4s4sHHHH")
# Ethernet | IPv4 | ICMP echo header
ICMP_ECHO_PKT = struct.Struct("!14sBBHHHBBH4s4sBBHHH")
# Ethernet | IPv4 | ICMP error header (type, code, checksum, unused)
ICMP_ERR_PKT = struct.Struct("!14sBBHHHBBH4s4sBBHI")

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
M32 = 0xFFFFFFFF

# SYN options as Linux sends them without timestamps: MSS 1460, NOP, WS 7,
# NOP, NOP, SACK permitted. nmap's SYN carries only MSS 1460.
SYN_OPTS = bytes([2, 4, 0x05, 0xB4, 1, 3, 3, 7, 1, 1, 4, 2])
NMAP_OPTS = bytes([2, 4, 0x05, 0xB4])

GW_MAC = bytes.fromhex("020000000001")


def word_sum(b):
    """Sum of the big-endian 16-bit words of b (odd length padded)."""
    if len(b) % 2:
        b += b"\0"
    return sum(struct.unpack("!%dH" % (len(b) // 2), b))


def fold(s):
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return s & 0xFFFF


def ip4(s):
    a, b, c, d = (int(x) for x in s.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def ip4s(n):
    return "%d.%d.%d.%d" % (n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255)


# Blocks external (benign) addresses must avoid: private, shared, loopback,
# link-local, documentation (reserved for the scanners), multicast, reserved.
_AVOID = [(ip4(n), 32 - l) for n, l in (
    ("0.0.0.0", 8), ("10.0.0.0", 8), ("100.64.0.0", 10), ("127.0.0.0", 8),
    ("169.254.0.0", 16), ("172.16.0.0", 12), ("192.0.0.0", 24), ("192.0.2.0", 24),
    ("192.168.0.0", 16), ("198.18.0.0", 15), ("198.51.100.0", 24),
    ("203.0.113.0", 24), ("224.0.0.0", 3))]


_AVOID_TOP = {net >> 24 for net, _ in _AVOID} | set(range(224, 256))


def public_addr(rng):
    while True:
        a = rng.getrandbits(32)
        # Only a few first octets hold an avoided block; skip the scan otherwise.
        if a >> 24 not in _AVOID_TOP or not any((a >> s) == (n >> s) for n, s in _AVOID):
            return a


class Payloads:
    """A blob with prefix sums, so that the checksum contribution of any slice
    is O(1)."""

    def __init__(self, blob):
        self.blob = blob
        self.n = len(blob)
        words = struct.unpack("!%dH" % (len(blob) // 2), blob)
        self.prefix = [0] + list(itertools.accumulate(words))

    def take(self, rnd, length):
        off = int(rnd() * (self.n - length)) & ~1
        end = off + length
        s = self.prefix[end >> 1] - self.prefix[off >> 1]
        if length & 1:
            s += self.blob[end - 1] << 8
        return self.blob[off:end], fold(s)


def text_blob(rng, size):
    lines = [b"GET /%s/%d HTTP/1.1\r\n" % (w, i) for i, w in enumerate(
        [b"index.html", b"static/app.js", b"api/v1/items", b"img/logo.png", b"feed"] * 40)]
    lines += [b"Host: www.example.com\r\n", b"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n",
              b"Accept: */*\r\n", b"Connection: keep-alive\r\n\r\n",
              b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n",
              b"<html><head><title>page</title></head><body><p>lorem ipsum dolor sit amet</p>\n"]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(lines)
    return bytes(out[:size])


# ---------------------------------------------------------------------------


class Gen:
    def __init__(self, args):
        self.rng = rng = random.Random(args.seed)
        self.duration_us = int(args.duration * 1e6)
        self.start = args.start
        self.heap = []
        self.bin = Payloads(rng.randbytes(1 << 16))
        self.txt = Payloads(text_blob(rng, 1 << 16))
        # Echo payload as Linux ping sends it after its 8-byte timestamp.
        self.ping_payload = bytes(8) + bytes(range(0x10, 0x38))
        self.ping_sum = word_sum(self.ping_payload)

        # Home: clients spread thinly over 192.168.0.0/18 (so most addresses
        # are unused), a few servers in 192.168.0.0/24.
        self.home_net = ip4("192.168.0.0")
        self.router = ip4("192.168.0.1")
        self.web = ip4("192.168.0.10")
        self.mail = ip4("192.168.0.25")
        self.resolver = ip4("192.168.0.53")
        space = list(range(self.home_net + 256, self.home_net + (1 << 14)))
        space = [a for a in space if a & 255 not in (0, 255)]
        self.clients = sorted(rng.sample(space, args.clients))
        self.client_set = set(self.clients) | {self.router, self.web, self.mail, self.resolver}

        # External servers with a service port, a TTL and an RTT each. Popular
        # ones (low index) are picked far more often.
        self.servers = []
        for _ in range(args.servers):
            port = rng.choices([443, 80, 22, 993, 8443, 5222, 25], [75, 15, 2, 3, 2, 2, 1])[0]
            ttl = rng.choice([64, 128, 255]) - rng.randint(5, 25)
            rtt = int(min(400_000, max(1_000, rng.lognormvariate(math.log(30_000), 0.8))))
            self.servers.append((public_addr(rng), port, ttl, rtt))
        self.auth_servers = [public_addr(rng) for _ in range(max(50, args.servers // 10))]
        self.dns = self._dns_templates(400)
        self.stats = {k: 0 for k in (
            "tcp_out", "tcp_out_refused", "tcp_out_unanswered", "tcp_in", "dns_client",
            "dns_upstream", "dns_upstream_unanswered", "ping")}
        self.used_clients = set()
        self.used_servers = set()

    # --- packet builders: each pushes one packet into the time-ordered heap ---
    # Heap entries are (microseconds, bytes). Packets of one flow never share a
    # timestamp, so ties (ordered by content) only interleave unrelated flows.

    def push(self, ts, pkt):
        heapq.heappush(self.heap, (ts, pkt))

    def side(self, src, dst, sport, dport, ttl, win, eth):
        """Everything constant about one direction of a TCP/UDP flow, with the
        constant parts of its IP and TCP/UDP checksums pre-summed. The last item
        is the IP ID, which counts up."""
        asum = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF)
        return [eth, src.to_bytes(4, "big"), dst.to_bytes(4, "big"), sport, dport, ttl, win,
                asum + (ttl << 8), asum + sport + dport, self.rng.getrandbits(16)]

    def eth(self, src, dst):
        """MACs: home hosts get 02:00 + their address; everything external is
        behind the gateway's MAC."""
        home_src = src in self.client_set
        home_dst = dst in self.client_set
        dmac = b"\x02\x00" + dst.to_bytes(4, "big") if home_dst else GW_MAC
        smac = b"\x02\x00" + src.to_bytes(4, "big") if home_src else GW_MAC
        return dmac + smac + b"\x08\x00"

    def flow(self, a, b, aport, bport, attl, bttl, awin=502, bwin=501):
        return (self.side(a, b, aport, bport, attl, awin, self.eth(a, b)),
                self.side(b, a, bport, aport, bttl, bwin, self.eth(b, a)))

    def tcp(self, ts, sd, seq, ack, flags, pay=b"", psum=0, opts=b"", osum=0, win=None,
            _pack=TCP_PKT.pack, _push=heapq.heappush):
        """One TCP segment; returns its bytes. The hottest code: keep it lean."""
        eth, sb, db, sport, dport, ttl, w, ipsum, l4sum, ipid = sd
        sd[9] = (ipid + 1) & 0xFFFF
        if win is None:
            win = w
        hl = 20 + len(opts)
        tl = hl + len(pay)
        # IP: 0x4500 + 0x4000 (DF) + proto 6 = 0x8506; TCP: proto 6 + length.
        s = 0x851A + tl + ipid + ipsum  # ... + total length 20 + tl
        s = (s >> 16) + (s & 0xFFFF)
        s += s >> 16
        off = hl << 10  # data offset (hl/4) in the top nibble
        t = (l4sum + 6 + tl + (seq >> 16) + (seq & 0xFFFF) + (ack >> 16) + (ack & 0xFFFF)
             + off + flags + win + osum + psum)
        t = (t >> 16) + (t & 0xFFFF)
        t = (t >> 16) + (t & 0xFFFF)
        t += t >> 16
        pkt = _pack(eth, 0x45, 0, 20 + tl, ipid, 0x4000, ttl, 6, ~s & 0xFFFF, sb, db,
                    sport, dport, seq, ack, off >> 8, flags, win, ~t & 0xFFFF, 0) + opts + pay
        _push(self.heap, (ts, pkt))
        return pkt

    def udp(self, ts, sd, pay, psum):
        eth, sb, db, sport, dport, ttl, _, ipsum, l4sum, ipid = sd
        sd[9] = (ipid + 1) & 0xFFFF
        ul = 8 + len(pay)
        tot = 20 + ul
        s = 0x4511 + tot + ipid + ipsum  # no DF, proto 17
        s = (s >> 16) + (s & 0xFFFF)
        s += s >> 16
        t = l4sum + 17 + ul + ul + psum
        t = (t >> 16) + (t & 0xFFFF)
        t += t >> 16
        c = ~t & 0xFFFF
        heapq.heappush(self.heap, (ts, UDP_PKT.pack(
            eth, 0x45, 0, tot, ipid, 0, ttl, 17, ~s & 0xFFFF, sb, db,
            sport, dport, ul, c or 0xFFFF) + pay))

    def icmp_echo(self, ts, src, dst, ttl, typ, ident, seq):
        asum = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF)
        tot = 20 + 8 + len(self.ping_payload)
        ipid = self.rng.getrandbits(16)
        s = fold(0x4501 + 0x4000 + tot + ipid + (ttl << 8) + asum)
        c = fold((typ << 8) + ident + seq + self.ping_sum)
        self.push(ts, ICMP_ECHO_PKT.pack(
            self.eth(src, dst), 0x45, 0, tot, ipid, 0x4000, ttl, 1, ~s & 0xFFFF,
            src.to_bytes(4, "big"), dst.to_bytes(4, "big"), typ, 0, ~c & 0xFFFF, ident, seq)
            + self.ping_payload)

    def icmp_unreach(self, ts, router, probe, code=1):
        """ICMP destination unreachable (host, by default) from `router` about
        `probe` (a pushed packet's bytes), quoting its IP header and first 8
        bytes of transport header as routers do."""
        quote = probe[14:14 + 28]
        src = router
        dst = int.from_bytes(probe[26:30], "big")
        asum = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF)
        tot = 20 + 8 + len(quote)
        ipid = self.rng.getrandbits(16)
        s = fold(0x45C1 + tot + ipid + (254 << 8) + asum)  # TOS 0xC0, proto 1
        c = fold((3 << 8) + code + word_sum(quote))
        self.push(ts, ICMP_ERR_PKT.pack(
            self.eth(src, dst), 0x45, 0xC0, tot, ipid, 0, 254, 1, ~s & 0xFFFF,
            src.to_bytes(4, "big"), dst.to_bytes(4, "big"), 3, code, ~c & 0xFFFF, 0) + quote)

    # --- benign traffic ----------------------------------------------------

    def pick_client(self):
        c = self.clients[int(len(self.clients) * self.rng.random() ** 1.5)]
        self.used_clients.add(c)
        return c

    def tcp_conversation(self, t, client, server, sport, dport, rtt, sttl, inbound=False):
        """A complete TCP conversation seen at the gateway: handshake, 1-3
        request/response rounds, FIN both ways. `client` opens it."""
        rnd = self.rng.random
        tcp = self.tcp
        if inbound:
            c, s = self.flow(client, server, sport, dport, sttl, 64)
            # The gateway sees the home server answer at once and the external
            # client answer one round trip later.
            to_s, to_c = 60, rtt
        else:
            c, s = self.flow(client, server, sport, dport, 64, sttl)
            to_s, to_c = rtt, 40
        cseq = self.rng.getrandbits(32)
        sseq = self.rng.getrandbits(32)
        tcp(t, c, cseq, 0, SYN, b"", 0, SYN_OPTS, SYN_OPTS_SUM, 64240)
        cseq = (cseq + 1) & M32
        t += to_s
        tcp(t, s, sseq, cseq, SYN | ACK, b"", 0, SYN_OPTS, SYN_OPTS_SUM, 65160)
        sseq = (sseq + 1) & M32
        t += to_c
        tcp(t, c, cseq, sseq, ACK)
        blob = self.txt if dport == 80 else self.bin
        take = blob.take
        for _ in range(1 if rnd() < 0.7 else 2 + (rnd() < 0.5)):
            t += 20 + int(rnd() * 380)
            ln = 60 + int(rnd() * 640)
            pay, ps = take(rnd, ln)
            tcp(t, c, cseq, sseq, PSH | ACK, pay, ps)
            cseq = (cseq + ln) & M32
            t += to_s + 200 + int(rnd() * 20_000)
            nseg = min(8, 1 + int(-1.67 * math.log(1.0 - rnd())))
            for i in range(1, nseg + 1):
                last = i == nseg
                ln = 40 + int(rnd() * 1420) if last else 1460
                pay, ps = take(rnd, ln)
                tcp(t, s, sseq, cseq, PSH | ACK if last else ACK, pay, ps)
                sseq = (sseq + ln) & M32
                if last or not i & 1:  # delayed ACK: every second segment
                    tcp(t + to_c, c, cseq, sseq, ACK)
                t += 120
            t += to_c
        t += 1_000 + int(rnd() * 59_000)
        tcp(t, c, cseq, sseq, FIN | ACK)
        cseq = (cseq + 1) & M32
        t += to_s
        tcp(t, s, sseq, cseq, FIN | ACK)
        sseq = (sseq + 1) & M32
        tcp(t + to_c, c, cseq, sseq, ACK)

    def benign(self, t):
        rng = self.rng
        r = rng.random()
        if r < 0.78:  # home client to external server
            i = int(len(self.servers) * rng.random() ** 3)
            addr, port, ttl, rtt = self.servers[i]
            self.used_servers.add(addr)
            client = self.pick_client()
            sport = 32768 + int(rng.random() * 28232)
            f = rng.random()
            if f < 0.02:  # the server refuses
                c, s = self.flow(client, addr, sport, port, 64, ttl)
                seq = rng.getrandbits(32)
                self.tcp(t, c, seq, 0, SYN, opts=SYN_OPTS, osum=SYN_OPTS_SUM, win=64240)
                self.tcp(t + rtt, s, 0, (seq + 1) & M32, RST | ACK, win=0)
                self.stats["tcp_out_refused"] += 1
            elif f < 0.03:  # no answer; Linux retransmits after 1 s and 3 s
                c, _ = self.flow(client, addr, sport, port, 64, ttl)
                seq = rng.getrandbits(32)
                for d in (0, 1_000_000, 3_000_000):
                    self.tcp(t + d, c, seq, 0, SYN, opts=SYN_OPTS, osum=SYN_OPTS_SUM, win=64240)
                self.stats["tcp_out_unanswered"] += 1
            else:
                self.tcp_conversation(t, client, addr, sport, port, rtt, ttl)
                self.stats["tcp_out"] += 1
        elif r < 0.85:  # external client to a home server
            srv, port = rng.choice([(self.web, 443), (self.web, 443), (self.web, 80), (self.mail, 25)])
            remote = public_addr(rng)
            rtt = rng.randint(10_000, 150_000)
            self.tcp_conversation(t, remote, srv, rng.randint(1024, 65535), port, rtt,
                                  rng.choice([64, 128]) - rng.randint(5, 25), inbound=True)
            self.stats["tcp_in"] += 1
        elif r < 0.995:  # DNS through the home resolver
            self.dns_lookup(t)
        else:  # ping a server four times
            addr, _, ttl, rtt = self.servers[rng.randrange(len(self.servers))]
            client = self.pick_client()
            ident = rng.getrandbits(16)
            for k in range(1, 5):
                self.icmp_echo(t, client, addr, 64, 8, ident, k)
                self.icmp_echo(t + rtt, addr, client, ttl, 0, ident, k)
                t += 1_000_000
            self.stats["ping"] += 1

    def _dns_templates(self, n):
        rng = self.rng
        words = ["mail", "cdn", "api", "www", "static", "img", "login", "update", "news", "video"]
        tlds = [b"com", b"net", b"org", b"io", b"de"]
        out = []
        for i in range(n):
            name = [rng.choice(words).encode(), b"site%d" % i, rng.choice(tlds)]
            qname = b"".join(bytes([len(l)]) + l for l in name) + b"\0"
            question = qname + struct.pack("!HH", 1, 1)
            q = struct.pack("!HHHHHH", 0, 0x0100, 1, 0, 0, 0) + question
            nans = rng.randint(1, 3)
            ans = b"".join(struct.pack("!HHHIH", 0xC00C, 1, 1, rng.randint(60, 3600), 4)
                           + public_addr(rng).to_bytes(4, "big") for _ in range(nans))
            a = struct.pack("!HHHHHH", 0, 0x8180, 1, nans, 0, 0) + question + ans
            out.append((q, word_sum(q), a, word_sum(a)))
        return out

    def dns_lookup(self, t):
        """Client asks the home resolver; on a cache miss the resolver asks an
        external authoritative server first."""
        rng = self.rng
        q, qs, a, as_ = self.dns[int(len(self.dns) * rng.random() ** 2)]
        client = self.pick_client()
        c, r = self.flow(client, self.resolver, rng.randint(32768, 60999), 53, 64, 64)
        ident = rng.getrandbits(16)
        qp = ident.to_bytes(2, "big") + q[2:]
        ap = ident.to_bytes(2, "big") + a[2:]
        self.udp(t, c, qp, qs + ident)
        self.stats["dns_client"] += 1
        t += 150
        if rng.random() < 0.3:
            while True:
                auth = self.auth_servers[int(len(self.auth_servers) * rng.random() ** 2)]
                up, down = self.flow(self.resolver, auth, rng.randint(1024, 65535), 53, 64, 57)
                uid = rng.getrandbits(16)
                self.udp(t, up, uid.to_bytes(2, "big") + q[2:], qs + uid)
                self.stats["dns_upstream"] += 1
                self.used_servers.add(auth)
                if rng.random() >= 0.02:
                    break
                # Lost: after a timeout the resolver asks another server.
                self.stats["dns_upstream_unanswered"] += 1
                t += 800_000
            t += rng.randint(5_000, 120_000)
            self.udp(t, down, uid.to_bytes(2, "big") + a[2:], as_ + uid)
            t += 100
        self.udp(t, r, ap, as_ + ident)

    # --- scanners --------------------------------------------------------------

    def port_sweep(self, t0, scanner, port, first, count, rate):
        """nmap-style SYN sweep of `port` over `count` consecutive home
        addresses in random order, one retransmission to the silent ones.
        Existing hosts refuse (a few accept); for about half the absent ones
        the router answers host unreachable, the rest are silent."""
        rng = self.rng
        targets = list(range(first, first + count))
        rng.shuffle(targets)
        opened = set(rng.sample([a for a in targets if a in self.client_set], 3)) \
            if sum(a in self.client_set for a in targets) >= 3 else set()
        sport = rng.randint(40000, 60000)
        seq = rng.getrandbits(32)
        res = {"open": 0, "refused": 0, "unreachable": 0, "silent": 0}
        gap = int(1e6 / rate)
        t = t0
        silent = []
        probes = 0
        for a in targets:
            p, q = self.flow(scanner, a, sport, port, rng.randint(37, 58), 64, awin=1024, bwin=0)
            syn = self.tcp(t, p, seq, 0, SYN, opts=NMAP_OPTS, osum=NMAP_OPTS_SUM)
            probes += 1
            if a in opened:
                self.tcp(t + 300, q, rng.getrandbits(32), (seq + 1) & M32, SYN | ACK,
                         opts=SYN_OPTS, osum=SYN_OPTS_SUM, win=64240)
                self.tcp(t + 350, p, (seq + 1) & M32, 0, RST, win=0)
                res["open"] += 1
            elif a in self.client_set:
                self.tcp(t + 300, q, 0, (seq + 1) & M32, RST | ACK)
                res["refused"] += 1
            elif rng.random() < 0.5:
                self.icmp_unreach(t + 500, self.router, syn)
                res["unreachable"] += 1
                silent.append((a, True))
            else:
                res["silent"] += 1
                silent.append((a, False))
            t += gap
        t += 1_000_000
        sport2 = sport + 2
        for a, unreach in silent:  # nmap retries from a new source port
            p, _ = self.flow(scanner, a, sport2, port, rng.randint(37, 58), 64, awin=1024)
            syn = self.tcp(t, p, seq ^ 0x5A5A, 0, SYN, opts=NMAP_OPTS, osum=NMAP_OPTS_SUM)
            probes += 1
            if unreach:
                self.icmp_unreach(t + 500, self.router, syn)
            t += gap
        return dict(kind="port_sweep", source=ip4s(scanner), direction="inbound", protocol="tcp",
                    ports=[port], targets=count, target_range=[ip4s(first), ip4s(first + count - 1)],
                    probes=probes, targets_by_outcome=res, start_us=t0, end_us=t)

    def port_scan(self, t0, scanner, target, ports, open_ports, rate):
        rng = self.rng
        order = list(ports)
        rng.shuffle(order)
        sport = rng.randint(40000, 60000)
        seq = rng.getrandbits(32)
        gap = int(1e6 / rate)
        t = t0
        res = {"open": 0, "refused": 0}
        for port in order:
            p, q = self.flow(scanner, target, sport, port, 44, 64, awin=1024)
            self.tcp(t, p, seq, 0, SYN, opts=NMAP_OPTS, osum=NMAP_OPTS_SUM)
            if port in open_ports:
                self.tcp(t + 250, q, rng.getrandbits(32), (seq + 1) & M32, SYN | ACK,
                         opts=SYN_OPTS, osum=SYN_OPTS_SUM, win=64240)
                self.tcp(t + 300, p, (seq + 1) & M32, 0, RST, win=0)
                res["open"] += 1
            else:
                self.tcp(t + 250, q, 0, (seq + 1) & M32, RST | ACK, win=0)
                res["refused"] += 1
            t += gap
        return dict(kind="port_scan", source=ip4s(scanner), direction="inbound", protocol="tcp",
                    target=ip4s(target), port_range=[min(ports), max(ports)], port_count=len(order),
                    open_ports=sorted(open_ports), probes=len(order), ports_by_outcome=res,
                    start_us=t0, end_us=t)

    def outbound_sweep(self, t0, host, port, count, rate):
        """A home client (also an ordinary user) probing `port` on random
        external addresses with ordinary connect() calls: mostly silence (two
        kernel retransmissions), some RSTs, some ICMP, very few accept."""
        rng = self.rng
        gap = int(1e6 / rate)
        t = t0
        sport = rng.randint(32768, 50000)
        res = {"open": 0, "refused": 0, "unreachable": 0, "silent": 0}
        probes = 0
        for _ in range(count):
            dst = public_addr(rng)
            sport += 1
            rtt = rng.randint(20_000, 250_000)
            c, s = self.flow(host, dst, sport, port, 64, rng.randint(40, 120))
            seq = rng.getrandbits(32)
            syn = self.tcp(t, c, seq, 0, SYN, opts=SYN_OPTS, osum=SYN_OPTS_SUM, win=64240)
            probes += 1
            f = rng.random()
            if f < 0.01:
                self.tcp(t + rtt, s, rng.getrandbits(32), (seq + 1) & M32, SYN | ACK,
                         opts=SYN_OPTS, osum=SYN_OPTS_SUM, win=65160)
                self.tcp(t + rtt + 40, c, (seq + 1) & M32, 0, RST, win=0)
                res["open"] += 1
            elif f < 0.10:
                self.tcp(t + rtt, s, 0, (seq + 1) & M32, RST | ACK, win=0)
                res["refused"] += 1
            elif f < 0.13:
                self.icmp_unreach(t + rtt // 2, public_addr(rng), syn)
                res["unreachable"] += 1
            else:
                for d in (1_000_000, 3_000_000):
                    self.tcp(t + d, c, seq, 0, SYN, opts=SYN_OPTS, osum=SYN_OPTS_SUM, win=64240)
                    probes += 1
                res["silent"] += 1
            t += gap
        return dict(kind="outbound_sweep", source=ip4s(host), direction="outbound", protocol="tcp",
                    ports=[port], targets=count, probes=probes, targets_by_outcome=res, start_us=t0,
                    end_us=t + 3_000_000)

    def icmp_sweep(self, t0, scanner, first, count, rate):
        rng = self.rng
        targets = list(range(first, first + count))
        rng.shuffle(targets)
        gap = int(1e6 / rate)
        t = t0
        ident = rng.getrandbits(16)
        res = {"answered": 0, "silent": 0}
        for k, a in enumerate(targets):
            self.icmp_echo(t, scanner, a, 49, 8, ident, k & 0xFFFF)
            if a in self.client_set and rng.random() < 0.8:
                self.icmp_echo(t + 400, a, scanner, 64, 0, ident, k & 0xFFFF)
                res["answered"] += 1
            else:
                res["silent"] += 1
            t += gap
        return dict(kind="icmp_sweep", source=ip4s(scanner), direction="inbound", protocol="icmp",
                    targets=count, target_range=[ip4s(first), ip4s(first + count - 1)],
                    probes=count, targets_by_outcome=res, start_us=t0, end_us=t)

    # --- main loop -------------------------------------------------------------

    def run(self, n_packets, out_path):
        rng = self.rng
        D = self.duration_us
        scale = lambda want, lo: max(lo, min(want, n_packets // 250))
        sweep_n = scale(2000, 40)
        scan_ports = range(1, 1 + (1000 if n_packets >= 100_000 else max(40, n_packets // 100)))
        out_n = scale(1500, 30)
        icmp_n = scale(1024, 30)
        compromised = self.clients[len(self.clients) // 3]
        truth = [
            self.port_sweep(int(D * 0.10), ip4("203.0.113.66"), 23, ip4("192.168.20.0"), sweep_n, 200),
            self.port_scan(int(D * 0.30), ip4("198.51.100.77"), self.web, scan_ports,
                           {22, 80, 443} & set(scan_ports), 500),
            self.outbound_sweep(int(D * 0.50), compromised, 445, out_n, 50),
            self.icmp_sweep(int(D * 0.70), ip4("192.0.2.99"), ip4("192.168.32.0"), icmp_n, 100),
        ]
        self.used_clients.add(compromised)
        scan_end = max(x["end_us"] for x in truth)
        heap = self.heap
        scanner_packets = len(heap)
        if scanner_packets > n_packets * 0.5 or scan_end > D * 0.9:
            sys.exit("--packets or --duration too small for the scanners (%d packets, %.0f s)"
                     % (scanner_packets, scan_end / 1e6))

        f = open(out_path, "wb")
        f.write(PCAP_HDR.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        pop = heapq.heappop
        rec = REC_HDR.pack
        rnd = rng.random
        log = math.log
        benign = self.benign
        start = self.start
        chunk = []
        app = chunk.append
        written = 0
        nbytes = 24
        convs = 0
        t = 0
        # Conversations arrive as a Poisson process whose rate spends the packet
        # budget over the capture; the mean conversation size it needs is
        # measured as we go.
        budget = n_packets - scanner_packets
        mean_us = int(D * 0.99) * 10.0 / budget
        while written + len(heap) < n_packets:
            t += int(-mean_us * log(1.0 - rnd())) + 1
            while heap[0][0] <= t:
                ts, pkt = pop(heap)
                ln = len(pkt)
                app(rec(start + ts // 1_000_000, ts % 1_000_000, ln, ln))
                app(pkt)
                written += 1
                if not heap:
                    break
            benign(t)
            convs += 1
            if not convs & 1023:
                per_conv = (written + len(heap) - scanner_packets) / convs
                mean_us = int(D * 0.99) * per_conv / budget
                if len(chunk) > 200_000:
                    data = b"".join(chunk)
                    f.write(data)
                    nbytes += len(data)
                    del chunk[:]
        last_ts = 0
        while heap and written < n_packets:
            ts, pkt = pop(heap)
            ln = len(pkt)
            app(rec(start + ts // 1_000_000, ts % 1_000_000, ln, ln))
            app(pkt)
            written += 1
            last_ts = ts
        data = b"".join(chunk)
        f.write(data)
        nbytes += len(data)
        f.close()
        if last_ts < scan_end:
            sys.exit("internal error: capture ended before the scanners finished")
        return truth, written, nbytes, convs, last_ts


SYN_OPTS_SUM = word_sum(SYN_OPTS)
NMAP_OPTS_SUM = word_sum(NMAP_OPTS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=1_000_000, help="packets to write (default 1000000)")
    ap.add_argument("--out", required=True, help="output pcap; ground truth goes to OUT.truth.json")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1); same seed, same file")
    ap.add_argument("--duration", type=float, default=600.0, help="capture length in seconds (default 600)")
    ap.add_argument("--start", type=int, default=1_709_294_400,
                    help="capture start, Unix seconds (default 2024-03-01T12:00:00Z)")
    ap.add_argument("--clients", type=int, default=3000, help="home clients (default 3000)")
    ap.add_argument("--servers", type=int, default=20000, help="external servers (default 20000)")
    args = ap.parse_args()
    if args.packets < 5000:
        ap.error("--packets must be at least 5000")
    if not 10 <= args.duration <= 86400:
        ap.error("--duration must be between 10 and 86400 seconds")
    if not 100 <= args.clients <= 12000:
        ap.error("--clients must be between 100 and 12000")

    t0 = time.monotonic()
    g = Gen(args)
    truth, written, nbytes, convs, last_ts = g.run(args.packets, args.out)
    elapsed = time.monotonic() - t0

    for x in truth:
        x["first_ts"] = args.start + x.pop("start_us") / 1e6
        x["last_ts"] = args.start + x.pop("end_us") / 1e6
    doc = {
        "pcap": os.path.abspath(args.out),
        "seed": args.seed,
        "packets": written,
        "bytes": nbytes,
        "start": args.start,
        "duration_s": round(last_ts / 1e6, 3),
        "home_networks": ["192.168.0.0/18"],
        "legend": {
            "probes": "probe packets sent, retransmissions included",
            "open": "answered SYN-ACK (the scanner then resets)",
            "refused": "answered RST",
            "unreachable": "answered ICMP host unreachable (also for the retransmission)",
            "silent": "no answer; nmap-style scanners retry once, connect() twice",
            "answered": "echo reply",
        },
        "scanners": truth,
        "benign": {
            "conversations": convs,
            "home_clients": len(g.used_clients),
            "external_peers": len(g.used_servers),
            **g.stats,
            "notes": [
                "192.168.0.53 (home DNS resolver) contacts many external servers on UDP 53, "
                "nearly all answered: not a scanner",
                "192.168.0.10 (home web server, 80/443) and 192.168.0.25 (mail, 25) accept "
                "connections from many external clients: not scanners",
                "about 3% of ordinary outbound connections are refused or unanswered",
                "the outbound sweeper %s is also an ordinary client" % truth[2]["source"],
            ],
        },
    }
    with open(args.out + ".truth.json", "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    err = sys.stderr
    print("wrote %s: %d packets, %.1f MB, %.0f s of traffic, %d benign conversations, in %.1f s"
          % (args.out, written, nbytes / 1e6, last_ts / 1e6, convs, elapsed), file=err)
    print("ground truth (%s.truth.json):" % args.out, file=err)
    for x in truth:
        where = x.get("target") or "-".join(x.get("target_range", [])) or "%d external hosts" % x["targets"]
        ports = ("ports %d-%d" % tuple(x["port_range"]) if "port_range" in x
                 else "port %d" % x["ports"][0] if "ports" in x else "echo")
        outcomes = x.get("targets_by_outcome") or x["ports_by_outcome"]
        print("  %-14s %-15s %-8s %-12s -> %s, %d probes, %s"
              % (x["kind"], x["source"], x["direction"], ports, where, x["probes"],
                 ", ".join("%s %d" % kv for kv in outcomes.items())), file=err)


if __name__ == "__main__":
    main()
