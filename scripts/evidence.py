#!/usr/bin/env python3
"""Independent evidence check of sweepwatch verdicts against the raw input.

Usage:
    sweepwatch detect --json [--home-net CIDR]... FILE > verdicts.jsonl
    scripts/evidence.py [--strict] [--home-net CIDR]... FILE < verdicts.jsonl
    scripts/evidence.py --run [--home-net CIDR]... FILE     # runs $SWEEPWATCH itself

FILE is a pcap/pcapng capture (read with `tshark -T fields`), a Zeek conn.log
(tab-separated or JSON lines), a Suricata EVE JSON file or Argus flows as
`ra -c ,` prints them, plain or gzip.
--home-net may be repeated or comma-separated; without it the detector's default
home networks (RFC 1918, 100.64.0.0/10, fc00::/7) are assumed.  --run runs the
detector (env SWEEPWATCH, default target/release/sweepwatch) with the same
--home-net options and checks its output.

For every verdict on stdin (final or not) this counts, exactly and from the raw
file, what the verdict's `src` sent with the verdict's `proto` up to the
verdict's `ts` (inclusive; for logs a record counts when its flow *started* by
then; a ts on a whole second, as the detector prints times it keeps in seconds,
covers that whole second):

    hosts_exact   distinct target hosts probed
    ports_exact   distinct destination ports probed
    pairs_exact   distinct (target, port) probes
    failed_exact  distinct (target, port) probes of which at least one attempt
                  had no positive answer

The count is generous -- a superset of anything the detector may count:
  pcap TCP  any segment from src that opens no connection: SYN without ACK
            (retransmissions included), or a stealth segment with no payload
            (NULL, FIN, Xmas, other no-ACK/no-RST flag sets, ACK alone, FIN+ACK
            alone) on a 4-tuple where no SYN was seen earlier in either
            direction. Positive answer: SYN+ACK from target:port to src.
  pcap UDP  every datagram from src. Positive: a datagram from target:port to src.
  pcap ICMP echo requests (ICMP 8 / ICMPv6 128) from src, port 0. Positive:
            an echo reply from target to src.
  pcap other IP protocols other than TCP/UDP/ICMP; "port" = protocol number.
  For pcaps an attempt counts as answered only when its positive answer came
  within 5 s after it and no later than the verdict's ts.
  Zeek      every record with id.orig_h == src and the verdict's proto (ICMP:
            port 0). Positive: TCP history with `h` (responder SYN+ACK; without
            history: conn_state S1/S2/S3/SF/RSTO/RSTR), UDP/ICMP resp_pkts > 0.
  Argus     every record (`ra -c ,` CSV, found by its header names) with SrcAddr
            == src and the verdict's proto (ICMP: port 0), timed by StartTime
            (Unix seconds, a date and time read as UTC, or a time of day counted
            from 1970-01-01, a step back of 12 h starting the next day).
            Positive: TCP State flags whose destination side has SYN, or a word
            state other than REQ/RST/INT/TIM; UDP/ICMP Dir `<->`.
  EVE       every flow/netflow record with src_ip == src and the verdict's proto,
            timed by flow.start (else timestamp). Positive: TCP tcp_flags_tc
            with SYN and ACK; UDP/ICMP pkts_toclient > 0 in a flow whose
            flow.state is `established` (an ICMP error counts as a to-client
            packet of the UDP flow it answers).

Checks (by default a tolerance only above 16, since the detector's counts are
exact up to at least 16 and estimates above: limit = exact if exact <= 16 else
ceil(exact * 1.10); with --strict none: limit = exact):

    targets <= hosts_exact     ports_count <= ports_exact
    probes  <= pairs_exact     failed      <= failed_exact

and three exact consistency checks: every port in `ports` was probed, every
host in `sample` was probed, and `direction` agrees with whether src is a home
address (outbound/internal from home, inbound/external from outside).

Prints one line per verdict with both sides; exit 0 when every verdict passes,
1 on any violation, 2 on usage or input errors.
"""

