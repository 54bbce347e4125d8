#!/usr/bin/env python3
"""Writes a synthetic pcap for measuring the plugin's overhead.

TCP only, Ethernet + IPv4 + 20-byte TCP headers, no payload, checksums left
zero (run Suricata with `-k none`). Home clients 10.0.0.0/8 open connections to
external servers; of the attempts 70 % complete (SYN, SYN-ACK, ACK, FIN-ACK,
FIN-ACK, ACK), 20 % are refused (SYN, RST-ACK) and 10 % go unanswered (SYN).
A few external scanners sweep 10.20.0.0/16 on one port and a few scan many
ports of one host, all refused or unanswered, so the detector has verdicts to
write. Packets are 1 ms apart in capture time. Same seed, same file.

Usage: gen-capture.py OUTPUT.pcap [PACKETS]   (default 1,200,000 packets)
"""
import random
import struct
import sys

SYN, RST, ACK, FIN = 0x02, 0x04, 0x10, 0x01


def ip4(a):
    return struct.pack("!I", a)


def main():
    out = sys.argv[1]
    want = int(sys.argv[2]) if len(sys.argv) > 2 else 1_200_000
    rng = random.Random(7)
    eth = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
    t_us = 1_700_000_000 * 1_000_000
    count = 0
    ip_id = 0
    with open(out, "wb") as f:
        # pcap global header: microsecond resolution, Ethernet.
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

        def pkt(src, dst, sport, dport, flags, seq, ack):
            nonlocal t_us, count, ip_id
            ip_id = (ip_id + 1) & 0xFFFF
            tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ip_id, 0x4000, 64, 6, 0,
                             ip4(src), ip4(dst))
            frame = eth + ip + tcp
            f.write(struct.pack("<IIII", t_us // 1_000_000, t_us % 1_000_000, len(frame), len(frame)))
            f.write(frame)
            t_us += 1000
            count += 1

        scanners = [0xCB007100 + i for i in range(1, 5)]  # 203.0.113.1-4
        conn = 0
        while count < want:
            conn += 1
            client = 0x0A000000 | rng.randrange(1, 1 << 24)
            server = rng.randrange(0x0B000000, 0xDF000000)  # public-ish space
            sport = rng.randrange(1024, 65535)
            dport = rng.choice((80, 443, 443, 443, 53, 22, 8080))
            r = rng.random()
            isn, rsn = rng.randrange(1 << 32), rng.randrange(1 << 32)
            pkt(client, server, sport, dport, SYN, isn, 0)
            if r < 0.7:
                pkt(server, client, dport, sport, SYN | ACK, rsn, isn + 1)
                pkt(client, server, sport, dport, ACK, isn + 1, rsn + 1)
                pkt(client, server, sport, dport, FIN | ACK, isn + 1, rsn + 1)
                pkt(server, client, dport, sport, FIN | ACK, rsn + 1, isn + 2)
                pkt(client, server, sport, dport, ACK, isn + 2, rsn + 2)
            elif r < 0.9:
                pkt(server, client, dport, sport, RST | ACK, 0, isn + 1)
            # else: unanswered
            if conn % 50 == 0:
                # One probe from each scanner: the first two sweep port 445 and
                # 23 across 10.20.0.0/16, the others walk the ports of one host.
                for i, s in enumerate(scanners):
                    if i < 2:
                        dst, dp = 0x0A140000 | rng.randrange(1, 1 << 16), (445, 23)[i]
                    else:
                        dst, dp = 0x0A1E0000 + i, 1 + (conn // 50) % 65000
                    probe = rng.randrange(1 << 32)
                    pkt(s, dst, 40000 + i, dp, SYN, probe, 0)
                    if rng.random() < 0.5:
                        pkt(dst, s, dp, 40000 + i, RST | ACK, 0, probe + 1)
    print(f"{out}: {count} packets, {conn} client connections", file=sys.stderr)


if __name__ == "__main__":
    main()
