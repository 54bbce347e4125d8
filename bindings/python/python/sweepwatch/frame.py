"""Verdicts as a pandas DataFrame (pandas is an optional extra)."""

from __future__ import annotations

from typing import Any, Iterable


def to_frame(verdicts: Iterable[Any]) -> Any:
    """A pandas DataFrame of ``verdicts``, one row each, the JSON record's
    fields as columns: ``first_seen`` and ``ts`` as UTC datetimes, ``src``
    and ``sample`` as :mod:`ipaddress` objects, ``ports`` as lists.

    Raises ``ImportError`` naming the extra to install when pandas is not
    installed (``pip install sweepwatch[pandas]``).
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("to_frame needs pandas: pip install 'sweepwatch[pandas]'") from None
    from ._verdict import Verdict

    fields = list(Verdict.__slots__[1:])
    rows = [{f: getattr(v, f) for f in fields} for v in verdicts]
    frame = pd.DataFrame(rows, columns=fields)
    for col in ("first_seen", "ts"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame
