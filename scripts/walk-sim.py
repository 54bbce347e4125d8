#!/usr/bin/env python3
"""How often the sequential test reports a peer-to-peer client, by simulation.

A client makes N first contacts in random order, F of them failing. The walk
steps +1 a failure, -1 an answer (the defaults' +-355/256 nat, in units), and
decides at +4 (1176/256 nat rounds up to four failures); at -4 the source is
benign. Evidence (failed and answered counts) starts at the first failure.
Three rules, as the README compares them:

  restart   the walk starts over at 0 when it reaches -4 (TRW)
  held      the walk is held at -4
  held+share  held, and a decision also needs failed >= answered in evidence

Usage: scripts/walk-sim.py [TRIALS]   (default 20000; seed 1)
"""
import random
import sys


def reported(seq, held, share):
    walk = failed = answered = 0
    started = False
    for x in seq:
        walk += x
        if walk <= -4:
            walk = -4 if held else 0
        started |= x == 1
        if started:
            failed += x == 1
            answered += x == -1
        if walk >= 4 and failed + answered >= 5 and (not share or failed >= answered):
            return True
    return False


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rng = random.Random(1)
    print("contacts failing  restart  held  held+share")
    for n, f in [(50, 17), (100, 33), (100, 38), (1000, 330)]:
        rates = []
        for held, share in [(False, False), (True, False), (True, True)]:
            hits = 0
            for _ in range(trials):
                seq = [1] * f + [-1] * (n - f)
                rng.shuffle(seq)
                hits += reported(seq, held, share)
            rates.append(f"{100 * hits / trials:5.1f}%")
        print(f"{n:8} {f:7}  " + "  ".join(rates))


main()
