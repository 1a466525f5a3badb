"""The pages and notices of a game day, as the on-call engineer and the stakeholders would get them.

Every page is recorded in the ledger before it is sent (:mod:`gameday.notify.pages`) and resolved when the service is
back, or withdrawn when its experiment ended before that: whatever ends the run leaves no incident open.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from typing import Any, Protocol

from gameday.alerts import client as alerts
from gameday.alerts.rules import parse_duration
from gameday.config import Settings
from gameday.ledger import Ledger
from gameday.notify import escalation, messages, pages
from gameday.notify.sender import Notifier
from gameday.run.track import ExperimentTrack
from gameday.runbook.package import Runbook
from gameday.targets.base import Target

PAGE_POLL_S = 0.25  # how often the page wait asks Prometheus (each ask bounded by 4x this): half the default
PAGE_NEAR_POLL_S = 0.05  # ... and from PAGE_POLL_S before the evaluation Prometheus will fire it at (activeAt + for:)
PAGE_RECHECK_S = 1.0  # how often the page wait looks again at whether the service is still down


# a range or subquery window as Prometheus prints a rule's expression: [4s], [1m30s], [5m:1m]
_WINDOW = re.compile(r"\[((?:\d+(?:ms|[smhdwy]))+)(?::(?:\d+(?:ms|[smhdwy]))*)?\]")


def paging_rule_s(prom_url: str, alertname: str, timeout: float = 10.0) -> tuple[float, float] | None:
    """``alertname``'s rule as Prometheus runs it: its ``for:`` (how long what it watches must fail in one piece),
    and how long it takes to fire once that began: the ``for:``, the longest range window of its expression (a
    rate holds only once the window has filled) and two evaluations of its group (one to see the expression hold,
    one to fire). ``None`` when no such rule is loaded. The page wait is calibrated on these, so the shipped rules'
    minutes and the local rules' seconds both count."""
    rule = alerts.alerting_rules(prom_url, timeout=timeout).get(alertname)
    if rule is None:
        return None
    hold = float(rule.get("duration") or 0)
    ranges = [parse_duration(r) for r in _WINDOW.findall(rule.get("query", ""))]
    return hold, hold + max(ranges, default=0.0) + 2 * float(rule.get("interval") or 0)


def page_deadline(track: ExperimentTrack, due_s: float, ceiling: float, now: float) -> float:
    """Until when to wait for the page: ``due_s`` after the current outage began; while the service answers,
    ``due_s`` after it came back (a flap may fall again); with no probe seen, ``due_s`` after the injection; never
    past ``ceiling``."""
    base = track.down_since or track.up_since or track.injected_at or now
    return min(base + due_s, ceiling)


def not_due(longest_down_s: float, for_s: float | None, escalates_after_s: float | None) -> str | None:
    """Why a page that did not come was not due (the rule behaved as written), or None: it was due. Not due only
    when the service was never down in one piece for the rule's ``for:`` (a flapping service restarts it); down
    that long and no page is the alert's failure, its windows' lag included; a rule slower than the runbook's
    first escalation is always due, and missing."""
    if for_s is None or longest_down_s >= for_s or (escalates_after_s and for_s > escalates_after_s):
        return None
    return f"the service was never down long enough to page ({longest_down_s:g}s in a row, the rule's for: {for_s:g}s)"


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
        """Like the on-call engineer: act once the endpoint-down alert has paged, if it is expected to.

        How long is the service's and the rule's business, never a constant: the page is due the rule's own time
        (:func:`paging_rule_s`: its ``for:``, window and evaluations, twice over for the scrapes and probe
        timeouts on the way) after the outage began, as the probes see it. A service that flaps (a release that
        crashes a while after each start, replicas out of phase) restarts that clock each time it answers again,
        as it restarts the rule's ``for:``, up to the runbook's first escalation after the detection: a page
        still missing then is missing however the service behaved. A service back by itself for that long is
        not waited on: its page is no longer due."""
        prom = self.target.prometheus_url()
        if not (self.options.wait_for_alert and prom and self.alert_expected.get(track.name, track.expects_outage)):
            return
        alert_name = self.runbook.paging_alert_name(self.settings.service)
        track.phase = f"waiting for {alert_name}"
        started = time.time()
        try:
            rule = paging_rule_s(prom, alert_name, timeout=PAGE_POLL_S * 4)
        except (alerts.PrometheusError, ValueError):
            rule = None
        track.page_for_s = rule[0] if rule else None
        due_s = 2 * rule[1] if rule and rule[1] else self.options.alert_timeout_s
        after = escalation.escalates_after_s(self.runbook.escalation)
        ceiling = (track.detected_at or track.injected_at or started) + after if after else math.inf
        try:
            while (left := page_deadline(track, due_s, ceiling, started) - time.time()) > 0:
                with contextlib.suppress(TimeoutError):
                    page = alerts.wait_for_firing(prom, alert_name, timeout=min(left, PAGE_RECHECK_S),
                                                  interval=PAGE_POLL_S, near=PAGE_NEAR_POLL_S)
                    track.alert_active_at = alerts.active_at(page)
                    return
        finally:
            track.page_waited_s = time.time() - started

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
