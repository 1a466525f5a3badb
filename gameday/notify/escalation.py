"""The runbook's escalation policy: on-call paged at once, team lead at 5 minutes, engineering manager at 15."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EscalationStep:
    """Who is told after how long an outage has lasted."""

    after_s: float
    who: str
    how: str


POLICY: tuple[EscalationStep, ...] = (
    EscalationStep(0, "on-call engineer", "PagerDuty page (立即)"),
    EscalationStep(5 * 60, "team lead", "escalation at 5 minutes"),
    EscalationStep(15 * 60, "engineering manager", "escalation at 15 minutes"),
)


def steps_reached(outage_s: float | None, policy: tuple[EscalationStep, ...] = POLICY) -> list[EscalationStep]:
    """The steps an incident of this length reaches; none when there was no outage."""
    if outage_s is None or outage_s < 0:
        return []
    return [step for step in policy if outage_s >= step.after_s]


def level(outage_s: float | None, policy: tuple[EscalationStep, ...] = POLICY) -> str:
    """The highest person reached, or "none"."""
    reached = steps_reached(outage_s, policy)
    return reached[-1].who if reached else "none"

