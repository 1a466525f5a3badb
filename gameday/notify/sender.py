"""Send or record notifications. Secrets come from the environment and never reach a log or report.

Dry run unless ``GAMEDAY_PAGERDUTY_ROUTING_KEY`` / ``GAMEDAY_SLACK_WEBHOOK_URL`` are set. The PagerDuty
endpoint can be pointed elsewhere (a local receiver in tests) with ``GAMEDAY_PAGERDUTY_EVENTS_URL``.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from gameday import tls

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
ROUTING_KEY_ENV = "GAMEDAY_PAGERDUTY_ROUTING_KEY"
SLACK_URL_ENV = "GAMEDAY_SLACK_WEBHOOK_URL"
PAGERDUTY_URL_ENV = "GAMEDAY_PAGERDUTY_EVENTS_URL"


@dataclass
class Notification:
    """One notification as the report shows it (no secret in it)."""

    channel: str  # stakeholders, pagerduty, slack
    kind: str  # trigger, resolve, escalate, notice
    at: float
    payload: dict[str, Any]
    sent: bool = False
    outcome: str = "dry run"

    @property
    def failed(self) -> bool:
        """Meant to be sent (its secret is configured) and not delivered: a connection error or a non-2xx."""
        return not self.sent and self.outcome not in ("dry run", "recorded")

    def describe(self) -> str:
        """``pagerduty trigger: HTTP 400`` (never the URL or the key)."""
        return f"{self.channel} {self.kind}: {self.outcome}"


@dataclass
class Notifier:
    """Records every notification; sends those whose secret is configured."""

    routing_key: str | None = field(default_factory=lambda: os.environ.get(ROUTING_KEY_ENV) or None)
    slack_url: str | None = field(default_factory=lambda: os.environ.get(SLACK_URL_ENV) or None)
    pagerduty_url: str = field(default_factory=lambda: os.environ.get(PAGERDUTY_URL_ENV) or PAGERDUTY_URL)
    timeout: float = 5.0
    sent: list[Notification] = field(default_factory=list)

    @property
    def dry_run(self) -> bool:
        """True when no secret is configured: nothing leaves the machine."""
        return not (self.routing_key or self.slack_url)

    def notice(self, payload: dict[str, Any]) -> Notification:
        """The stakeholder notice: recorded (delivery is by the channels below)."""
        return self._keep(Notification("stakeholders", "notice", time.time(), payload, False, "recorded"))

    def pagerduty(self, event: dict[str, Any]) -> Notification:
        """An Events API v2 event; the routing key is added only to the request body."""
        note = Notification("pagerduty", event["event_action"], time.time(), event)
        if self.routing_key:
            note.sent, note.outcome = self._post(self.pagerduty_url, {**event, "routing_key": self.routing_key})
        return self._keep(note)

    def slack(self, message: dict[str, Any], kind: str) -> Notification:
        """A Slack incoming-webhook message."""
        note = Notification("slack", kind, time.time(), message)
        if self.slack_url:
            note.sent, note.outcome = self._post(self.slack_url, message)
        return self._keep(note)

    def _keep(self, note: Notification) -> Notification:
        self.sent.append(note)
        if note.failed:  # on the console as it happens, not only in the report
            print(f"gameday: notification NOT sent: {note.describe()}", file=sys.stderr, flush=True)
        return note

    def failed(self) -> list[Notification]:
        """Every notification that should have been delivered and was not."""
        return [n for n in self.sent if n.failed]

    def _post(self, url: str, body: dict[str, Any]) -> tuple[bool, str]:
        try:
            response = _post_with_retries(url, body, self.timeout)
        except httpx.HTTPError as exc:
            return False, f"failed: {type(exc).__name__}"  # the URL may hold a secret: never print it
        ok = 200 <= response.status_code < 300
        return ok, f"HTTP {response.status_code}"


@retry(
    retry=retry_if_exception_type(httpx.TransportError),
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=0.2, max=2),
    reraise=True,
)
def _post_with_retries(url: str, body: dict[str, Any], timeout: float) -> httpx.Response:
    return httpx.post(url, json=body, timeout=timeout, verify=tls.context())
