"""The pages and notices of a game day, as the on-call engineer and the stakeholders would get them.

Every page is recorded in the ledger before it is sent (:mod:`gameday.notify.pages`) and resolved when the service is
back, or withdrawn when its experiment ended before that: whatever ends the run leaves no incident open.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Protocol

from gameday.alerts import client as alerts
from gameday.config import Settings
from gameday.ledger import Ledger
from gameday.notify import messages, pages
from gameday.notify.sender import Notifier
from gameday.run.track import ExperimentTrack
from gameday.runbook.package import Runbook
from gameday.targets.base import Target

PAGE_POLL_S = 0.25  # how often the page wait asks Prometheus (each ask bounded by 4x this): half the default
PAGE_NEAR_POLL_S = 0.05  # ... and from PAGE_POLL_S before the evaluation Prometheus will fire it at (activeAt + for:)


class AlertOptions(Protocol):
    """The options the page wait reads (``GameDayOptions``)."""

    wait_for_alert: bool
    alert_timeout_s: float


class Paging:
    """The pages of one game day: waited for (the runbook's paging alert), sent (its notice), resolved or withdrawn."""

    def __init__(self, settings: Settings, options: AlertOptions, target: Target, runbook: Runbook, run_id: str,
                 alert_expected: dict[str, bool]) -> None:
        self.settings = settings
        self.runbook = runbook
        self.options = options
        self.target = target
        self.run_id = run_id
        self.alert_expected = alert_expected
        self.notifier = Notifier()
        self.ledger: Ledger | None = None  # the run's, once its preflight passed
        self._pages: dict[str, pages.Page] = {}  # experiment -> its page, until resolved

    def open(self) -> list[str]:
        """The experiments whose page is still open."""
        return list(self._pages)

    def wait_for_page(self, track: ExperimentTrack) -> None:
        """Like the on-call engineer: act once the endpoint-down alert has paged (bounded), if it is expected to."""
        prom = self.target.prometheus_url()
        if not (self.options.wait_for_alert and prom and self.alert_expected.get(track.name, track.expects_outage)):
            return
        alert_name = self.runbook.paging_alert_name(self.settings.service)
        track.phase = f"waiting for {alert_name}"
        remaining = self.options.alert_timeout_s - (time.time() - (track.injected_at or time.time()))
        if remaining > 0:
            with contextlib.suppress(TimeoutError, alerts.PrometheusError):
                page = alerts.wait_for_firing(prom, alert_name, timeout=remaining, interval=PAGE_POLL_S,
                                              near=PAGE_NEAR_POLL_S)
                track.alert_active_at = alerts.active_at(page)

    def _page(self, track: ExperimentTrack) -> pages.Page:
        return pages.Page(f"gameday-{self.run_id}-{track.name}", self.settings.service.service.name, track.name,
                          self.target.name)

    def notify_outage(self, track: ExperimentTrack) -> list[dict[str, Any]]:
        """The stakeholder notice and the page (recorded in the ledger first: whatever ends the run resolves it)."""
        at = track.detected_at or time.time()
        page = self._pages[track.name] = self._page(track)
        notice = self.runbook.notice
        summary = f"{notice.subject}: {page.service} down ({track.name})"
        assert self.ledger is not None
        sent = [self.notifier.notice(messages.stakeholder_notice(notice.subject, notice.body, page.service, track.name,
                                                                 at)),
                *pages.trigger(self.notifier, self.ledger, self.target.identity(), page, summary, at,
                               {"experiment": track.name, "fault": track.fault})]
        return [n.__dict__ for n in sent]

    def notify_recovered(self, track: ExperimentTrack) -> list[dict[str, Any]]:
        """The page resolved: the service is back."""
        at = track.recovered_at or time.time()
        page = self._pages.pop(track.name, None) or self._page(track)
        text = f"Resolved: {page.service} back ({track.name}). {messages.RESOLVED_BODY}"
        assert self.ledger is not None
        return [n.__dict__ for n in pages.resolve(self.notifier, self.ledger, page, text, at)]

    def withdraw(self, name: str, why: str) -> list[dict[str, Any]]:
        """Resolve the page of an experiment that ended before its service was back, unless a halt or an abort
        resolved it already."""
        page = self._pages.pop(name, None)
        if page is None or self.ledger is None or not pages.is_open(self.ledger, page):
            return []
        text = messages.withdrawn_text(page.service, name, why)
        return [n.__dict__ for n in pages.resolve(self.notifier, self.ledger, page, text, time.time())]
