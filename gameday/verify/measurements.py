"""What the checklist's load-based items judge: a measured load window and, optionally, a baseline.

Both come from a load run's per-second timeline (:mod:`gameday.load.timeline`); the baseline is a window
measured in the same run before any fault.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gameday.load.timeline import Timeline, percentile


@dataclass(frozen=True)
class LoadWindow:
    """The totals of one window of a load run."""

    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    duration_s: float
    start: float | None = None
    end: float | None = None
    errors: tuple[tuple[str, int], ...] = ()
    ok_p95_ms: float | None = None  # of the successful requests only: what "response time normal" judges
    ok_p50_ms: float | None = None  # ... and the middle and tail of the same: a baseline's own spread
    ok_p99_ms: float | None = None

    @property
    def ok_spread_ms(self) -> float | None:
        """p99 - p50 of the successful requests: how much later than the typical one an unlucky request answered
        under this window's own conditions (a page queued behind others in a synchronous worker, a neighbour's CPU
        burst on a shared machine). None without successful requests."""
        if self.ok_p50_ms is None or self.ok_p99_ms is None:
            return None
        return max(0.0, self.ok_p99_ms - self.ok_p50_ms)

    @property
    def successes(self) -> int:
        """Requests that did not fail."""
        return self.requests - self.failures

    @property
    def rate_rps(self) -> float:
        """Requests per second."""
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @classmethod
    def from_timeline(cls, timeline: Timeline, top_errors: int = 5) -> LoadWindow:
        """The totals of a timeline (or of a window of one)."""
        return cls(
            requests=timeline.requests,
            failures=timeline.failures,
            p50_ms=timeline.p50,
            p95_ms=timeline.p95,
            p99_ms=timeline.p99,
            duration_s=timeline.duration,
            start=timeline.start,
            end=timeline.end,
            errors=tuple(list(timeline.errors().items())[:top_errors]),
            ok_p95_ms=timeline.ok_p95,
            ok_p50_ms=percentile(timeline.ok_hist(), 0.50),
            ok_p99_ms=percentile(timeline.ok_hist(), 0.99),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        data = asdict(self)
        data["errors"] = dict(self.errors)
        data["rate_rps"] = round(self.rate_rps, 1)
        return data


@dataclass(frozen=True)
class Measurements:
    """The load window under judgement and the baseline before any fault (either may be missing).

    ``settled``: the part of ``load`` after gameday's own extra load ended (an experiment's steady-state burst and
    rollbacks run inside a game day's verification window): the service under the background load alone, as the
    baseline was measured. "Response time normal" compares like with like: it judges ``settled`` when it has enough
    successful requests for a p95 - a burst that saturates a service with one synchronous worker per replica
    multiplies its latency, and that is gameday's load, not the service's recovery. Errors are judged on all of
    ``load``: a failed request is a failure whatever else ran."""

    load: LoadWindow | None = None
    baseline: LoadWindow | None = None
    settled: LoadWindow | None = None

    def latency_window(self, min_samples: int) -> LoadWindow | None:
        """The window "response time normal" judges: ``settled`` with at least ``min_samples`` successful requests,
        else the whole ``load``."""
        if self.settled is not None and self.settled.successes >= min_samples:
            return self.settled
        return self.load

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {"load": self.load.to_dict() if self.load else None,
                "baseline": self.baseline.to_dict() if self.baseline else None,
                "settled": self.settled.to_dict() if self.settled else None}
