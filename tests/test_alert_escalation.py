"""The runbook's escalation steps, fed by synthetic alerts as gameday's receiver records them (no stack needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from gameday.alerts.client import ReceivedAlert
from gameday.alerts.escalation_feed import escalations_from_alerts, incidents
from gameday.runbook.package import find
from tests.diagnose_fakes import PROFILE

T0 = 1_800_000_000.0
MIN = 60.0
PAGING = PROFILE.alerts.endpoint_down  # the reference service's endpoint-down alert pages
POLICY = find("service-outage").escalation  # the runbook's escalation policy


def _alert(
    status: str, at: float, alertname: str = PAGING, fingerprint: str | None = "fp-1"
) -> ReceivedAlert:
    return ReceivedAlert(
        status=status,
        labels={"alertname": alertname, "severity": "critical", "service": "ecommerce-backend"},
        annotations={},
        starts_at=datetime.fromtimestamp(T0 - 15, UTC),
        ends_at=datetime.fromtimestamp(at, UTC) if status == "resolved" else None,
        received_at=datetime.fromtimestamp(at, UTC),
        fingerprint=fingerprint,
    )


def _who(due: list[dict]) -> list[str]:
    return [d["who"] for d in due]


def test_fires_and_resolves_before_five_minutes_pages_only_on_call() -> None:
    received = [_alert("firing", T0), _alert("resolved", T0 + 4 * MIN)]
    due = escalations_from_alerts(received, T0 + 30 * MIN, PAGING, POLICY)
    assert _who(due) == ["on-call engineer"]
    assert due[0]["due_at"] == T0 and due[0]["status"] == "resolved" and due[0]["resolved_at"] == T0 + 4 * MIN


def test_still_firing_at_six_minutes_reaches_the_team_lead() -> None:
    due = escalations_from_alerts([_alert("firing", T0)], T0 + 6 * MIN, PAGING, POLICY)
    assert _who(due) == ["on-call engineer", "team lead"]
    assert [d["due_at"] for d in due] == [T0, T0 + 5 * MIN]
    assert all(d["status"] == "firing" and d["resolved_at"] is None for d in due)


def test_still_firing_at_sixteen_minutes_reaches_the_manager() -> None:
    due = escalations_from_alerts([_alert("firing", T0)], T0 + 16 * MIN, PAGING, POLICY)
    assert _who(due) == [step.who for step in POLICY] == ["on-call engineer", "team lead", "engineering manager"]


def test_the_clock_starts_at_the_firing_notification_and_steps_are_inclusive() -> None:
    received = [_alert("firing", T0)]
    assert _who(escalations_from_alerts(received, T0 + 5 * MIN - 0.001, PAGING, POLICY)) == ["on-call engineer"]
    assert _who(escalations_from_alerts(received, T0 + 5 * MIN, PAGING, POLICY)) == ["on-call engineer", "team lead"]
    assert escalations_from_alerts(received, T0 - 1, PAGING, POLICY) == []  # not received yet at that time


def test_repeated_firing_notifications_are_one_incident_and_keys_are_stable() -> None:
    received = [_alert("firing", T0), _alert("firing", T0 + 60), _alert("firing", T0 + 120)]
    first = escalations_from_alerts(received, T0 + 6 * MIN, PAGING, POLICY)
    later = escalations_from_alerts(received, T0 + 7 * MIN, PAGING, POLICY)
    assert _who(first) == ["on-call engineer", "team lead"]
    assert [d["key"] for d in first] == [d["key"] for d in later]  # send each key once
    assert len({d["key"] for d in first}) == 2


def test_a_resolution_received_after_now_is_not_known_yet() -> None:
    received = [_alert("firing", T0), _alert("resolved", T0 + 10 * MIN)]
    assert _who(escalations_from_alerts(received, T0 + 6 * MIN, PAGING, POLICY)) == ["on-call engineer", "team lead"]
    assert escalations_from_alerts(received, T0 + 6 * MIN, PAGING, POLICY)[0]["status"] == "firing"
    assert _who(escalations_from_alerts(received, T0 + 20 * MIN, PAGING, POLICY)) == ["on-call engineer", "team lead"]


def test_a_new_firing_after_resolution_is_a_new_incident_paged_again() -> None:
    received = [_alert("firing", T0), _alert("resolved", T0 + MIN), _alert("firing", T0 + 10 * MIN)]
    due = escalations_from_alerts(received, T0 + 16 * MIN, PAGING, POLICY)
    assert [(d["who"], d["due_at"]) for d in due] == [
        ("on-call engineer", T0),
        ("on-call engineer", T0 + 10 * MIN),
        ("team lead", T0 + 15 * MIN),
    ]
    assert len(incidents(received, T0 + 16 * MIN, PAGING)) == 2


def test_other_alerts_and_stray_resolutions_page_nobody() -> None:
    received = [
        _alert("firing", T0, alertname="HighErrorRatio"),
        _alert("resolved", T0 + MIN),  # its firing was never received: nothing to escalate
    ]
    assert escalations_from_alerts(received, T0 + 20 * MIN, PAGING, POLICY) == []


def test_alerts_without_fingerprint_are_told_apart_by_labels() -> None:
    received = [_alert("firing", T0, fingerprint=None), _alert("resolved", T0 + MIN, fingerprint=None)]
    assert _who(escalations_from_alerts(received, T0 + 20 * MIN, PAGING, POLICY)) == ["on-call engineer"]


def test_the_paging_alert_is_the_one_the_profile_names() -> None:
    received = [_alert("firing", T0, alertname="TicketOfficeDown"), _alert("firing", T0)]
    assert _who(escalations_from_alerts(received, T0 + MIN, "TicketOfficeDown", POLICY)) == ["on-call engineer"]
    assert [i.alertname for i in incidents(received, T0 + MIN, "TicketOfficeDown")] == ["TicketOfficeDown"]
