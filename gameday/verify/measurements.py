"""What the checklist's load-based items judge: a measured load window and, optionally, a baseline.

Both come from a load run's per-second timeline (:mod:`gameday.load.timeline`); the baseline is a window
measured in the same run before any fault.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gameday.load.timeline import Timeline


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
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        data = asdict(self)
        data["errors"] = dict(self.errors)
        data["rate_rps"] = round(self.rate_rps, 1)
        return data


@dataclass(frozen=True)
class Measurements:
    """The load window under judgement and the baseline before any fault (either may be missing)."""

    load: LoadWindow | None = None
    baseline: LoadWindow | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {"load": self.load.to_dict() if self.load else None,
                "baseline": self.baseline.to_dict() if self.baseline else None}
