"""After each experiment: the runbook's verification checklist over a load window, and Prometheus's cross-check.

The checklist decides whether the experiment verified; Prometheus's own numbers for the same window (HAProxy's
counters) are a figure beside it, asked while the run goes on and collected before the report is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from gameday import interrupts
from gameday.alerts import client as alerts
from gameday.alerts.rules import Selectors
from gameday.config import Settings
from gameday.load.timeline import Timeline, window_complete_at
from gameday.result import Alert, ChecklistItem, ExperimentResult
from gameday.runbook.package import Runbook
from gameday.targets.base import Target
from gameday.verify.checklist import run_checklist
from gameday.verify.measurements import LoadWindow, Measurements
from gameday.verify.smoke import decided
from gameday.verify.verdicts import MIN_LATENCY_SAMPLES, Status

CROSS_CHECK_WAIT_S = 30.0  # the longest the report waits for Prometheus's cross-check of one window


@dataclass
class Verified:
    """One experiment's verification: the checklist, when it passed, what ran beside it, the window's bounds."""

    checklist: list[ChecklistItem] = field(default_factory=list)
    verified_at: float | None = None
    alert: Alert | None = None
    window: dict[str, float | None] | None = None  # the verification window's whole seconds
    cross_check: Future[dict[str, Any] | None] | None = None


class Verification:
    """The checklist of every experiment of a game day, and their Prometheus cross-checks."""

    def __init__(self, settings: Settings, target: Target, runbook: Runbook, window_s: float) -> None:
        self.settings = settings
        self.runbook = runbook
        self.target = target
        self.window_s = window_s
        # no verdict depends on Prometheus's cross-check, so the next experiment does not wait for it; its figures
        # join the experiment's result before the report is written
        self._cross_checks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cross-check")
        self._pending: list[tuple[ExperimentResult, Future[dict[str, Any] | None]]] = []

    def verify(self, start: float, experiment_end: float, timeline: Callable[[], Timeline],
               baseline: LoadWindow | None, alongside: Callable[[], Alert | None]) -> Verified:
        """The runbook's checklist over a load window after recovery, and what ``alongside`` returns (run beside
        the checklist once the window is complete: the alert's times, from Prometheus too).

        ``start``: when the method ended, its last action having proven recovery; the experiment's steady state
        after and rollbacks (ended at ``experiment_end``) run inside the window: its error rate and latency are
        the background load's, and a rollback that disturbed the service would show in them. The timeline counts
        requests by the wall-clock second they completed in, so the window is the whole seconds lying after
        ``start``: it begins at the next second boundary, and it is first looked at when ``verify_window_s`` of
        them can have been written (locust writes each second just after it ends), then every 0.1 s.
        """
        length = self.window_s
        deadline = time.monotonic() + length + 30
        window = alone = LoadWindow.from_timeline(Timeline())
        ready = max(window_complete_at(start, length), window_complete_at(experiment_end, 1))
        interrupts.pause(max(0.0, ready - time.time()))
        while time.monotonic() < deadline:
            seconds = timeline().window(start, time.time())
            window = LoadWindow.from_timeline(seconds)
            # the window's seconds after the experiment ended (its steady-state burst too), when only the background
            # load ran: what the baseline was measured under, so the response time is judged on it (and Prometheus,
            # which counts every request HAProxy served, is cross-checked on it); at least one second of it, and
            # enough successful requests for a latency verdict, within the deadline
            alone = LoadWindow.from_timeline(seconds.window(experiment_end))
            if (window.duration_s >= length and alone.duration_s >= 1 and alone.successes >= MIN_LATENCY_SAMPLES
                    and decided(window, self.settings)):
                break  # long enough, and enough requests for the error-rate and latency verdicts at this rate
            interrupts.pause(0.1)  # poll (a safe point): the next second, or more requests for the error-rate verdict
        bounds = {"start": window.start, "end": window.end}
        measurements = Measurements(load=window, baseline=baseline, settled=alone)
        # Prometheus's numbers are not an item of the checklist: asked while it runs, collected by the report
        cross_check = self._cross_checks.submit(self._prometheus_cross_check, alone)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="alert") as pool:
            beside = pool.submit(alongside)
            verdicts = run_checklist(self.target, measurements, self.settings, self.runbook.checklist)
            passed_at = time.time() if all(v.status == Status.PASS for v in verdicts) else None
            found = beside.result()
        return Verified([checklist_item(v) for v in verdicts], passed_at, found, bounds, cross_check)

    def follow(self, result: ExperimentResult, cross_check: Future[dict[str, Any] | None] | None) -> None:
        """The cross-check joins ``result`` when collected."""
        if cross_check is not None:
            self._pending.append((result, cross_check))

    def collect(self, wait_s: float) -> None:
        """Each experiment's Prometheus cross-check into its result: asked while the run went on, waited for at most
        ``wait_s`` each (none once the run was interrupted); a Ctrl-C here ends the wait, not the report."""
        try:
            for scored, pending in self._pending:
                try:
                    scored.prometheus_cross_check = pending.result(timeout=wait_s)
                except FutureTimeout:
                    why = f"no answer within {wait_s:g}s" if wait_s else "not waited for: the run was interrupted"
                    scored.prometheus_cross_check = {"error": why}
                except Exception as exc:  # a figure beside the verdicts: its failure is reported, not the run's end
                    scored.prometheus_cross_check = {"error": f"{type(exc).__name__}: {exc}"}
        except KeyboardInterrupt:
            for scored, pending in self._pending:
                if not pending.done():
                    scored.prometheus_cross_check = {"error": "not waited for: the run was interrupted"}
        finally:
            self._cross_checks.shutdown(wait=False, cancel_futures=True)

    def _prometheus_cross_check(self, window: LoadWindow) -> dict[str, Any] | None:
        """The verification window's error rate and p95 against Prometheus' own numbers (HAProxy's counters), over
        the seconds of the window when only the background load ran (none: not cross-checked), Prometheus's up to
        its first scrape that has them all (:func:`alerts.scraped_window_stats`)."""
        prom = self.target.prometheus_url()
        if not prom or window.start is None or window.end is None or not window.requests:
            return None
        try:
            theirs = alerts.scraped_window_stats(prom, Selectors.of(self.settings.service), window.start,
                                                 window.end, timeout=CROSS_CHECK_WAIT_S)
        except alerts.PrometheusError as exc:
            return {"error": str(exc)}
        ours_rate = window.failures / window.requests
        p95_prom_ms = theirs.p95_seconds * 1000 if theirs.p95_seconds is not None else None
        return {
            "gameday": {"error_rate": ours_rate, "p95_ms": window.p95_ms, "requests": window.requests},
            "prometheus": {"error_rate": theirs.error_ratio, "p95_ms": p95_prom_ms, "requests": theirs.lb_requests},
            "error_rate_difference_pp": None if theirs.error_ratio is None
            else round(100 * (ours_rate - theirs.error_ratio), 3),
        }


def checklist_item(verdict: Any) -> ChecklistItem:
    """A checklist verdict as the report keeps it."""
    data = verdict.to_dict()
    return ChecklistItem(name=data.get("name"), status=str(data.get("status")), detail=data.get("explanation", ""),
                         measured=data.get("measured", {}))
