"""DataFrames and pictures of verdicts; both extras optional."""

import ipaddress
import sys

import pytest

import sweepwatch
from conftest import DATA, SAMPLE, needs


def verdicts():
    return sweepwatch.detect(SAMPLE, needs(DATA / "slips" / "test12-icmp-portscan.pcap"), hash_seed=1)


def test_to_frame_has_a_row_per_verdict_and_typed_columns():
    import pandas as pd
    vs = verdicts()
    frame = sweepwatch.to_frame(vs)
    assert len(frame) == len(vs)
    assert list(frame.columns)[:3] == ["kind", "src", "direction"]
    assert str(frame["ts"].dt.tz) == "UTC"
    assert frame["targets"].tolist() == [v.targets for v in vs]
    assert isinstance(frame["src"][0], (ipaddress.IPv4Address, ipaddress.IPv6Address))
    assert set(frame["kind"]) == {v.kind for v in vs}
    assert (frame["ts"] >= frame["first_seen"]).all()
    assert isinstance(frame, pd.DataFrame)


def test_without_pandas_or_matplotlib_the_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"sweepwatch\[pandas\]"):
        sweepwatch.to_frame(verdicts())
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"sweepwatch\[plot\]"):
        sweepwatch.plot_timeline(verdicts())


def test_the_timeline_has_a_lane_per_source_and_a_marker_per_verdict(tmp_path):
    vs = verdicts()
    events = sweepwatch.read_events(SAMPLE)
    png = tmp_path / "timeline.png"
    ax = sweepwatch.plot_timeline(vs, events, path=str(png))
    lanes = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(lanes) == sorted({str(v.src) for v in vs})
    # One marker line per verdict, plus a bar per lane and the probe ticks.
    markers = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(markers) == len(vs)
    hollow = [m for m in markers if m.get_markerfacecolor() == "none"]
    assert len(hollow) == sum(v.final for v in vs)
    labels = [t.get_text() for t in ax.texts]
    assert len(labels) == sum(not v.final for v in vs)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
