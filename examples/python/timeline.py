"""The bundled sample capture's verdicts as a timeline (the README's
figure): `python examples/python/timeline.py [CAPTURE] [PNG]`."""

import pathlib
import sys

import sweepwatch

here = pathlib.Path(__file__).resolve().parent
capture = sys.argv[1] if len(sys.argv) > 1 else str(here.parent / "data" / "sample.pcap")
png = sys.argv[2] if len(sys.argv) > 2 else str(here / "timeline.png")

verdicts = sweepwatch.detect(capture)
events = sweepwatch.read_events(capture)
for v in verdicts:
    print(v)
sweepwatch.plot_timeline(verdicts, events, path=png,
                         title=f"{pathlib.Path(capture).name}: {len(verdicts)} verdicts")
print(f"wrote {png}")
