"""The payloads: the runbook's stakeholder notice, PagerDuty Events API v2 events, a Slack message.

The notice's subject and text are the runbook's (its manifest's ``notice``, read as ``Runbook.notice``); the other
texts here are gameday's own, about the game day.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

RESOLVED_BODY = "Service restored. Verification checklist passed."
WITHDRAWN_BODY = "The game day ended before its service was back; its faults were undone: no outage remains."


def stakeholder_notice(subject: str, body: str, service: str, experiment: str, detected_at: float) -> dict[str, str]:
    """The runbook's notice (Resolution / 立即行動 / 通知 stakeholders), with the runbook's subject and text."""
    when = datetime.fromtimestamp(detected_at, UTC).isoformat(timespec="seconds")
    return {"subject": subject, "body": body, "service": service, "experiment": experiment, "detected_at": when}


def withdrawn_text(service: str, experiment: str, why: str) -> str:
    """The resolve of a page whose game day ended early (interrupted, halted, aborted): no outage is left."""
    return f"Resolved: {service} ({experiment}): game day {why}. {WITHDRAWN_BODY}"


def pagerduty_event(
    action: str, dedup_key: str, summary: str, source: str, at: float, details: dict[str, Any] | None = None, *,
    component: str,
) -> dict[str, Any]:
    """An Events API v2 body without its routing key (added at send time, never stored)."""
    if action not in ("trigger", "acknowledge", "resolve"):
        raise ValueError(f"unknown PagerDuty event action {action!r}")
    event: dict[str, Any] = {"event_action": action, "dedup_key": dedup_key}
    if action == "trigger":
        event["payload"] = {
            "summary": summary[:1024],
            "source": source,
            "severity": "critical",
            "timestamp": datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds"),
            "component": component,  # the service (the profile's name)
            "group": "production",
            "class": "service-outage",
            "custom_details": details or {},
        }
    return event


def slack_message(text: str, fields: dict[str, str]) -> dict[str, Any]:
    """An incoming-webhook message: a fallback text and one section with fields."""
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}},
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields.items()][:10],
            },
        ],
    }
