"""Events per second through `Detector.observe_columns` from numpy arrays.

The workload: 100,000 sources (one in a hundred a scanner sweeping one
port, the rest talking to a few servers), events in time order over an
hour, IPv4 addresses as integers, IP protocol numbers and outcome codes:
the columns a DataFrame of flows gives. Each run feeds a fresh detector
the same arrays in calls of `--chunk` events; the best of `--runs` is
reported, with and without the time to convert the columns.

    python bench/throughput.py [--events N] [--sources N] [--runs N]
"""

import argparse
import time

import numpy as np

import sweepwatch


def workload(events: int, sources: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, sources, events, dtype=np.uint32)
    scanner = src % 100 == 0
    base = np.uint32(0x0A000000)  # 10.0.0.0: the sources
    servers = np.uint32(0xC6336400)  # 198.51.100.0: a few servers
    dst = np.where(scanner,
                   np.uint32(0xCB007100) + rng.integers(0, 1 << 16, events, dtype=np.uint32),
                   servers + (src % 8))
    ts = np.sort(rng.integers(0, 3_600_000_000, events)) + 1_700_000_000_000_000
    return {
        "ts": ts.astype("datetime64[us]"),
        "src": base + src,
        "dst": dst.astype(np.uint32),
        "dst_port": np.where(scanner, 445, 443).astype(np.uint16),
        "proto": np.full(events, 6, dtype=np.uint8),
        "outcome": np.where(scanner, 3, 1).astype(np.uint8),  # unanswered / established
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--sources", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=1_000_000)
    a = ap.parse_args()
    cols = workload(a.events, a.sources)
    from sweepwatch._columns import pack

    best_all = best_fed = float("inf")
    verdicts = 0
    for _ in range(a.runs):
        det = sweepwatch.Detector(hash_seed=1, home_networks=["10.0.0.0/8"])
        packed = [pack({k: v[s:s + a.chunk] for k, v in cols.items()})
                  for s in range(0, a.events, a.chunk)]
        t = time.perf_counter()
        n = sum(len(det._native.observe_columns(**p)) for p in packed)
        best_fed = min(best_fed, time.perf_counter() - t)
        det = sweepwatch.Detector(hash_seed=1, home_networks=["10.0.0.0/8"])
        t = time.perf_counter()
        for s in range(0, a.events, a.chunk):
            det.observe_columns({k: v[s:s + a.chunk] for k, v in cols.items()})
        best_all = min(best_all, time.perf_counter() - t)
        verdicts = n
    print(f"{a.events:,} events, {a.sources:,} sources, calls of {a.chunk:,}: "
          f"{a.events / best_all / 1e6:.2f} M events/s from numpy arrays "
          f"({a.events / best_fed / 1e6:.2f} M/s of that in the detector's call alone); "
          f"{verdicts} verdicts; best of {a.runs}")


if __name__ == "__main__":
    main()
