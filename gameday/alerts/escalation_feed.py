"""Which runbook escalation steps are due, fed by the alerts gameday's receiver recorded.

The runbook (Escalation): the paging alert (the profile's ``alerts.endpoint_down``) fires → page the on-call
engineer at once; still firing at 5 minutes → team lead; at 15 minutes → engineering manager
(the runbook's policy, ``Runbook.escalation``). Each firing episode of the paging alert is one incident; its clock
starts when the firing notification arrived (the moment on-call is paged) and stops when the resolved
notification arrives. Everything here is pure: give it the alerts read from the receiver's file
(``client.read_received_alerts``) and the current time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gameday.alerts.client import ReceivedAlert
from gameday.notify.escalation import EscalationStep, steps_reached


@dataclass(frozen=True)
class Incident:
    """One firing episode of an alert (one label set), from its first firing to its resolved notification."""

    alertname: str
    key: str  # the alert's fingerprint, or its labels when the receiver got none
    fired_at: float
    resolved_at: float | None  # None while still firing

    def duration(self, now: float) -> float:
        """How long it has been firing at ``now`` (or lasted, once resolved)."""
        return (self.resolved_at if self.resolved_at is not None else now) - self.fired_at


def _identity(alert: ReceivedAlert) -> str:
    if alert.fingerprint:
        return alert.fingerprint
    return ",".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))


def incidents(received: Iterable[ReceivedAlert], now: float, alertname: str) -> list[Incident]:
    """The firing episodes of ``alertname`` known at ``now``, oldest first.

    Repeated firing notifications of an episode are one incident; a resolved one closes it, and a later firing
    opens a new one. Notifications received after ``now`` are not known yet and are ignored.
    """
    ordered = sorted(
        (a for a in received if a.alertname == alertname and a.received_at.timestamp() <= now),
        key=lambda a: a.received_at,
    )
    open_: dict[str, float] = {}
    out: list[Incident] = []
    for alert in ordered:
        key, at = _identity(alert), alert.received_at.timestamp()
        if alert.status == "firing":
            open_.setdefault(key, at)
        elif alert.status == "resolved" and key in open_:
            out.append(Incident(alertname, key, open_.pop(key), at))
    out += [Incident(alertname, key, fired_at, None) for key, fired_at in open_.items()]
    return sorted(out, key=lambda i: i.fired_at)


def escalations_from_alerts(
    received: list[ReceivedAlert], now: float, alertname: str, policy: tuple[EscalationStep, ...],
) -> list[dict[str, Any]]:
    """The escalation steps due at ``now``, one dict per (incident, step), ordered by when each became due.

    A step is due when its incident was still firing ``after_s`` seconds after it fired (a resolved incident
    reaches only the steps within its duration). Each dict has ``key`` (stable: send each key once),
    ``alertname``, ``incident``, ``who``, ``how``, ``after_s``, ``due_at``, ``fired_at``, ``resolved_at`` and
    ``status`` (``firing`` or ``resolved``).
    """
    due: list[dict[str, Any]] = []
    for incident in incidents(received, now, alertname):
        for step in steps_reached(incident.duration(now), policy):
            due.append({
                "key": f"{incident.key}@{incident.fired_at:.3f}/{step.after_s:g}",
                "alertname": incident.alertname,
                "incident": incident.key,
                "who": step.who,
                "how": step.how,
                "after_s": step.after_s,
                "due_at": incident.fired_at + step.after_s,
                "fired_at": incident.fired_at,
                "resolved_at": incident.resolved_at,
                "status": "firing" if incident.resolved_at is None else "resolved",
            })
    return sorted(due, key=lambda d: (d["due_at"], d["after_s"]))
