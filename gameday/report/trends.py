"""Trend charts of the history in the report: the score and each experiment's time to recover, run by run.

Drawn from the ``trends`` the history adds to a report (``gameday.history.remember.trends``): the last
30 game days of the same target and profile, the current one last.
"""

from __future__ import annotations

import base64
import io
from datetime import datetime
from typing import Any

from gameday.report.charts import pyplot


def _png(fig: Any) -> str:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _axis(ax: Any, ylabel: str) -> None:
    ax.set_ylabel(ylabel, fontsize=8)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7)
    import matplotlib.dates as mdates  # loaded with pyplot, when a chart is drawn

    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
    for label in ax.get_xticklabels():
        label.set_rotation(20)


def trend_charts(trends: dict[str, Any] | None) -> dict[str, str]:
    """``{"score": uri, "recover": uri}`` for the runs in ``trends`` (empty without at least one run)."""
    runs = (trends or {}).get("runs") or []
    if not runs:
        return {}
    when = [datetime.fromtimestamp(r["started_at"]) for r in runs]
    charts = {}
    fig, ax = pyplot().subplots(figsize=(9, 2.6), dpi=90)
    scored = [(w, r["score"]) for w, r in zip(when, runs, strict=True) if r.get("score") is not None]
    if scored:
        ax.plot([w for w, _ in scored], [s for _, s in scored], color="#2ca02c", marker="o", markersize=5,
                linewidth=2.2)
    ax.set_ylim(0, 105)
    _axis(ax, "resilience score")
    ax.set_title(f"Resilience score, last {len(runs)} game days", fontsize=10)
    charts["score"] = _png(fig)
    recover = (trends or {}).get("recover_s") or {}
    if recover:
        fig, ax = pyplot().subplots(figsize=(9, 3.2), dpi=90)
        for name, values in recover.items():
            points = [(w, v) for w, v in zip(when, values, strict=False) if v is not None]
            if points:
                ax.plot([w for w, _ in points], [v for _, v in points], marker="o", markersize=4, linewidth=2.2,
                        label=name)
        ax.set_ylim(bottom=0)
        _axis(ax, "time to recover s")
        if ax.get_lines():  # a degraded experiment never has a time to recover: no line, no legend
            ax.legend(fontsize=7, loc="upper left", ncol=4)
        ax.set_title(f"Time to recover per experiment, last {len(runs)} game days", fontsize=10)
        charts["recover"] = _png(fig)
    return charts
