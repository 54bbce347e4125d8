"""A picture of what was found (matplotlib is an optional extra)."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

_KIND_COLOUR = {
    "port_sweep": "tab:red",
    "port_scan": "tab:blue",
    "outbound_sweep": "tab:purple",
    "icmp_sweep": "tab:orange",
}


def plot_timeline(verdicts: Iterable[Any], events: Any = None, *, ax: Any = None,
                  path: Optional[str] = None, title: Optional[str] = None) -> Any:
    """Draws each scanning source as a lane over time: a bar from when it was
    first seen to its last verdict, a marker at each decision (labelled with
    its kind and what it had reached: hosts for sweeps, ports for scans) and
    a hollow one at each final extent. With ``events`` (the columns
    :func:`sweepwatch.read_events` gives, or a DataFrame of them), each
    source's probes are drawn in its lane as ticks: failed ones dark, others
    light.

    Returns the matplotlib ``Axes``; ``path`` also saves the figure there
    (PNG, SVG, PDF by its suffix). Raises ``ImportError`` naming the extra
    when matplotlib is not installed (``pip install sweepwatch[plot]``).
    """
    try:
        import matplotlib
        if ax is None and path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot_timeline needs matplotlib: pip install 'sweepwatch[plot]'") from None
    import numpy as np

    verdicts = list(verdicts)
    lanes: Dict[str, List[Any]] = {}
    for v in sorted(verdicts, key=lambda v: v.first_seen):
        key = f"{v.src}" + (f" (zone {v.zone})" if v.zone else "")
        lanes.setdefault(key, []).append(v)
    if ax is None:
        height = 1.6 + 0.9 * max(1, len(lanes))
        _, ax = plt.subplots(figsize=(11, height))
    names = list(lanes)
    if events is not None and names:
        ts = np.asarray(events["ts"]).astype("datetime64[us]")
        src = np.asarray(events["src"]).astype(str)
        failed = np.isin(np.asarray(events["outcome"]).astype(str), ["refused", "unanswered"])
        for y, name in enumerate(names):
            addr = name.split(" ")[0]
            mine = src == addr
            for sel, colour in ((mine & ~failed, "0.75"), (mine & failed, "0.35")):
                if sel.any():
                    ax.plot(ts[sel].astype("O"), np.full(int(sel.sum()), y), "|",
                            color=colour, markersize=9, alpha=0.6, zorder=1)
    for y, name in enumerate(names):
        vs = lanes[name]
        start = min(v.first_seen for v in vs)
        end = max(v.ts for v in vs)
        ax.plot([start, end], [y, y], color="0.6", linewidth=5, alpha=0.4,
                solid_capstyle="round", zorder=2)
        decided = 0
        for v in sorted(vs, key=lambda v: v.ts):
            colour = _KIND_COLOUR.get(v.kind, "black")
            reached = f"{v.ports_count} ports" if v.kind == "port_scan" else f"{v.targets} hosts"
            if v.final:
                ax.plot(v.ts, y, "o", markerfacecolor="none", markeredgecolor=colour,
                        markersize=11, zorder=3)
                continue
            ax.plot(v.ts, y, "o", color=colour, markersize=8, zorder=4)
            # Decisions close in time: labels stacked above the lane.
            ax.annotate(f"{v.kind} ({reached})", (v.ts, y), xytext=(4, 8 + 10 * (decided % 3)),
                        textcoords="offset points", fontsize=8, color=colour)
            decided += 1
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.set_ylim(-0.9, len(names) - 0.4)
    ax.invert_yaxis()
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or f"{len(verdicts)} verdicts, {len(names)} sources "
                          "(filled: decided; hollow: final extent)")
    if path is not None:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=110)
    return ax