import bisect
import calendar
import gzip
import ipaddress
import json
import os
import socket
import subprocess
import sys
from collections import defaultdict

TOLERANCE_ABOVE = 16
ANSWER_WINDOW_US = 5_000_000
DEFAULT_HOME = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]

# --------------------------------------------------------------------------- #
# small helpers


def die(msg, code=2):
    print(f"evidence.py: {msg}", file=sys.stderr)
    sys.exit(code)


def norm_ip(s):
    s = (s or "").strip()
    if not s or s == "-":
        return None
    try:
        return ipaddress.ip_address(s).compressed
    except ValueError:
        return s


def epoch_to_us(s):
    """'1505072198.895530000' or 1655157610.743948 -> integer microseconds (floor)."""
    if isinstance(s, (int, float)):
        s = repr(float(s)) if isinstance(s, float) else str(s)
    s = str(s).strip()
    neg = s.startswith("-")
    if neg:
        s = s[1:]
    if "e" in s.lower():  # exotic float formatting
        return int(float(s) * 1_000_000)
    whole, _, frac = s.partition(".")
    us = int(whole or 0) * 1_000_000 + int((frac + "000000")[:6])
    return -us if neg else us


def rfc3339_to_us(s):
    """'2021-06-06T16:38:55.855844+0200', '...Z', '...+02:00' -> epoch microseconds."""
    s = s.strip()
    date, _, rest = s.partition("T")
    if not rest:
        date, _, rest = s.partition(" ")
    y, mo, d = (int(x) for x in date.split("-"))
    off = 0
    for i, ch in enumerate(rest):
        if ch in "Zz":
            clock = rest[:i]
            break
        if ch in "+-" and i > 0:
            clock, tz = rest[:i], rest[i + 1:].replace(":", "")
            off = (int(tz[:2]) * 3600 + int(tz[2:4] or 0) * 60) * (1 if ch == "+" else -1)
            break
    else:
        clock = rest
    hms, _, frac = clock.partition(".")
    h, mi, sec = (int(x) for x in hms.split(":"))
    secs = calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0)) - off
    return secs * 1_000_000 + int((frac + "000000")[:6])


def any_time_to_us(v):
    if isinstance(v, (int, float)):
        return epoch_to_us(v)
    v = str(v)
    if "T" in v or (len(v) > 10 and v[4] == "-"):
        return rfc3339_to_us(v)
    return epoch_to_us(v)


STRICT = False


def limit(exact):
    if STRICT:
        return exact
    return exact if exact <= TOLERANCE_ABOVE else (exact * 11 + 9) // 10


def open_text(path):
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, "r", encoding="utf-8", errors="replace")


