#!/usr/bin/env python3
"""A capture of scanners split over three sensors as a packet broker splits
flows (by a hash of the address pair), for the multi-sensor test.

    tests/nats/make-split-capture.py OUTDIR

Writes OUTDIR/whole.pcap, OUTDIR/sensor0.pcap .. sensor2.pcap and
OUTDIR/truth.json. Eight hours at a gateway: benign clients of
10.1.0.0/16 reach servers on 443 (answered), and four scanners probe the
home network 10.2.0.0/16, every probe answered by a RST:

  * 203.0.113.10 sweeps 22/tcp across 60 hosts in a minute;
  * 203.0.113.20 scans 200 ports of 10.2.0.5 in a minute;
  * 203.0.113.30 probes 23/tcp on 9 hosts, chosen so that no sensor sees
    more than 4 of them (below the default 5 targets);
  * 203.0.113.40, slow: 3389/tcp on 12 hosts, one every 40 minutes, no
    sensor seeing more than 4.

truth.json says, per scanner, its targets and ports, and how many distinct
targets and ports each sensor saw. Standard library only.
"""

import json
import os
import random
import struct
import sys
import zlib

SENSORS = 3
START = 1_700_000_000


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip(a):
    return bytes(int(x) for x in a.split("."))


def tcp_packet(src, dst, sport, dport, flags, seq=1, ack=0):
    s, d = ip(src), ip(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
    pseudo = s + d + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, s, d)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return eth + hdr + tcp


def sensor_of(a, b):
    """The broker's choice: a hash of the unordered address pair."""
    lo, hi = sorted([ip(a), ip(b)])
    return zlib.crc32(lo + hi) % SENSORS


def main():
    out = sys.argv[1]
    rng = random.Random(7)
    packets = []  # (time, src, dst, bytes)

    def conn(t, src, dst, sport, dport, answered):
        packets.append((t, src, dst, tcp_packet(src, dst, sport, dport, 0x02)))
        if answered:
            packets.append((t + 0.001, dst, src, tcp_packet(dst, src, dport, sport, 0x12, 7, 2)))
            packets.append((t + 0.002, src, dst, tcp_packet(src, dst, sport, dport, 0x10, 2, 8)))
        else:
            packets.append((t + 0.001, dst, src, tcp_packet(dst, src, dport, sport, 0x14, 0, 2)))

    for i in range(4000):
        c = "10.1.%d.%d" % (rng.randrange(4), rng.randrange(1, 250))
        srv = "198.18.%d.%d" % (rng.randrange(8), rng.randrange(1, 250))
        conn(START + rng.uniform(0, 8 * 3600), c, srv, rng.randrange(32768, 61000), 443, True)

    truth = {}

    def scanner(src, probes):
        seen = [{"targets": set(), "ports": set()} for _ in range(SENSORS)]
        for t, dst, port in probes:
            conn(t, src, dst, rng.randrange(32768, 61000), port, False)
            s = sensor_of(src, dst)
            seen[s]["targets"].add(dst)
            seen[s]["ports"].add(port)
        truth[src] = {
            "targets": len({d for _, d, _ in probes}),
            "ports": len({p for _, _, p in probes}),
            "per_sensor": [
                {"targets": len(x["targets"]), "ports": len(x["ports"])} for x in seen
            ],
        }

    t0 = START + 600
    scanner("203.0.113.10", [(t0 + i, "10.2.1.%d" % (i + 1), 22) for i in range(60)])
    t0 = START + 3600
    scanner("203.0.113.20", [(t0 + i * 0.2, "10.2.0.5", 1000 + i) for i in range(200)])

    def few(src, port, n, t0, step, subnet):
        """n targets, no sensor seeing more than 4."""
        per = [0] * SENSORS
        chosen = []
        host = 1
        while len(chosen) < n:
            dst = "10.2.%d.%d" % (subnet, host)
            host += 1
            s = sensor_of(src, dst)
            if per[s] < 4:
                per[s] += 1
                chosen.append(dst)
        return [(t0 + i * step, d, port) for i, d in enumerate(chosen)]

    scanner("203.0.113.30", few("203.0.113.30", 23, 9, START + 7200, 5, 3))
    scanner("203.0.113.40", few("203.0.113.40", 3389, 12, START + 300, 2400, 4))

    packets.sort(key=lambda p: p[0])
    os.makedirs(out, exist_ok=True)
    files = [open(os.path.join(out, "whole.pcap"), "wb")] + [
        open(os.path.join(out, "sensor%d.pcap" % s), "wb") for s in range(SENSORS)
    ]
    for f in files:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for t, src, dst, b in packets:
        sec, usec = int(t), int(round((t - int(t)) * 1e6)) % 1_000_000
        rec = struct.pack("<IIII", sec, usec, len(b), len(b)) + b
        files[0].write(rec)
        files[1 + sensor_of(src, dst)].write(rec)
    for f in files:
        f.close()
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
