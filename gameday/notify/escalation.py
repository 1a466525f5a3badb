"""Who an outage reaches under an escalation policy: the runbook's (its manifest's ``escalation``, read as
``Runbook.escalation``), e.g. on-call paged at once, team lead at 5 minutes, engineering manager at 15."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class EscalationStep:
    """Who is told after how long an outage has lasted."""

    after_s: float
    who: str
    how: str


def steps_reached(outage_s: float | None, policy: Sequence[EscalationStep]) -> list[EscalationStep]:
    """The steps an incident of this length reaches; none when there was no outage."""
    if outage_s is None or outage_s < 0:
        return []
    return [step for step in policy if outage_s >= step.after_s]


def level(outage_s: float | None, policy: Sequence[EscalationStep]) -> str:
    """The highest person reached, or "none"."""
    reached = steps_reached(outage_s, policy)
    return reached[-1].who if reached else "none"


def escalates_after_s(policy: Sequence[EscalationStep]) -> float | None:
    """How long an outage lasts before it reaches anyone beyond whoever it pages first: the first later step. A
    page still missing then has broken the runbook's own promise, however slowly the alert's rule was written;
    ``None`` for a policy of one step."""
    if not policy:
        return None
    return min((s.after_s for s in policy if s.after_s > policy[0].after_s), default=None)