def sniff(path):
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as g:
            head = g.read(4)
        gz = True
    else:
        gz = False
    if head in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a"):
        return "pcap"
    with open_text(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("StartTime") and "SrcAddr" in line and "DstAddr" in line:
                return "argus"
            if line.startswith("#"):
                return "zeek-tsv"
            if line.startswith("{"):
                try:
                    rec = json.loads(line)
                except ValueError:
                    break
                if "id.orig_h" in rec:
                    return "zeek-json"
                if "event_type" in rec or "src_ip" in rec:
                    return "eve"
                continue
            break
    die(f"{path}: unknown format" + (" (gzip)" if gz else ""))


# --------------------------------------------------------------------------- #
# Evidence: per (src, proto) a list of attempts (t_us, dst, port, positive)


class Evidence:
    def __init__(self):
        self.attempts = defaultdict(list)  # (src, proto) -> [(t_us, dst, port, positive)]
        self.records = 0

    def add(self, src, proto, t_us, dst, port, positive):
        self.attempts[(src, proto)].append((t_us, dst, port, positive))

    def count(self, src, proto, ts_us):
        hosts, ports, pairs, failed = set(), set(), set(), set()
        for t, dst, port, positive in self.attempts.get((src, proto), ()):
            if t > ts_us:
                continue
            hosts.add(dst)
            ports.add(port)
            pairs.add((dst, port))
            answered = positive(ts_us) if callable(positive) else positive
            if not answered:
                failed.add((dst, port))
        return hosts, ports, pairs, failed


def proto_of_name(name):
    n = (name or "").lower()
    if n == "tcp":
        return "tcp"
    if n == "udp":
        return "udp"
    if n in ("icmp", "ipv6-icmp", "icmpv6", "icmp6"):
        return "icmp"
    return "other"


# ---- pcap via tshark ------------------------------------------------------- #

TSHARK_FIELDS = [
    "frame.time_epoch", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.proto", "ipv6.nxt",
    "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.len", "udp.srcport", "udp.dstport",
    "icmp.type", "icmpv6.type",
]
IPV6_EXT = {0, 43, 44, 60, 51, 50, 135, 139, 140}


def read_pcap(path, wanted):
    """wanted: set of (src, proto) the verdicts ask about."""
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    except FileNotFoundError:
        die("tshark not found")
    if out.returncode != 0 and not out.stdout:
        die(f"tshark failed on {path}: {out.stderr.decode(errors='replace').strip()}")
    wanted_src = {s for s, _ in wanted}

    probes = []  # (t, src, proto, dst, port)
    answers = defaultdict(list)  # (proto, from, from_port, to) -> [t]
    syn_seen = {}  # frozenset 4-tuple -> first SYN time
    for line in out.stdout.decode(errors="replace").splitlines():
        f = line.split("\t")
        if len(f) < len(TSHARK_FIELDS):
            f += [""] * (len(TSHARK_FIELDS) - len(f))
        (t, s4, d4, s6, d6, p4, p6, tsp, tdp, tfl, tlen, usp, udp_, it, i6t) = f[: len(TSHARK_FIELDS)]
        if not t:
            continue
        src, dst = (s4, d4) if s4 else (s6, d6)
        if not src:
            continue
        src, dst = norm_ip(src), norm_ip(dst)
        t = epoch_to_us(t)
        ipp = p4 if s4 else p6
        try:
            ipp = int(ipp) if ipp else -1
        except ValueError:
            ipp = -1
        if s6 and ipp in IPV6_EXT:  # extension headers: go by the dissected layer
            ipp = 6 if tfl else 17 if usp else 58 if i6t else ipp
        if ipp == 6 and tfl:
            flags = int(tfl, 0) & 0x3F
            sp, dp = int(tsp), int(tdp)
            key4 = frozenset(((src, sp), (dst, dp)))
            syn, ack, rst, fin = flags & 0x02, flags & 0x10, flags & 0x04, flags & 0x01
            payload = int(tlen or 0)
            if syn and ack and not rst:
                answers[("tcp", src, sp, dst)].append(t)
            if syn:
                syn_seen[key4] = min(t, syn_seen.get(key4, t))
            if src not in wanted_src:
                continue
            if syn and not ack:
                probes.append((t, src, "tcp", dst, dp))
            elif not syn and not rst and payload == 0:
                stealth = (not ack) or flags in (0x10, 0x11)
                first_syn = syn_seen.get(key4)
                if stealth and (first_syn is None or first_syn > t):
                    probes.append((t, src, "tcp", dst, dp))
        elif ipp == 17 and usp:
            sp, dp = int(usp), int(udp_)
            answers[("udp", src, sp, dst)].append(t)
            if src in wanted_src:
                probes.append((t, src, "udp", dst, dp))
        elif ipp in (1, 58) and (it or i6t):
            ty = int(it or i6t)
            if ty in (0, 129):
                answers[("icmp", src, 0, dst)].append(t)
            elif ty in (8, 128) and src in wanted_src:
                probes.append((t, src, "icmp", dst, 0))
        elif ipp not in (1, 6, 17, 58) and ipp >= 0:
            if src in wanted_src:
                probes.append((t, src, "other", dst, ipp))
    for v in answers.values():
        v.sort()

    ev = Evidence()
    ev.records = len(probes)
    for t, src, proto, dst, port in probes:
        if (src, proto) not in wanted:
            continue
        ans = answers.get((proto, dst, port, src), ()) if proto != "other" else ()

        def positive(ts_us, t=t, ans=ans):
            # an answer within 5 s after the attempt and no later than ts
            hi = min(t + ANSWER_WINDOW_US, ts_us)
            i = bisect.bisect_left(ans, t)
            return i < len(ans) and ans[i] <= hi

        ev.add(src, proto, t, dst, port, positive)
    return ev


# ---- Zeek conn.log --------------------------------------------------------- #

ZEEK_ESTABLISHED = {"S1", "S2", "S3", "SF", "RSTO", "RSTR"}


def zeek_record(ev, rec, wanted):
    src = norm_ip(rec.get("id.orig_h"))
    proto = proto_of_name(rec.get("proto"))
    if (src, proto) not in wanted:
        return
    dst = norm_ip(rec.get("id.resp_h"))
    ts = rec.get("ts")
    if ts in (None, "", "-"):
        return
    t = any_time_to_us(ts)
    port = 0 if proto in ("icmp", "other") else int(rec.get("id.resp_p") or 0)

    def num(k):
        v = rec.get(k)
        try:
            return int(v)
        except (TypeError, ValueError):
            return None

    hist = rec.get("history")
    hist = None if hist in (None, "-", "(empty)") else str(hist)
    state = rec.get("conn_state") or ""
    if proto == "tcp":
        positive = ("h" in hist) if hist is not None else (state in ZEEK_ESTABLISHED)
    else:
        rp = num("resp_pkts")
        if rp is not None:
            positive = rp > 0
        elif hist is not None:
            positive = "d" in hist
        else:
            positive = state == "SF"
    ev.add(src, proto, t, dst, port, positive)


def read_zeek_tsv(path, wanted):
    ev = Evidence()
    sep, fields, unset = "\t", None, "-"
    with open_text(path) as f:
        for line in f:
            line = line.rstrip("\n").rstrip("\r")
            if not line:
                continue
            if line.startswith("#"):
                if line.startswith("#separator"):
                    v = line.split(" ", 1)[1] if " " in line else "\\x09"
                    sep = v.encode().decode("unicode_escape")
                elif line.startswith("#fields"):
                    fields = line.split(sep)[1:]
                elif line.startswith("#unset_field"):
                    unset = line.split(sep)[1]
                continue
            if fields is None:
                continue
            vals = line.split(sep)
            rec = {k: (None if v == unset else v) for k, v in zip(fields, vals)}
            ev.records += 1
            zeek_record(ev, rec, wanted)
    return ev


def read_json_lines(path, wanted, kind):
    ev = Evidence()
    with open_text(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            ev.records += 1
            if kind == "zeek-json":
                zeek_record(ev, rec, wanted)
            else:
                eve_record(ev, rec, wanted)
    return ev


# ---- Argus (ra -c ,) ------------------------------------------------------ #


def argus_time_to_us(text, clock):
    """StartTime in microseconds; `clock` carries the day across times of day."""
    t = text.strip()
    if len(t) >= 8 and t[2] == ":" and t[5] == ":":
        h, m, rest = int(t[0:2]), int(t[3:5]), t[6:]
        sec, _, frac = rest.partition(".")
        tod = ((h * 60 + m) * 60 + int(sec)) * 1_000_000 + int((frac + "000000")[:6] or 0)
        if clock["last"] is not None and tod + 43_200_000_000 < clock["last"]:
            clock["day"] += 1
        clock["last"] = tod
        return clock["day"] * 86_400_000_000 + tod
    if all(c.isdigit() or c == "." for c in t):
        return epoch_to_us(t)
    return rfc3339_to_us(t[:10].replace("/", "-") + "T" + t[11:] + "Z")


def read_argus(path, wanted):
    ev = Evidence()
    clock = {"day": 0, "last": None}
    with open_text(path) as f:
        header = None
        for line in f:
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            sep = "," if "," in line else "\t"
            cells = [c.strip() for c in line.split(sep)]
            if line.startswith("StartTime"):
                header = {name: i for i, name in enumerate(cells)}
                continue
            if header is None:
                continue
            rec = {k: (cells[i] if i < len(cells) else "") for k, i in header.items()}
            ev.records += 1
            src = norm_ip(rec.get("SrcAddr"))
            proto = proto_of_name(rec.get("Proto"))
            if (src, proto) not in wanted:
                continue
            t = argus_time_to_us(rec["StartTime"], clock)
            port = 0
            if proto in ("tcp", "udp"):
                p = rec.get("Dport") or "0"
                try:
                    port = int(p, 16) if p.startswith("0x") else int(p)
                except ValueError:
                    port = socket.getservbyname(p, proto)
            state, d = rec.get("State", ""), rec.get("Dir", "")
            if proto == "tcp":
                if "_" in state:
                    positive = "S" in state.split("_", 1)[1]
                else:
                    positive = state not in ("REQ", "RST", "INT", "TIM")
            else:
                positive = "<" in d and ">" in d
            ev.add(src, proto, t, norm_ip(rec.get("DstAddr")), port, positive)
    return ev


# ---- Suricata EVE ---------------------------------------------------------- #


def eve_record(ev, rec, wanted):
    if rec.get("event_type") not in ("flow", "netflow"):
        return
    src = norm_ip(rec.get("src_ip"))
    proto = proto_of_name(rec.get("proto"))
    if (src, proto) not in wanted:
        return
    dst = norm_ip(rec.get("dest_ip"))
    flow = rec.get("flow") or rec.get("netflow") or {}
    when = flow.get("start") or rec.get("timestamp")
    if not when:
        return
    t = any_time_to_us(when)
    answered = int(flow.get("pkts_toclient") or 0) > 0
    # A to-client packet is not an answer by itself: Suricata counts an ICMP error
    # about a UDP probe as a to-client packet of that UDP flow. Only an
    # established flow was answered (a missing state is taken at its word).
    state = flow.get("state")
    if state is not None and state != "established":
        answered = False
    if proto == "tcp":
        port = int(rec.get("dest_port") or 0)
        tcp = rec.get("tcp") or {}
        tc = tcp.get("tcp_flags_tc")
        try:
            tc = int(tc, 16) if isinstance(tc, str) else int(tc or 0)
        except ValueError:
            tc = 0
        positive = (tc & 0x12) == 0x12
    elif proto == "udp":
        port = int(rec.get("dest_port") or 0)
        positive = answered
    else:
        port = 0
        positive = answered
    ev.add(src, proto, t, dst, port, positive)


# --------------------------------------------------------------------------- #


def parse_args(argv):
    homes, files, run = [], [], False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        if a == "--run":
            run = True
        elif a == "--strict":
            global STRICT
            STRICT = True
        elif a == "--home-net":
            i += 1
            if i >= len(argv):
                die("--home-net needs a CIDR")
            homes += [x for x in argv[i].split(",") if x and x != "-"]
        elif a.startswith("--home-net="):
            homes += [x for x in a.split("=", 1)[1].split(",") if x and x != "-"]
        elif a.startswith("-") and a != "-":
            die(f"unknown option {a}")
        else:
            files.append(a)
        i += 1
    if len(files) != 1:
        die("need exactly one input FILE (see --help)")
    return homes, files[0], run


def main(argv):
    homes, path, run = parse_args(argv)
    if not os.path.exists(path):
        die(f"{path}: no such file")
    try:
        nets = [ipaddress.ip_network(h, strict=False) for h in (homes or DEFAULT_HOME)]
    except ValueError as e:
        die(f"bad --home-net: {e}")

    if run:
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        binary = os.environ.get("SWEEPWATCH", os.path.join(repo, "target", "release", "sweepwatch"))
        cmd = [binary, "detect", "--json", "-q"]
        for h in homes:
            cmd += ["--home-net", h]
        p = subprocess.run(cmd + [path], stdout=subprocess.PIPE, check=False)
        if p.returncode != 0:
            die(f"{binary} exited {p.returncode}", 1)
        text = p.stdout.decode(errors="replace")
    else:
        text = sys.stdin.read()

    verdicts = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            v = json.loads(line)
        except ValueError:
            die(f"verdict line {n} is not JSON: {line[:80]}")
        if not isinstance(v, dict) or "src" not in v or "ts" not in v or "proto" not in v:
            die(f"verdict line {n} lacks src/ts/proto: {line[:80]}")
        verdicts.append(v)
    if not verdicts:
        print(f"evidence: no verdicts for {path}")
        return 0

    wanted = {(norm_ip(v["src"]), v["proto"]) for v in verdicts}
    kind = sniff(path)
    if kind == "pcap":
        ev = read_pcap(path, wanted)
    elif kind == "zeek-tsv":
        ev = read_zeek_tsv(path, wanted)
    elif kind == "argus":
        ev = read_argus(path, wanted)
    else:
        ev = read_json_lines(path, wanted, kind)

    def is_home(ip):
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            return None
        return any(a.version == n.version and a in n for n in nets)

    bad = 0
    for n, v in enumerate(verdicts, 1):
        src, proto = norm_ip(v["src"]), v["proto"]
        ts = rfc3339_to_us(v["ts"])
        if ts % 1_000_000 == 0:
            # a ts on a whole second is taken to be of second resolution (the
            # detector keeps first/last seen in seconds): count the whole second
            ts += 999_999
        hosts, ports, pairs, failed = ev.count(src, proto, ts)
        exact = {"targets": len(hosts), "ports_count": len(ports), "probes": len(pairs), "failed": len(failed)}
        names = {"targets": "hosts", "ports_count": "ports", "probes": "pairs", "failed": "failed"}
        problems, parts = [], []
        for field, ex in exact.items():
            val = v.get(field)
            if not isinstance(val, int):
                problems.append(f"{field} missing")
                continue
            lim = limit(ex)
            rel = ">" if val > lim else "<="
            parts.append(f"{field} {val}{rel}{names[field]} {ex}" + (f"(lim {lim})" if lim != ex else ""))
            if val > lim:
                problems.append(f"{field} {val} > {names[field]}_exact {ex}" + (f" (limit {lim})" if lim != ex else ""))
        vports = v.get("ports") or []
        stray = [p for p in vports if p not in ports and not (proto == "other" and p == 0)]
        if stray:
            problems.append(f"ports {stray} never probed by src/{proto} by ts")
        stray = [h for h in (v.get("sample") or []) if norm_ip(h) not in hosts]
        if stray:
            problems.append(f"sample {stray} never probed by src/{proto} by ts")
        home = is_home(src)
        d = v.get("direction")
        if home is not None and d in ("outbound", "internal", "inbound", "external"):
            if (d in ("outbound", "internal")) != home:
                problems.append(f"direction {d} but src is {'a home' if home else 'not a home'} address")
        tag = "final" if v.get("final") else "live"
        head = (f"#{n} {src} {v.get('kind')} {proto} {d} {tag} ts={v['ts']}"
                + (f" technique={v['technique']}" if "technique" in v else ""))
        if problems:
            bad += 1
            print(f"VIOLATION {head}: " + "; ".join(problems) + " | " + ", ".join(parts))
        else:
            print(f"ok {head} | " + ", ".join(parts))
    print(f"evidence: {len(verdicts) - bad}/{len(verdicts)} verdicts consistent with {os.path.basename(path)} ({kind})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
