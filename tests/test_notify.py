"""Notifications: dry run by default; real sends to a local receiver that checks each payload's shape."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gameday.notify import escalation, messages
from gameday.notify.sender import Notifier
from gameday.runbook.package import find

RUNBOOK = find("service-outage")  # its notice and escalation policy

ROUTING_KEY = "R0UT1NG-KEY-very-secret"
SLACK_PATH = "/services/T000/B000/very-secret-token"


class Receiver(ThreadingHTTPServer):
    """Accepts PagerDuty Events v2 and Slack webhook posts, rejecting malformed ones like the real services."""

    received: list[tuple[str, dict[str, Any]]]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        problems = check_pagerduty(body) if self.path == "/v2/enqueue" else check_slack(body, self.path)
        self.server.received.append((self.path, body))
        self.send_response(400 if problems else 202)
        self.end_headers()
        self.wfile.write(json.dumps({"problems": problems}).encode())

    def log_message(self, *args: Any) -> None:
        return


def check_pagerduty(body: dict[str, Any]) -> list[str]:
    """The Events API v2 rules that matter here."""
    problems = []
    if body.get("routing_key") != ROUTING_KEY:
        problems.append("routing_key")
    if body.get("event_action") not in ("trigger", "acknowledge", "resolve"):
        problems.append("event_action")
    if not body.get("dedup_key"):
        problems.append("dedup_key")
    if body.get("event_action") == "trigger":
        payload = body.get("payload") or {}
        for key in ("summary", "source", "severity"):
            if not payload.get(key):
                problems.append(f"payload.{key}")
        if payload.get("severity") not in ("critical", "error", "warning", "info"):
            problems.append("payload.severity")
    return problems


def check_slack(body: dict[str, Any], path: str) -> list[str]:
    """An incoming webhook needs text (blocks optional) at its secret path."""
    problems = [] if path == SLACK_PATH else ["path"]
    if not isinstance(body.get("text"), str) or not body["text"]:
        problems.append("text")
    for block in body.get("blocks", []):
        if block.get("type") not in ("section", "header", "divider", "context"):
            problems.append("block type")
    return problems


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), _Handler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _incident(notifier: Notifier) -> list[Any]:
    at = 1_790_000_000.0
    notice = RUNBOOK.notice
    summary = f"{notice.subject}: ecommerce-backend down"
    return [
        notifier.notice(messages.stakeholder_notice(notice.subject, notice.body, "ecommerce-backend", "all-pods-down",
                                                    at)),
        notifier.pagerduty(messages.pagerduty_event("trigger", "gd-1-all-pods-down", summary, "local", at,
                                                     component="ecommerce-backend")),
        notifier.slack(messages.slack_message(summary, {"experiment": "all-pods-down"}), "trigger"),
        notifier.pagerduty(messages.pagerduty_event("resolve", "gd-1-all-pods-down", "resolved", "local", at + 30,
                                                     component="ecommerce-backend")),
    ]


def test_dry_run_by_default_sends_nothing(monkeypatch, receiver):
    for var in ("GAMEDAY_PAGERDUTY_ROUTING_KEY", "GAMEDAY_SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GAMEDAY_PAGERDUTY_EVENTS_URL", f"http://127.0.0.1:{receiver.server_port}/v2/enqueue")
    notifier = Notifier()
    notes = _incident(notifier)
    assert notifier.dry_run
    assert not any(n.sent for n in notes)
    assert receiver.received == []


def test_real_sends_have_the_right_shape_and_never_record_secrets(monkeypatch, receiver):
    base = f"http://127.0.0.1:{receiver.server_port}"
    monkeypatch.setenv("GAMEDAY_PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
    monkeypatch.setenv("GAMEDAY_PAGERDUTY_EVENTS_URL", f"{base}/v2/enqueue")
    monkeypatch.setenv("GAMEDAY_SLACK_WEBHOOK_URL", base + SLACK_PATH)
    notifier = Notifier()
    notes = _incident(notifier)
    sent = [n for n in notes if n.channel != "stakeholders"]
    assert all(n.sent and n.outcome == "HTTP 202" for n in sent), [n.outcome for n in sent]
    paths = [p for p, _ in receiver.received]
    assert paths == ["/v2/enqueue", SLACK_PATH, "/v2/enqueue"]
    trigger = receiver.received[0][1]
    assert trigger["payload"]["severity"] == "critical" and trigger["dedup_key"] == "gd-1-all-pods-down"
    assert receiver.received[2][1]["event_action"] == "resolve"
    notice = notes[0].payload
    assert notice["subject"] == "P0 - Service Outage"
    assert notice["body"] == "All services are currently unavailable. Team is investigating."
    recorded = json.dumps([n.__dict__ for n in notifier.sent])
    assert ROUTING_KEY not in recorded and "very-secret-token" not in recorded


def test_a_failed_send_is_recorded_without_the_url(monkeypatch):
    monkeypatch.setenv("GAMEDAY_SLACK_WEBHOOK_URL", "http://127.0.0.1:9/hooks/very-secret-token")
    monkeypatch.delenv("GAMEDAY_PAGERDUTY_ROUTING_KEY", raising=False)
    note = Notifier(timeout=0.5).slack(messages.slack_message("x", {}), "trigger")
    assert not note.sent and "very-secret-token" not in note.outcome


@pytest.mark.parametrize(
    ("outage_s", "level", "steps"),
    [(None, "none", 0), (30, "on-call engineer", 1), (299, "on-call engineer", 1), (300, "team lead", 2),
     (900, "engineering manager", 3), (3600, "engineering manager", 3)],
)
def test_escalation_follows_the_runbook_timings(outage_s, level, steps):
    assert escalation.level(outage_s, RUNBOOK.escalation) == level
    assert len(escalation.steps_reached(outage_s, RUNBOOK.escalation)) == steps
