"""Scoring the diagnosis in the game day: the verdict each fault should get, and a confusion matrix.

Expected verdicts (the verdict's ``key``):

=====================================  ======================================================
fault                                  expected
=====================================  ======================================================
kill-replicas                          ``all-replicas-down``
freeze-replicas                        ``replicas-hanging``
bad-release                            ``failed-deployment``
bad-config                             ``configuration-problem``
stop-dependency / hang-dependency pg   ``dependency-failure:postgres``
stop-dependency / hang-dependency      ``dependency-degraded:redis`` / ``dependency-degraded:kafka``
redis or kafka
none (a control run)                   ``no-outage``
=====================================  ======================================================

Redis and Kafka are not critical to the service (``/readyz`` answers 200 "degraded" without them):
their loss is a degraded dependency, not an outage, so the verdict names the dependency and says
"degraded" instead of "failure".

A :class:`Verdict` is scored by :attr:`Verdict.scored`: its key, or — when the target is healthy again but every
replica was killed moments ago (``recovered_from``) — the outage it recovered from. A kill-replicas experiment
whose replicas came back before detection still scores ``all-replicas-down``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gameday.diagnose.rules import (
    ALL_REPLICAS_DOWN,
    CONFIGURATION_PROBLEM,
    CRITICAL_DEPENDENCIES,
    DEPENDENCY_DEGRADED,
    DEPENDENCY_FAILURE,
    FAILED_DEPLOYMENT,
    NO_OUTAGE,
    REPLICAS_HANGING,
    Verdict,
)
from gameday.errors import UsageError
from gameday.targets.base import DEPENDENCIES

_BY_FAULT = {
    "kill-replicas": ALL_REPLICAS_DOWN,
    "freeze-replicas": REPLICAS_HANGING,
    "bad-release": FAILED_DEPLOYMENT,
    "bad-config": CONFIGURATION_PROBLEM,
}


def expected_verdict(fault_name: str | None, params: dict[str, Any] | None = None) -> str:
    """The verdict key the diagnosis should give after ``fault_name`` was injected with ``params``."""
    params = params or {}
    if fault_name in (None, "", "none"):
        return NO_OUTAGE
    if fault_name in _BY_FAULT:
        return _BY_FAULT[fault_name]
    if fault_name in ("stop-dependency", "hang-dependency"):
        dependency = params.get("dependency")
        if dependency not in DEPENDENCIES:
            raise UsageError(f"fault {fault_name}: unknown dependency {dependency!r}: expected one of "
                             f"{', '.join(DEPENDENCIES)}")
        kind = DEPENDENCY_FAILURE if dependency in CRITICAL_DEPENDENCIES else DEPENDENCY_DEGRADED
        return f"{kind}:{dependency}"
    raise UsageError(f"no expected verdict for fault {fault_name!r}")


def _key(value: str | Verdict) -> str:
    return value.scored if isinstance(value, Verdict) else str(value)


@dataclass
class ConfusionMatrix:
    """Counts of (expected, actual) verdict keys; rows are expected, columns actual."""

    labels: list[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """How many pairs."""
        return sum(sum(row.values()) for row in self.counts.values())

    @property
    def correct(self) -> int:
        """How many pairs had the expected verdict."""
        return sum(self.counts.get(label, {}).get(label, 0) for label in self.labels)

    @property
    def accuracy(self) -> float:
        """Correct out of all (1.0 when empty)."""
        return self.correct / self.total if self.total else 1.0

    def misses(self) -> list[tuple[str, str, int]]:
        """(expected, actual, count) for every wrong cell."""
        return [(e, a, n) for e, row in self.counts.items() for a, n in row.items() if e != a and n]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "labels": self.labels,
            "counts": self.counts,
            "total": self.total,
            "correct": self.correct,
            "accuracy": self.accuracy,
        }

    def to_markdown(self) -> str:
        """A markdown table: expected verdicts down, actual verdicts across."""
        header = "| expected \\ actual | " + " | ".join(self.labels) + " |"
        rule = "|" + "---|" * (len(self.labels) + 1)
        rows = [
            f"| {e} | " + " | ".join(str(self.counts.get(e, {}).get(a, 0) or "") for a in self.labels) + " |"
            for e in self.labels
            if any(self.counts.get(e, {}).values())
        ]
        summary = f"\n\n{self.correct}/{self.total} verdicts right ({self.accuracy:.0%})"
        return "\n".join([header, rule, *rows]) + summary


def confusion_matrix(pairs: Iterable[tuple[str | Verdict, str | Verdict]]) -> ConfusionMatrix:
    """Count (expected, actual) pairs; each may be a verdict key or a :class:`Verdict`."""
    labels: list[str] = []
    counts: dict[str, dict[str, int]] = {}
    for expected, actual in pairs:
        e, a = _key(expected), _key(actual)
        for label in (e, a):
            if label not in labels:
                labels.append(label)
        counts.setdefault(e, {})
        counts[e][a] = counts[e].get(a, 0) + 1
    return ConfusionMatrix(labels, counts)
