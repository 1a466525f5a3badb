"""The runbook's Detection signals as pure functions of what was observed.

- ``APIEndpointDown``-style condition: the API failed for a sustained window (every probe failed, or
  nearly every answer was a 5xx, for at least ``sustained_s``), like the alert's ``for:`` clause.
- Log patterns: "Connection refused", "service unavailable" in the service's logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

LOG_PATTERNS: tuple[str, ...] = ("Connection refused", "service unavailable")


@dataclass(frozen=True)
class Probe:
    """One probe of the API: when, and whether it succeeded (a 2xx/4xx answer in time)."""

    t: float
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class DownCondition:
    """Whether the API has been down for the sustained window, with the numbers behind it."""

    holds: bool
    failing_for_s: float
    probes: int
    failed: int
    sustained_s: float
    explanation: str


def api_endpoint_down(probes: Sequence[Probe], sustained_s: float, max_success_ratio: float = 0.05) -> DownCondition:
    """The condition holds when the trailing run of failed probes spans at least ``sustained_s``.

    The trailing run may contain successes up to ``max_success_ratio`` of its probes (the alert's
    "(nearly) every response is a 5xx"), but must end with a failure.
    """
    ordered = sorted(probes, key=lambda p: p.t)
    if not ordered:
        return DownCondition(False, 0.0, 0, 0, sustained_s, "no probes")
    # walk back from the newest probe while the success ratio stays within the bound
    start_index = len(ordered)
    successes = 0
    for i in range(len(ordered) - 1, -1, -1):
        successes += ordered[i].ok
        if successes > max_success_ratio * (len(ordered) - i):
            break
        start_index = i
    run = ordered[start_index:]
    if not run or run[-1].ok:
        return DownCondition(False, 0.0, len(ordered), sum(not p.ok for p in ordered), sustained_s,
                             "the latest probe succeeded: the API answers")
    span = run[-1].t - run[0].t
    failed = sum(not p.ok for p in run)
    holds = span >= sustained_s
    text = (f"{failed}/{len(run)} probes failed over the last {span:.1f}s "
            f"({'>=' if holds else '<'} the sustained window of {sustained_s:g}s)")
    return DownCondition(holds, span, len(run), failed, sustained_s, text)


@dataclass(frozen=True)
class LogMatches:
    """How often each pattern appeared, and a few example lines."""

    counts: dict[str, int]
    examples: dict[str, list[str]] = field(default_factory=dict)

    def found(self, pattern: str) -> bool:
        """Whether ``pattern`` appeared at least once."""
        return self.counts.get(pattern, 0) > 0

    @property
    def any(self) -> bool:
        """Whether any pattern appeared."""
        return any(self.counts.values())


def match_log_patterns(lines: Iterable[str], patterns: Sequence[str] = LOG_PATTERNS, examples: int = 2) -> LogMatches:
    """Count case-insensitive occurrences of each pattern (once per line)."""
    compiled = {p: re.compile(re.escape(p), re.IGNORECASE) for p in patterns}
    counts = dict.fromkeys(patterns, 0)
    found: dict[str, list[str]] = {p: [] for p in patterns}
    for line in lines:
        for pattern, rx in compiled.items():
            if rx.search(line):
                counts[pattern] += 1
                if len(found[pattern]) < examples:
                    found[pattern].append(line[:300])
    return LogMatches(counts, found)
