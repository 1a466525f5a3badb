"""The verdicts a diagnosis can give: their keys, titles and the runbook's actions for each, and :class:`Verdict`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# the keys live below the faults, which name the verdict they expect: gameday.verdict_keys (re-exported here)
from gameday.verdict_keys import (
    ALL_REPLICAS_DOWN,
    CONFIGURATION_PROBLEM,
    DEPENDENCY_DEGRADED,
    DEPENDENCY_FAILURE,
    DEPENDENCY_HANG,
    FAILED_DEPLOYMENT,
    KINDS,
    NO_OUTAGE,
    REPLICAS_HANGING,
    UNKNOWN,
    KindTable,
    dependency_verdict,
)

__all__ = [  # the keys and dependency_verdict are re-exported: gameday.diagnose.rules and callers name them here
    "ACTIONS", "ALL_REPLICAS_DOWN", "CONFIGURATION_PROBLEM", "DEPENDENCY_DEGRADED", "DEPENDENCY_FAILURE",
    "DEPENDENCY_HANG", "FAILED_DEPLOYMENT", "KINDS", "NO_OUTAGE", "REPLICAS_HANGING", "TITLES", "UNKNOWN", "Verdict",
    "dependency_verdict", "make_verdict",
]

# a runbook package's own kinds come from its VerdictKind (gameday.verdict_keys.KindTable)
TITLES: Mapping[str, str] = KindTable({
    NO_OUTAGE: "no outage found",
    FAILED_DEPLOYMENT: "failed deployment",
    CONFIGURATION_PROBLEM: "configuration problem",
    DEPENDENCY_FAILURE: "dependency failure",
    DEPENDENCY_DEGRADED: "dependency degraded",
    DEPENDENCY_HANG: "dependency hang",
    ALL_REPLICAS_DOWN: "all replicas down",
    REPLICAS_HANGING: "replicas hanging",
    UNKNOWN: "unknown",
}, lambda kind: kind.title)
# the runbook's resolution, as kubectl words (Target.command_for turns them into this target's command)
ACTIONS: Mapping[str, list[str]] = KindTable({
    NO_OUTAGE: [],
    FAILED_DEPLOYMENT: ["rollout undo"],
    CONFIGURATION_PROBLEM: ["restore config", "rollout restart"],
    DEPENDENCY_FAILURE: [],
    DEPENDENCY_DEGRADED: [],
    DEPENDENCY_HANG: [],
    ALL_REPLICAS_DOWN: ["rollout restart"],
    REPLICAS_HANGING: ["rollout restart"],
    UNKNOWN: ["logs"],
}, lambda kind: list(kind.actions))


@dataclass
class Verdict:
    """The diagnosis: what is wrong, the evidence lines that say so, and the runbook's actions."""

    kind: str
    summary: str
    evidence: list[str] = field(default_factory=list)
    dependency: str | None = None
    actions: list[str] = field(default_factory=list)
    recovered_from: str | None = None  # healthy now, but this outage happened moments ago
    confidence: float = 1.0  # how surely the evidence points at this cause rather than another
    alternatives: list[tuple[str, float]] = field(default_factory=list)  # (key, confidence) of the other candidates

    @property
    def key(self) -> str:
        """``dependency-failure:postgres`` or ``failed-deployment``: what the game day scores."""
        return f"{self.kind}:{self.dependency}" if self.dependency else self.kind

    @property
    def scored(self) -> str:
        """What the game day scores: the outage it recovered from when healthy again, else :attr:`key`."""
        return self.recovered_from or self.key

    @property
    def title(self) -> str:
        """``dependency failure: postgres`` — for people."""
        title = TITLES.get(self.kind, self.kind)
        return f"{title}: {self.dependency}" if self.dependency else title

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "kind": self.kind,
            "key": self.key,
            "scored": self.scored,
            "title": self.title,
            "dependency": self.dependency,
            "summary": self.summary,
            "evidence": self.evidence,
            "actions": self.actions,
            "recovered_from": self.recovered_from,
            "confidence": round(self.confidence, 2),
            "alternatives": [{"key": key, "confidence": round(c, 2)} for key, c in self.alternatives],
        }



def make_verdict(kind: str, summary: str, evidence: list[str], dependency: str | None = None, *,
                 confidence: float = 1.0, alternatives: list[tuple[str, float]] | None = None) -> Verdict:
    """A verdict of ``kind`` with the runbook's actions for it."""
    return Verdict(kind, summary, evidence, dependency, list(ACTIONS[kind]), confidence=confidence,
                   alternatives=list(alternatives or []))

