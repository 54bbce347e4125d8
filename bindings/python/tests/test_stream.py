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
