"""Streaming: event by event, from numpy, pandas and pyarrow, and from
threads, with equal results."""

import ipaddress
import json
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import sweepwatch
from conftest import DATA, FIXTURES, SAMPLE, needs


def run(columns, **kwargs):
    det = sweepwatch.Detector(hash_seed=1, **kwargs)
    return [v.to_dict() for v in det.observe_columns(columns) + det.flush()]


@pytest.mark.parametrize("path", [SAMPLE, FIXTURES / "stealth-fin-sweep.pcap",
                                  DATA / "ctu-malware" / "botnet4.conn.log"],
                         ids=lambda p: p.name)
def test_numpy_pandas_and_arrow_give_the_same_verdicts(path):
    # Probes a capture ends before answering count as unanswered.
    events = sweepwatch.read_events(needs(path), pending_unanswered=True)
    want = run(events)
    assert want, "the input has scanners"
    assert run(pd.DataFrame(events)) == want
    assert run(pa.table({k: pa.array(list(v)) if v.dtype == object else v
                         for k, v in events.items()})) == want
    # Integer addresses (the fast path) and IP protocol numbers.
    fast = dict(events)
    for col in ("src", "dst"):
        if all(ipaddress.ip_address(a).version == 4 for a in events[col]):
            fast[col] = np.array([int(ipaddress.ip_address(a)) for a in events[col]], dtype=np.uint32)
    fast["proto"] = np.array([{"tcp": 6, "udp": 17, "icmp": 1}.get(p, 47) for p in events["proto"]])
    fast["ts"] = events["ts"].astype("datetime64[us]").astype(np.int64) / 1e6
    assert run(fast) == want


def test_the_sample_streamed_matches_detect_on_its_scanner():
    # read_events gives the file's events in its order, without the
    # command's reordering window: on a capture in time order the same.
    events = sweepwatch.read_events(SAMPLE)
    assert run(events) == [v.to_dict() for v in sweepwatch.detect(SAMPLE, hash_seed=1)]
    # The technique column: stealth FIN probes keep their name.
    fin = sweepwatch.read_events(FIXTURES / "stealth-fin-sweep.pcap", pending_unanswered=True)
    assert {v["technique"] for v in run(fin)} == {"fin"}
    no_technique = {k: v for k, v in fin.items() if k != "technique"}
    assert {v["technique"] for v in run(no_technique)} == {"syn"}


def test_event_by_event_equals_columns():
    events = sweepwatch.read_events(SAMPLE)
    det = sweepwatch.Detector(hash_seed=1)
    one = []
    for i in range(len(events["ts"])):
        one += det.observe(events["ts"][i], events["src"][i], events["dst"][i],
                           int(events["dst_port"][i]), events["proto"][i], events["outcome"][i],
                           src_port=int(events["src_port"][i]))
        one += []
    one += det.flush()
    no_technique = {k: v for k, v in events.items() if k != "technique"}
    assert [v.to_dict() for v in one] == run(no_technique)


def test_a_planted_sweep_is_found_at_its_fifth_host():
    n = 8
    ts = 1_700_000_000 + np.arange(n)
    det = sweepwatch.Detector(hash_seed=1)
    got = det.observe_columns(ts=ts, src=["198.51.100.7"] * n,
                              dst=[f"192.168.0.{i + 1}" for i in range(n)],
                              dst_port=np.full(n, 445), proto=["tcp"] * n,
                              outcome=["unanswered"] * n)
    assert [(v.kind, v.targets, v.ports) for v in got] == [("port_sweep", 5, [445])]
    assert got[0].ts == pd.Timestamp(1_700_000_004, unit="s", tz="UTC").to_pydatetime()
    final = det.flush()
    assert [(v.final, v.targets) for v in final] == [(True, 8)]
    calls = []
    det = sweepwatch.Detector(hash_seed=1, on_verdict=calls.append)
    also = []
    det.observe_columns(ts=ts, src=[ipaddress.ip_address("198.51.100.7")] * n,
                        dst=[ipaddress.ip_address(f"192.168.0.{i + 1}").packed for i in range(n)],
                        dst_port=[445] * n, proto=[6] * n, outcome=[3] * n, callback=also.append)
    assert [v.targets for v in calls] == [5] and also == calls


def test_four_threads_give_what_one_thread_gives():
    # The events of six real captures, each moved to start at the same
    # second, so that sources of all of them are active at once; each
    # source's events go to one thread, in order; the detector is shared.
    # Each capture lasts under 10 s: no timeout or rotation of the
    # detector's clock falls between them, so which thread runs ahead
    # cannot change a verdict (a thread hours ahead could end another's
    # episodes).
    captures = [SAMPLE] + [needs(DATA / "bro-simple-scan" / n) for n in (
        "port_scan.pcap", "scan_with_zero_windows.pcap")] + [
        needs(DATA / "slips" / "test12-icmp-portscan.pcap"),
        FIXTURES / "mixed-sS-sU-PE.pcap", FIXTURES / "stealth-fin-sweep.pcap"]
    parts = []
    for path in captures:
        ev = sweepwatch.read_events(path, pending_unanswered=True)
        assert ev["ts"][-1] - ev["ts"][0] < np.timedelta64(10, "s"), path
        ev["ts"] = ev["ts"] - ev["ts"][0] + np.datetime64("2026-01-01T00:00:00", "us")
        parts.append(ev)
    events = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(events["ts"], kind="stable")
    events = {k: v[order] for k, v in events.items()}
    one = run(events)
    sources = sorted(set(events["src"]))
    assert len({v["src"] for v in one}) >= 5, one
    det = sweepwatch.Detector(hash_seed=1)
    got = [[] for _ in range(4)]
    errors = []

    def feed(i):
        try:
            mine = np.isin(events["src"], sources[i::4])
            mine = {k: v[mine] for k, v in events.items()}
            # In slices, so the threads interleave.
            for s in range(0, len(mine["ts"]), 97):
                got[i] += det.observe_columns({k: v[s:s + 97] for k, v in mine.items()})
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=feed, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    many = [v.to_dict() for part in got for v in part] + [v.to_dict() for v in det.flush()]
    key = json.dumps
    assert sorted(many, key=key) == sorted(one, key=key)
    assert det.stats()["events"] == len(events["ts"])


