"""The per-second timeline of a load run: what crosses back from the locust subprocess.

The file is JSON lines, one object per second in which requests *completed* (wall-clock unix second
``t``), written by ``gameday/load/locust_timeline.py`` inside locust::

    {"t": 1764201600, "requests": 212, "failures": 3, "p50": 4, "p95": 11, "p99": 2000,
     "users": 4, "hist": {"4": 120, "11": 9, "2000": 3}, "ok_hist": {"4": 120, "11": 9},
     "errors": {"GET catalogue: 504 ...": 3}}

``hist`` maps a rounded response time in milliseconds (locust's rounding: exact below 100 ms, then
to 10 ms, 100 ms, 1000 ms) to a count, so percentiles of any window are computed exactly from merged
histograms rather than averaged from per-second percentiles; ``ok_hist`` is the same over the successful
requests only (a latency verdict over fast failures, 503s in a millisecond, would call a dead service fast).
Several lines may carry the same ``t`` (in distributed mode worker reports arrive late): the reader merges
them. A half-written last line (the file is read live while locust writes) is ignored.

This module is pure: no locust, no network.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WRITE_LAG_S = 0.1  # locust_timeline.py writes each second 0.05 s after it ends: read it this long after


def window_complete_at(start: float, seconds: float) -> float:
    """When the whole seconds after ``start`` (:meth:`Timeline.window`) can first span ``seconds``.

    Requests are counted by the second they completed in, so a window from a float ``start`` begins at the next
    second boundary: it loses the rest of the second ``start`` falls in, and nothing more.
    """
    return math.ceil(start) + seconds + WRITE_LAG_S


def round_ms(ms: float) -> int:
    """Round a response time like locust does, so histograms stay small."""
    if ms < 100:
        return round(ms)
    if ms < 1000:
        return int(round(ms, -1))
    if ms < 10000:
        return int(round(ms, -2))
    return int(round(ms, -3))


def percentile(hist: Mapping[int, int], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0 < q <= 1) of a histogram; None when it is empty."""
    total = sum(hist.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return float(value)
    return float(max(hist))


@dataclass(frozen=True)
class Second:
    """The requests that completed during one wall-clock second ``[t, t + 1)``."""

    t: int
    requests: int = 0
    failures: int = 0
    hist: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    users: int = 0
    ok_hist: dict[int, int] = field(default_factory=dict)

    @property
    def successes(self) -> int:
        """Requests that did not fail."""
        return self.requests - self.failures

    def percentile(self, q: float) -> float | None:
        """A latency percentile of this second, in milliseconds."""
        return percentile(self.hist, q)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Second:
        """One line of the file."""
        return cls(
            t=int(data["t"]),
            requests=int(data.get("requests", 0)),
            failures=int(data.get("failures", 0)),
            hist={int(float(k)): int(v) for k, v in (data.get("hist") or {}).items()},
            errors={str(k): int(v) for k, v in (data.get("errors") or {}).items()},
            users=int(data.get("users", 0)),
            ok_hist={int(float(k)): int(v) for k, v in (data.get("ok_hist") or {}).items()},
        )

    def to_json(self) -> dict[str, Any]:
        """The line's object (percentiles included for people reading the file)."""
        return {
            "t": self.t,
            "requests": self.requests,
            "failures": self.failures,
            "p50": self.percentile(0.5),
            "p95": self.percentile(0.95),
            "p99": self.percentile(0.99),
            "users": self.users,
            "hist": {str(k): v for k, v in sorted(self.hist.items())},
            "ok_hist": {str(k): v for k, v in sorted(self.ok_hist.items())},
            "errors": dict(self.errors),
        }

    def merged(self, other: Second) -> Second:
        """This second plus another report of the same second."""
        return Second(
            t=self.t,
            requests=self.requests + other.requests,
            failures=self.failures + other.failures,
            hist=dict(Counter(self.hist) + Counter(other.hist)),
            errors=dict(Counter(self.errors) + Counter(other.errors)),
            users=max(self.users, other.users),
            ok_hist=dict(Counter(self.ok_hist) + Counter(other.ok_hist)),
        )


class Timeline:
    """The seconds of a load run, in order; windows of it; totals and percentiles of any window."""

    def __init__(self, seconds: Iterable[Second] = ()) -> None:
        merged: dict[int, Second] = {}
        for s in seconds:
            merged[s.t] = merged[s.t].merged(s) if s.t in merged else s
        self.seconds: list[Second] = [merged[t] for t in sorted(merged)]

    @classmethod
    def read(cls, path: Path | str) -> Timeline:
        """Read a timeline file (possibly still being written); a missing file is an empty timeline."""
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            return cls()
        return cls.parse(text)

    @classmethod
    def parse(cls, text: str) -> Timeline:
        """Parse JSON lines, skipping a trailing half-written line."""
        seconds = []
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                seconds.append(Second.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue  # a line being written right now
        return cls(seconds)

    # --- windows ---------------------------------------------------------------------------------
    def window(self, start: float | None = None, end: float | None = None) -> Timeline:
        """The seconds lying wholly inside ``[start, end)`` (unix timestamps; None = unbounded)."""
        return Timeline(
            s for s in self.seconds
            if (start is None or s.t >= start) and (end is None or s.t + 1 <= end)
        )

    def last(self, seconds: float) -> Timeline:
        """The last ``seconds`` seconds that were written."""
        if not self.seconds:
            return Timeline()
        return self.window(start=self.seconds[-1].t + 1 - seconds)

    # --- totals ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.seconds)

    def __bool__(self) -> bool:
        return bool(self.seconds)

    @property
    def start(self) -> int | None:
        """The first second, or None."""
        return self.seconds[0].t if self.seconds else None

    @property
    def end(self) -> int | None:
        """The end of the last second (exclusive), or None."""
        return self.seconds[-1].t + 1 if self.seconds else None

    @property
    def duration(self) -> float:
        """Seconds covered, first to last inclusive."""
        return float(self.end - self.start) if self.seconds else 0.0  # type: ignore[operator]

    @property
    def requests(self) -> int:
        """Requests completed in the window."""
        return sum(s.requests for s in self.seconds)

    @property
    def failures(self) -> int:
        """Failed requests (an HTTP error, a refused connection, a timeout)."""
        return sum(s.failures for s in self.seconds)

    @property
    def successes(self) -> int:
        """Requests that did not fail."""
        return self.requests - self.failures

    @property
    def error_rate(self) -> float | None:
        """failures / requests, or None without requests."""
        return self.failures / self.requests if self.requests else None

    @property
    def rate_rps(self) -> float:
        """Requests per second over the window."""
        return self.requests / self.duration if self.duration else 0.0

    def hist(self) -> dict[int, int]:
        """The merged latency histogram."""
        total: Counter[int] = Counter()
        for s in self.seconds:
            total.update(s.hist)
        return dict(total)

    def ok_hist(self) -> dict[int, int]:
        """The merged latency histogram of the successful requests."""
        total: Counter[int] = Counter()
        for s in self.seconds:
            total.update(s.ok_hist)
        return dict(total)

    def errors(self) -> dict[str, int]:
        """Failure messages and their counts, most frequent first."""
        total: Counter[str] = Counter()
        for s in self.seconds:
            total.update(s.errors)
        return dict(total.most_common())

    def percentile(self, q: float) -> float | None:
        """A latency percentile of the whole window, in milliseconds."""
        return percentile(self.hist(), q)

    @property
    def p50(self) -> float | None:
        """Median latency (ms)."""
        return self.percentile(0.5)

    @property
    def p95(self) -> float | None:
        """95th percentile latency (ms)."""
        return self.percentile(0.95)

    @property
    def p99(self) -> float | None:
        """99th percentile latency (ms)."""
        return self.percentile(0.99)

    @property
    def ok_p95(self) -> float | None:
        """95th percentile latency of the successful requests (ms); None without any."""
        return percentile(self.ok_hist(), 0.95)

    def summary(self) -> dict[str, Any]:
        """Totals of the window, JSON-ready."""
        return {
            "start": self.start,
            "end": self.end,
            "seconds": len(self.seconds),
            "requests": self.requests,
            "failures": self.failures,
            "error_rate": self.error_rate,
            "rate_rps": round(self.rate_rps, 1),
            "p50_ms": self.p50,
            "p95_ms": self.p95,
            "p99_ms": self.p99,
        }
