"""sweepwatch: find hosts that sweep or scan.

The Rust detector of the ``sweepwatch`` command, for notebooks and scripts:

- :func:`detect` reads captures (pcap, pcapng), Zeek's conn.log, Suricata's
  EVE, Argus and nfdump CSV (compressed or not) exactly as
  ``sweepwatch detect`` does, and returns its verdicts;
- :class:`Detector` is fed event by event or by columns (numpy, pandas,
  pyarrow) and returns the verdicts each call decided;
- :func:`read_events` gives a file's events as columns (a DataFrame's
  worth);
- :func:`to_frame` and :func:`plot_timeline` show what was found.

>>> import sweepwatch
>>> verdicts = sweepwatch.detect("examples/data/sample.pcap")  # doctest: +SKIP
>>> sweepwatch.to_frame(verdicts)                               # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from . import _sweepwatch as _native
from ._columns import OUTCOMES, PROTOCOLS, TECHNIQUES, columns_of, pack, unpack
from ._config import DEFAULTS, Config, config_of
from ._verdict import Verdict, Verdicts, verdicts_of
from .frame import to_frame
from .plot import plot_timeline

__all__ = [
    "Config", "DEFAULTS", "Detector", "OUTCOMES", "PROTOCOLS", "TECHNIQUES", "Verdict",
    "Verdicts", "detect", "plot_timeline", "read_events", "to_frame",
    "__version__",
]

__version__: str = _native.__version__

PathLike = Union[str, "os.PathLike[str]"]

# How files are read: the command's options of the same names.
_READING = {"pending_unanswered": False, "flow_memory": 64, "reorder_window": 1 << 20, "zones": "none"}


def _reading(options: Dict[str, Any]) -> Dict[str, Any]:
    got = {k: options.pop(k) for k in list(options) if k in _READING}
    out = dict(_READING, **got)
    if not isinstance(out["pending_unanswered"], bool):
        raise ValueError("pending_unanswered: True or False")
    for k in ("flow_memory", "reorder_window"):
        if isinstance(out[k], bool) or not isinstance(out[k], int) or out[k] < 1:
            raise ValueError(f"{k}: a positive whole number")
    if out["zones"] not in ("none", "vlan", "tenant"):
        raise ValueError(f"zones: {out['zones']!r} is none of 'none', 'vlan', 'tenant'")
    return out


def detect(*paths: PathLike, home_nets: Any = None, config: Any = None, **options: Any) -> Verdicts:
    """The verdicts ``sweepwatch detect --json`` gives for ``paths``.

    Every file is recognised by its content (pcap, pcapng, a capture of
    NetFlow/IPFIX export, Zeek conn.log in TSV or JSON, Suricata EVE, Argus
    ``ra -c ,`` or nfdump CSV; gzip, zstd or none). One detector sees them
    all, in the order given; final extents come last.

    ``home_nets``: the networks to protect (CIDR strings or
    :mod:`ipaddress` networks), replacing the default private ranges.
    ``config``: a :class:`Config`, a dict of its fields, or a TOML file's
    path. ``options``: configuration fields (``min_targets=8``,
    ``hash_seed=1``, ...) over ``config``, and the reading options
    ``pending_unanswered`` (probes a capture ends before answering count as
    unanswered), ``flow_memory`` (MiB for a capture's flow tracker, 64),
    ``reorder_window`` (events held to put them in time order, 1,048,576)
    and ``zones`` (``"none"``, ``"vlan"`` or ``"tenant"``).

    Raises ``OSError`` (``FileNotFoundError``, ...) for a file that cannot
    be opened, ``ValueError`` for one that cannot be read (the reader's
    message and where: ``byte 24`` or ``line 7``) or a bad option. A file
    read in part (a capture cut short, malformed records skipped) gives a
    ``UserWarning`` saying so, as the command does.
    """
    if not paths:
        raise TypeError("detect() needs at least one path")
    options = dict(options)
    reading = _reading(options)
    cfg = config_of(config, home_nets, options)
    lines, reports = _native.detect_files(
        [os.fspath(p) for p in paths],
        config_json=cfg._json(),
        config_path=cfg._path,
        pending_unanswered=reading["pending_unanswered"],
        flow_memory_mib=reading["flow_memory"],
        reorder_window=reading["reorder_window"],
        zones=reading["zones"],
    )
    _warn_about(reports)
    return verdicts_of(lines)


def _warn_about(reports: List[Dict[str, Any]]) -> None:
    """Says what the command says of a file read in part."""
    for r in reports:
        if r["truncated_at"] is not None:
            warnings.warn(f"{r['path']}: capture truncated at byte {r['truncated_at']}; "
                          "the packets before it were used", stacklevel=3)
        if r["malformed"]:
            warnings.warn(f"{r['path']}: {r['malformed']} malformed records skipped "
                          f"(of {r['records']})", stacklevel=3)


def read_events(path: PathLike, **options: Any) -> Dict[str, Any]:
    """The events ``sweepwatch`` makes of a file, in the file's order, as
    columns: ``ts`` (datetime64[us], UTC), ``src``, ``dst`` (strings),
    ``src_port``, ``dst_port``, ``proto`` (``tcp``, ``udp``, ``icmp``,
    ``other``), ``outcome`` (:data:`OUTCOMES`), ``zone``, ``technique``
    (:data:`TECHNIQUES`), and ``src_local`` and ``dst_local``: whether the
    engine itself places each host in the local networks (Zeek's
    ``local_orig`` and ``local_resp``: ``True``, ``False``, or ``None``
    where the file does not say). ``pandas.DataFrame``
    takes the dict as it is, and :meth:`Detector.observe_columns` takes it
    or that DataFrame back. Reading options as in :func:`detect`.
    """
    options = dict(options)
    reading = _reading(options)
    if options:
        raise TypeError(f"read_events: no option {sorted(options)[0]!r}")
    raw = _native.read_events(os.fspath(path), reading["pending_unanswered"],
                              reading["flow_memory"], reading["zones"])
    _warn_about([raw["summary"]])
    return unpack(raw)


class Detector:
    """One detector, fed event by event (:meth:`observe`) or by columns
    (:meth:`observe_columns`), from any number of threads.

    ``config``, ``home_nets`` and ``fields`` as in :func:`detect`.
    ``on_verdict``, if given, is called with each verdict as well (after the
    call that decided it, in the calling thread).

    Each call returns the verdicts it decided; :meth:`flush` ends every
    episode and returns the final extents. The detector judges by the
    events' own times, which should come roughly in time order.

    >>> det = Detector(min_targets=5, hash_seed=1)
    >>> found = []
    >>> for host in range(1, 9):
    ...     found += det.observe(1_700_000_000 + host, "203.0.113.9",
    ...                          f"192.168.1.{host}", 22, "tcp", "refused")
    >>> [(v.kind, v.targets) for v in found]
    [('port_sweep', 5)]
    """

    def __init__(self, config: Any = None, *, home_nets: Any = None,
                 on_verdict: Optional[Callable[[Verdict], Any]] = None, **fields: Any) -> None:
        self.config: Config = config_of(config, home_nets, fields)
        self._native = _native.Detector(self.config._json(), self.config._path)
        self._on_verdict = on_verdict

    def _deliver(self, lines: List[str], callback: Optional[Callable[[Verdict], Any]] = None) -> Verdicts:
        out = verdicts_of(lines)
        for v in out:
            if self._on_verdict is not None:
                self._on_verdict(v)
            if callback is not None:
                callback(v)
        return out

    def observe(self, ts: Any, src: Any, dst: Any, dst_port: int, proto: Union[str, int] = "tcp",
                outcome: Union[str, int] = "attempt", *, src_port: int = 0, zone: int = 0) -> Verdicts:
        """Observes one event: at ``ts`` (seconds since the epoch, or a
        datetime), ``src`` tried ``dst`` on ``dst_port`` over ``proto``, and
        ``outcome`` (:data:`OUTCOMES`) became of it. Returns the verdicts it
        decided."""
        packed = pack({
            "ts": [ts], "src": [src], "dst": [dst], "dst_port": [dst_port],
            "proto": [proto], "outcome": [outcome], "src_port": [src_port], "zone": [zone],
        })
        return self._deliver(self._native.observe_columns(**packed))

    def observe_columns(self, data: Any = None, *, columns: Optional[Mapping[str, str]] = None,
                        callback: Optional[Callable[[Verdict], Any]] = None, **arrays: Any) -> Verdicts:
        """Observes events given as columns, in order, and returns the
        verdicts decided meanwhile (``callback`` is called with each too).

        ``data``: a pandas DataFrame, a pyarrow Table or a dict of columns
        named ``ts``, ``src``, ``dst``, ``dst_port``, ``proto``, ``outcome``
        and optionally ``src_port``, ``zone``, ``technique``, ``src_local``
        and ``dst_local`` (``columns`` maps these
        names to the data's own); ``arrays`` give or replace columns by
        those names. Columns are numpy arrays, pandas Series, pyarrow arrays
        or lists:

        - ``ts``: datetime64, datetime objects, or seconds since the epoch;
        - ``src``, ``dst``: strings, :mod:`ipaddress` objects, packed bytes
          (4 or 16), or integers (IPv4; the fast path);
        - ``dst_port``, ``src_port``, ``zone``: integers;
        - ``technique``: how each probe was sent (:data:`TECHNIQUES`, of the
          event's protocol); without it, the protocol's plain probe;
        - ``proto``: ``tcp``, ``udp``, ``icmp``, ``other`` or IP protocol
          numbers; ``outcome``: :data:`OUTCOMES` names or their codes 0 to 4;
        - ``src_local``, ``dst_local``: ``True``, ``False`` or ``None`` (not
          said), the engine's own view of each host, as :func:`read_events`
          gives it; used, as ``sweepwatch detect`` uses Zeek's, only while
          the home networks are the defaults (networks given replace it).

        Bad values raise ``ValueError`` naming the column and row, before
        any event of the call is observed. The work is done without the
        GIL.
        """
        packed = pack(columns_of(data, columns, arrays))
        return self._deliver(self._native.observe_columns(**packed), callback)

    def advance(self, ts: Any) -> Verdicts:
        """Moves the detector's clock to ``ts`` without events (a quiet
        sensor): episodes idle past their timeout end; returns their final
        extents."""
        from ._columns import _array, _timestamps
        micros = int(_timestamps(_array([ts]))[0])
        if micros < 0:
            raise ValueError("ts: before 1970")
        return self._deliver(self._native.advance(micros))

    def flush(self) -> Verdicts:
        """Ends every episode: returns every reported source's final
        extent."""
        return self._deliver(self._native.flush())

    def stats(self) -> Dict[str, int]:
        """The detector's counters (events, sources, evicted, verdicts, ...)."""
        return self._native.stats()

    def __repr__(self) -> str:
        return f"<sweepwatch.Detector {self.config!r}>"
