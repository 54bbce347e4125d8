"""Columns of events (numpy arrays, pandas Series, pyarrow arrays, lists)
packed for the native detector; and packed events back as columns."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from . import _sweepwatch as _native

#: Protocol names and their codes in the packed form.
PROTOCOLS = ("tcp", "udp", "icmp", "other")
#: Outcome names and their codes in the packed form.
OUTCOMES = ("attempt", "established", "refused", "unanswered", "unsolicited")

_PROTO_CODE = {name: i for i, name in enumerate(PROTOCOLS)}
_PROTO_CODE.update({"icmp6": 2, "icmpv6": 2, "ipv6-icmp": 2})
_OUTCOME_CODE = {name: i for i, name in enumerate(OUTCOMES)}
# Locality codes in the packed form, as Python values.
_LOCALITY = np.array([False, True, None], dtype=object)

# IP protocol numbers: TCP 6, UDP 17, ICMP 1 and ICMPv6 58; others "other".
_BY_NUMBER = np.full(256, 3, dtype=np.uint8)
_BY_NUMBER[6], _BY_NUMBER[17], _BY_NUMBER[1], _BY_NUMBER[58] = 0, 1, 2, 2

REQUIRED = ("ts", "src", "dst", "dst_port", "proto", "outcome")
OPTIONAL = ("src_port", "zone", "technique", "src_local", "dst_local")

#: Technique names (nmap's vocabulary) and their codes in the packed form.
TECHNIQUES = tuple(_native.technique_names())
_TECHNIQUE_CODE = {name: i for i, name in enumerate(TECHNIQUES)}


def _array(col: Any) -> np.ndarray:
    """Any column as a numpy array (a copy only where one is needed)."""
    dtype = getattr(col, "dtype", None)
    if getattr(dtype, "tz", None) is not None and hasattr(col, "dt"):
        # pandas' zone-aware times: UTC, then naive.
        col = col.dt.tz_convert("UTC").dt.tz_localize(None)
    if hasattr(col, "to_numpy") and not isinstance(col, np.ndarray):
        try:
            return col.to_numpy(zero_copy_only=False)  # pyarrow
        except TypeError:
            return col.to_numpy()
    return np.asarray(col)


def _timestamps(a: np.ndarray) -> np.ndarray:
    """Microseconds since the epoch: datetime64 as they are, numbers as
    seconds (Zeek's and EVE's form), datetime objects (naive ones in UTC)."""
    if a.dtype.kind == "M":
        if np.isnat(a).any():
            raise ValueError(f"column ts, row {int(np.argmax(np.isnat(a)))}: no time (NaT)")
        return a.astype("datetime64[us]").astype("<i8")
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ValueError(f"column ts, row {int(np.argmax(~np.isfinite(a)))}: not a time")
        return np.round(a * 1e6).astype("<i8")
    if a.dtype.kind in "iu":
        return a.astype("<i8") * 1_000_000
    if a.dtype.kind == "O":
        out = np.empty(len(a), dtype="<i8")
        for i, x in enumerate(a):
            if isinstance(x, _dt.datetime):
                if x.tzinfo is None:
                    x = x.replace(tzinfo=_dt.timezone.utc)
                delta = x - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
                out[i] = delta // _dt.timedelta(microseconds=1)
            elif isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool):
                out[i] = round(float(x) * 1e6)
            else:
                raise TypeError(f"column ts, row {i}: {x!r} is no time")
        return out
    raise TypeError(f"column ts: values of type {a.dtype} are no times")


def _addresses(name: str, a: np.ndarray) -> Tuple[bytes, int]:
    """Packed addresses and their width: 4 for IPv4 integers, else 17."""
    if a.dtype.kind in "iu":
        if len(a) and (a.min() < 0 or a.max() > 0xFFFFFFFF):
            raise ValueError(f"column {name}: integers are IPv4 addresses (0 to 4294967295)")
        return a.astype("<u4").tobytes(), 4
    if a.dtype.kind == "S" and a.dtype.itemsize in (4, 16):
        raw = a.view(np.uint8).reshape(len(a), a.dtype.itemsize)
        out = np.zeros((len(a), 17), dtype=np.uint8)
        out[:, 0] = 4 if a.dtype.itemsize == 4 else 6
        out[:, 1:1 + a.dtype.itemsize] = raw
        return out.tobytes(), 17
    if a.dtype.kind in "OUS":
        return _native.pack_addresses(name, a.tolist()), 17
    raise TypeError(f"column {name}: values of type {a.dtype} are no addresses")


def _ports(name: str, a: np.ndarray) -> bytes:
    if a.dtype.kind == "O":
        try:
            a = np.array(a.tolist(), dtype=np.int64)
        except (TypeError, ValueError):
            raise TypeError(f"column {name}: ports must be integers") from None
    if a.dtype.kind == "f":
        if not np.isfinite(a).all() or (a != np.round(a)).any():
            raise ValueError(f"column {name}: ports must be whole numbers")
    elif a.dtype.kind not in "iu":
        raise TypeError(f"column {name}: values of type {a.dtype} are no ports")
    if len(a) and (a.min() < 0 or a.max() > 65535):
        bad = int(np.argmax((a < 0) | (a > 65535)))
        raise ValueError(f"column {name}, row {bad}: port {a[bad]} is out of 0 to 65535")
    return a.astype("<u2").tobytes()


def _names(name: str, a: np.ndarray, codes: Mapping[str, int], known: str) -> np.ndarray:
    """Codes of a column of names (any case)."""
    if len(a) == 0:
        return np.zeros(0, dtype=np.uint8)
    uniq, inverse = np.unique(a.astype(str), return_inverse=True)
    table = np.empty(len(uniq), dtype=np.uint8)
    for i, u in enumerate(uniq):
        code = codes.get(u.strip().lower())
        if code is None:
            row = int(np.argmax(inverse == i))
            raise ValueError(f"column {name}, row {row}: {str(u)!r} is not {known}")
        table[i] = code
    return table[inverse.reshape(-1)]


def _protocols(a: np.ndarray) -> bytes:
    if a.dtype.kind in "iu":
        if len(a) and (a.min() < 0 or a.max() > 255):
            raise ValueError("column proto: protocol numbers are 0 to 255")
        return _BY_NUMBER[a.astype(np.int64)].tobytes()
    if a.dtype.kind in "OUS":
        return _names("proto", a, _PROTO_CODE,
                      "a protocol (tcp, udp, icmp, other, or an IP protocol number)").tobytes()
    raise TypeError(f"column proto: values of type {a.dtype} are no protocols")


def _outcomes(a: np.ndarray) -> bytes:
    if a.dtype.kind in "iu":
        if len(a) and (a.min() < 0 or a.max() > 4):
            raise ValueError("column outcome: outcome codes are 0 to 4 (" + ", ".join(OUTCOMES) + ")")
        return a.astype(np.uint8).tobytes()
    if a.dtype.kind in "OUS":
        return _names("outcome", a, _OUTCOME_CODE, "an outcome (" + ", ".join(OUTCOMES) + ")").tobytes()
    raise TypeError(f"column outcome: values of type {a.dtype} are no outcomes")


def _locality(name: str, a: np.ndarray) -> bytes:
    """Codes of a locality column: 0 not local, 1 local, 2 not said (None,
    pandas' NA or NaN)."""
    if a.dtype.kind == "b":
        return a.astype(np.uint8).tobytes()
    if a.dtype.kind == "O":
        na = _pandas_na()
        out = np.empty(len(a), dtype=np.uint8)
        for i, x in enumerate(a):
            if x is True or x is np.True_:
                out[i] = 1
            elif x is False or x is np.False_:
                out[i] = 0
            elif x is None or x is na or (isinstance(x, float) and x != x):
                out[i] = 2
            else:
                raise ValueError(f"column {name}, row {i}: {x!r} is not True, False or None")
        return out.tobytes()
    raise TypeError(f"column {name}: values of type {a.dtype} are not True, False or None")


def _pandas_na() -> Any:
    """pandas' NA (a missing value of its boolean columns), where pandas is
    installed."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas.NA


def columns_of(data: Any, columns: Optional[Mapping[str, str]], arrays: Dict[str, Any]) -> Dict[str, Any]:
    """The columns of ``data`` (a DataFrame, pyarrow Table, or mapping of
    columns), renamed by ``columns``, with ``arrays`` over them."""
    names = dict(columns or {})
    unknown = set(names) - set(REQUIRED + OPTIONAL)
    if unknown:
        raise ValueError(f"columns: no such column {sorted(unknown)[0]!r} "
                         f"(columns: {', '.join(REQUIRED + OPTIONAL)})")
    out: Dict[str, Any] = {}
    if data is not None:
        have = list(data.column_names) if hasattr(data, "column_names") else list(data.keys())
        for col in REQUIRED + OPTIONAL:
            source = names.get(col, col)
            if source in have:
                out[col] = data[source]
            elif col in names:
                raise ValueError(f"column {source!r} ({col}) is not in the data")
    for col, values in arrays.items():
        if col not in REQUIRED + OPTIONAL:
            raise TypeError(f"no column named {col!r} (columns: {', '.join(REQUIRED + OPTIONAL)})")
        if values is not None:
            out[col] = values
    return out


def pack(cols: Dict[str, Any]) -> Dict[str, Any]:
    """The native detector's arguments for ``cols``."""
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise ValueError(f"missing column {missing[0]!r} (required: {', '.join(REQUIRED)})")
    arrays = {c: _array(v) for c, v in cols.items()}
    for c, a in arrays.items():
        if a.ndim != 1:
            raise ValueError(f"column {c}: {a.ndim} dimensions where one is wanted")
    lengths = {c: len(a) for c, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{c} {n}" for c, n in lengths.items())
        raise ValueError(f"columns of different lengths: {shown}")
    n = lengths["ts"]
    src, src_width = _addresses("src", arrays["src"])
    dst, dst_width = _addresses("dst", arrays["dst"])
    packed = dict(
        n=n,
        ts=_timestamps(arrays["ts"]).tobytes(),
        src=src, src_width=src_width,
        dst=dst, dst_width=dst_width,
        dst_port=_ports("dst_port", arrays["dst_port"]),
        proto=_protocols(arrays["proto"]),
        outcome=_outcomes(arrays["outcome"]),
    )
    if "src_port" in arrays:
        packed["src_port"] = _ports("src_port", arrays["src_port"])
    if "zone" in arrays:
        z = arrays["zone"]
        if z.dtype.kind not in "iu" or (len(z) and (z.min() < 0 or z.max() > 0xFFFFFFFF)):
            raise ValueError("column zone: zones are integers of 0 to 4294967295")
        packed["zone"] = z.astype("<u4").tobytes()
    if "technique" in arrays:
        t = arrays["technique"]
        if t.dtype.kind not in "OUS":
            raise ValueError("column technique: names (" + ", ".join(TECHNIQUES) + ")")
        packed["technique"] = _names("technique", t, _TECHNIQUE_CODE,
                                     "a technique (" + ", ".join(TECHNIQUES) + ")").tobytes()
    for c in ("src_local", "dst_local"):
        if c in arrays:
            packed[c] = _locality(c, arrays[c])
    return packed


def unpack(raw: Dict[str, Any]) -> Dict[str, np.ndarray]:
    """Packed events (``read_events``) as columns an analyst reads: times
    as datetime64[us], addresses as strings, names for protocols and
    outcomes."""
    n = raw["n"]
    # Readers emit an outcome when they learn it (a capture's unanswered
    # probe at its timeout) with the probe's time; the command's reordering
    # window puts them back in time order, as this stable sort does.
    order = np.argsort(np.frombuffer(raw["ts"], dtype="<i8"), kind="stable")
    cols = {
        "ts": np.frombuffer(raw["ts"], dtype="<i8").astype("datetime64[us]"),
        "src": np.array(_native.unpack_addresses(raw["src"]), dtype=object),
        "dst": np.array(_native.unpack_addresses(raw["dst"]), dtype=object),
        "src_port": np.frombuffer(raw["src_port"], dtype="<u2").astype(np.uint16),
        "dst_port": np.frombuffer(raw["dst_port"], dtype="<u2").astype(np.uint16),
        "proto": np.array(PROTOCOLS, dtype=object)[np.frombuffer(raw["proto"], dtype=np.uint8)],
        "outcome": np.array(OUTCOMES, dtype=object)[np.frombuffer(raw["outcome"], dtype=np.uint8)],
        "zone": np.frombuffer(raw["zone"], dtype="<u4").astype(np.uint32),
        "technique": np.array(TECHNIQUES + ("",), dtype=object)[
            np.minimum(np.frombuffer(raw["technique"], dtype=np.uint8), len(TECHNIQUES))],
        "src_local": _LOCALITY[np.frombuffer(raw["src_local"], dtype=np.uint8)],
        "dst_local": _LOCALITY[np.frombuffer(raw["dst_local"], dtype=np.uint8)],
    }
    return {k: v[order] for k, v in cols.items()} if n else {
        "ts": np.zeros(0, dtype="datetime64[us]"),
        "src": np.zeros(0, dtype=object),
        "dst": np.zeros(0, dtype=object),
        "src_port": np.zeros(0, dtype=np.uint16),
        "dst_port": np.zeros(0, dtype=np.uint16),
        "proto": np.zeros(0, dtype=object),
        "outcome": np.zeros(0, dtype=object),
        "zone": np.zeros(0, dtype=np.uint32),
        "technique": np.zeros(0, dtype=object),
        "src_local": np.zeros(0, dtype=object),
        "dst_local": np.zeros(0, dtype=object),
    }
