"""Verdicts: what sweepwatch decided about one scanning source."""

from __future__ import annotations

import datetime as _dt
import html
import ipaddress
import json
from typing import Any, Dict, Iterable, List, Optional, Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


def _time(text: str) -> _dt.datetime:
    """An RFC 3339 time of the JSON form (always UTC, microseconds)."""
    return _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.timezone.utc)


class Verdict:
    """One verdict: a source found sweeping or scanning (or, when ``final``
    is true, the extent its episode reached).

    Attributes mirror the JSON record field for field, typed: ``src`` and
    ``sample`` hold :mod:`ipaddress` objects, ``first_seen`` and ``ts`` are
    :class:`datetime.datetime` in UTC, ``score`` is ``None`` where the walk
    saturated. :meth:`to_dict` gives the JSON record itself.
    """

    __slots__ = (
        "_record", "kind", "src", "direction", "proto", "ports", "targets",
        "ports_count", "failed", "succeeded", "unanswered", "probes",
        "first_seen", "ts", "sample", "score", "technique", "final", "zone",
        "sampling",
    )

    kind: str
    src: IPAddress
    direction: str
    proto: str
    ports: List[int]
    targets: int
    ports_count: int
    failed: int
    succeeded: int
    unanswered: int
    probes: int
    first_seen: _dt.datetime
    ts: _dt.datetime
    sample: List[IPAddress]
    score: Optional[float]
    technique: str
    final: bool
    zone: int
    sampling: int

    def __init__(self, record: Dict[str, Any]) -> None:
        self._record = record
        self.kind = record["kind"]
        self.src = ipaddress.ip_address(record["src"])
        self.direction = record["direction"]
        self.proto = record["proto"]
        self.ports = list(record["ports"])
        self.targets = record["targets"]
        self.ports_count = record["ports_count"]
        self.failed = record["failed"]
        self.succeeded = record["succeeded"]
        self.unanswered = record["unanswered"]
        self.probes = record["probes"]
        self.first_seen = _time(record["first_seen"])
        self.ts = _time(record["ts"])
        self.sample = [ipaddress.ip_address(a) for a in record["sample"]]
        self.score = record["score"]
        self.technique = record["technique"]
        self.final = record["final"]
        self.zone = record.get("zone", 0)
        self.sampling = record.get("sampling", 0)

    @classmethod
    def from_json(cls, line: str) -> "Verdict":
        """A verdict from one line of ``sweepwatch detect --json``."""
        return cls(json.loads(line))

    def to_dict(self) -> Dict[str, Any]:
        """The verdict's JSON record (the ``--json`` contract), as a dict."""
        return json.loads(json.dumps(self._record))

    def to_json(self) -> str:
        """The verdict as one line of ``--json`` output."""
        return json.dumps(self._record, separators=(",", ":"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Verdict) and self._record == other._record

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        ports = ",".join(str(p) for p in self.ports[:3])
        end = " final" if self.final else ""
        return (f"<Verdict {self.kind} {self.src} {self.proto}/{ports} "
                f"targets={self.targets} ports={self.ports_count} at {self.ts:%Y-%m-%d %H:%M:%S}Z{end}>")

    def _repr_html_(self) -> str:
        return Verdicts([self])._repr_html_()


_COLUMNS = ("ts", "kind", "src", "direction", "proto", "technique", "targets",
            "ports_count", "failed", "succeeded", "ports", "sample", "final")


class Verdicts(list):
    """A list of :class:`Verdict` that notebooks show as a table."""

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in _COLUMNS)
        rows = []
        for v in self:
            cells = []
            for c in _COLUMNS:
                x = getattr(v, c)
                if c == "ts":
                    x = x.strftime("%Y-%m-%d %H:%M:%S")
                elif isinstance(x, list):
                    x = ", ".join(str(e) for e in x)
                cells.append(f"<td>{html.escape(str(x))}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        sampled = max((v.sampling for v in self), default=0)
        note = (f"<p>counts are of sampled packets: 1 in {sampled}</p>" if sampled > 1 else "")
        return (f"<table class=\"sweepwatch\"><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>"
                f"<p>{len(self)} verdicts</p>{note}")


def verdicts_of(lines: Iterable[str]) -> Verdicts:
    """Verdicts from the native module's JSON lines."""
    return Verdicts(Verdict.from_json(line) for line in lines)
