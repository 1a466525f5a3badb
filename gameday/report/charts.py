"""Timeline charts (matplotlib, rendered to PNG and embedded in the HTML page)."""

from __future__ import annotations

import base64
import io
from typing import Any

from gameday.result import ExperimentResult


def pyplot() -> Any:
    """matplotlib's pyplot, headless, imported when a chart is drawn: importing it costs ~0.2 s, which every
    command would otherwise pay at start (the CLI imports the report writer)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


MARKERS = (
    ("injected_at", "fault", "#d62728"),
    ("detected_at", "detected", "#ff7f0e"),
    ("resolution_started_at", "resolution", "#1f77b4"),
    ("recovered_at", "recovered", "#2ca02c"),
    ("verified_at", "verified", "#17becf"),
)


def experiment_chart(seconds: list[dict[str, Any]], experiment: ExperimentResult, t0: float,
                     end: float | None = None) -> str:
    """A three-panel chart (requests/s, error rate %, p95 ms) with phase markers, as a data: URI; the x axis
    stops at ``end`` (the experiment's end) when given."""
    plt = pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(9, 5.2), sharex=True, dpi=90)
    xs = [s["t"] - t0 for s in seconds]
    rps = [s["requests"] for s in seconds]
    err = [100.0 * s["failures"] / s["requests"] if s["requests"] else 0.0 for s in seconds]
    p95 = [s.get("p95_ms") or 0.0 for s in seconds]
    for ax, ys, label, color in (
        (axes[0], rps, "requests/s", "#444444"),
        (axes[1], err, "error rate %", "#d62728"),
        (axes[2], p95, "p95 ms", "#9467bd"),
    ):
        ax.plot(xs, ys, color=color, linewidth=1.4)
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
        for key, name, mcolor in MARKERS:
            at = getattr(experiment, key)
            if at:
                ax.axvline(at - t0, color=mcolor, linestyle="--", linewidth=1, label=name)
    if end is not None:
        axes[0].set_xlim(right=end - t0)
    axes[0].legend(fontsize=7, loc="upper right", ncol=5)
    axes[2].set_xlabel("seconds since the experiment started", fontsize=8)
    fig.suptitle(experiment.name, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