def test_a_frame_with_its_own_column_names():
    # Zeek's names, mapped by `columns`; the rest by their own names.
    events = sweepwatch.read_events(SAMPLE)
    frame = pd.DataFrame(events).rename(columns={"src": "id.orig_h", "dst": "id.resp_h",
                                                 "dst_port": "id.resp_p"})
    mapped = {"src": "id.orig_h", "dst": "id.resp_h", "dst_port": "id.resp_p"}
    assert run_mapped(frame, mapped) == run(events)
    with pytest.raises(ValueError, match=r"column 'id.orig_p' \(src_port\) is not in the data"):
        run_mapped(frame, dict(mapped, src_port="id.orig_p"))
    with pytest.raises(ValueError, match="columns: no such column 'source'"):
        run_mapped(frame, {"source": "id.orig_h"})


def run_mapped(frame, mapped):
    det = sweepwatch.Detector(hash_seed=1)
    return [v.to_dict() for v in det.observe_columns(frame, columns=mapped) + det.flush()]


def zeek_rows(path):
    """The rows of a Zeek TSV log, as dicts of its own fields."""
    fields = None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif not line.startswith("#") and fields:
            yield dict(zip(fields, line.split("\t")))


def test_read_events_gives_zeek_s_own_view_of_each_host():
    path = needs(DATA / "ctu-normal" / "normal43-day1.conn.log")
    said = {"T": True, "F": False, "-": None}
    # Each connection by its time and addresses (ICMP's ports are its type
    # and code in the log, 0 in the events), as the log has it.
    want = {}
    for r in zeek_rows(path):
        secs, _, frac = r["ts"].partition(".")
        micros = int(secs) * 1_000_000 + int((frac + "000000")[:6])
        key = (micros, r["id.orig_h"], r["id.resp_h"])
        want.setdefault(key, set()).add((said[r["local_orig"]], said[r["local_resp"]]))
    events = sweepwatch.read_events(path)
    got = {}
    for i in range(len(events["ts"])):
        key = (int(events["ts"][i].astype(np.int64)), events["src"][i], events["dst"][i])
        got[key] = (events["src_local"][i], events["dst_local"][i])
    assert len(got) > 1000
    assert all(got[k] in want[k] for k in got)
    assert {v[0] for v in got.values()} == {True, False}


def test_the_engine_s_view_of_local_hosts_streams_as_detect_reads_it(tmp_path):
    # A Zeek log whose sensor counts a public address as its own: the host
    # tries port 445 on 20 outside hosts and none answers. Zeek says which
    # side is local; the default home networks (private ranges) would not.
    log = tmp_path / "conn.log"
    rows = [{"ts": 1_700_000_000 + i, "uid": f"C{i}", "id.orig_h": "198.51.100.9",
             "id.orig_p": 40_000 + i, "id.resp_h": f"203.0.113.{i + 1}", "id.resp_p": 445,
             "proto": "tcp", "conn_state": "S0", "local_orig": True, "local_resp": False,
             "history": "S", "orig_pkts": 1, "resp_pkts": 0} for i in range(20)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    targets = len({r["id.resp_h"] for r in rows})

    want = [v.to_dict() for v in sweepwatch.detect(log, hash_seed=1)]
    assert {(v["kind"], v["src"]) for v in want} == {("outbound_sweep", "198.51.100.9")}
    assert max(v["targets"] for v in want) == targets
    events = sweepwatch.read_events(log)
    assert list(events["src_local"]) == [True] * 20 and list(events["dst_local"]) == [False] * 20
    assert run(events) == want
    assert run(pd.DataFrame(events)) == want
    # Without the engine's view the host is no one's: no outbound sweep.
    blind = {k: v for k, v in events.items() if k not in ("src_local", "dst_local")}
    assert all(v["kind"] != "outbound_sweep" for v in run(blind))
    # Home networks given replace the engine's view, in both.
    nets = ["203.0.113.0/24"]
    assert run(events, home_nets=nets) == [
        v.to_dict() for v in sweepwatch.detect(log, hash_seed=1, home_nets=nets)]


def test_a_locality_column_takes_true_false_and_none_only():
    base = {"ts": [1.0, 2.0], "src": ["10.0.0.1"] * 2, "dst": ["10.0.0.2"] * 2,
            "dst_port": [22, 22], "proto": ["tcp"] * 2, "outcome": ["refused"] * 2}
    det = sweepwatch.Detector(hash_seed=1)
    det.observe_columns(base, src_local=np.array([True, False]), dst_local=[None, pd.NA])
    with pytest.raises(ValueError, match=r"column src_local, row 1: 'yes' is not True, False or None"):
        det.observe_columns(base, src_local=np.array([True, "yes"], dtype=object))
    with pytest.raises(TypeError, match="column dst_local: values of type int64"):
        det.observe_columns(base, dst_local=np.array([1, 0]))
    assert det.stats()["events"] == 2
