"""Scoring the diagnosis in the game day: a confusion matrix of expected against actual verdicts.

Each fault states the verdict it should get (``Fault.expected_verdict``, :mod:`gameday.faults`): for a dependency,
``dependency-failure:<dep>`` when the service's profile says it cannot work without it (``on_outage: outage``),
``dependency-degraded:<dep>`` when it survives its loss (:func:`gameday.diagnose.rules.dependency_verdict`).

A :class:`Verdict` is scored by :attr:`Verdict.scored`: its key, or — when the target is healthy again but every
replica was killed moments ago (``recovered_from``) — the outage it recovered from. A kill-replicas experiment
whose replicas came back before detection still scores ``all-replicas-down``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gameday.diagnose.rules import Verdict


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
