"""Post-deploy smoke: the checklist's items against a target, with a bounded load window of its own.

It never injects anything. The load is the profile's mix from threads of this process (``gameday.load.burst``:
no start-up time, unlike locust), its users without think time, stopped as soon as the error-rate verdict is
decided (zero failures: ~381 requests; see ``verdicts.required_requests``) with enough successful requests for a
p95, and in any case after ``max_load_s``. Every other item (the dependency checks included) runs, in parallel,
during the load window: the gate is as slow as its load window, no slower. The replicas are read before and after:
every restart the platform counted in between is named, and more than the profile's ``slo.max_restarts`` fails the
gate (:mod:`gameday.verify.restarts`).

With ``rollback_on_failure`` (the runbook's Prevention: automatic rollback on failure) a failed
verification rolls the target back to its previous revision (``target.rollout_undo()``) and verifies
again; both verdicts are reported and the deploy still counts as failed.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gameday.config import Settings
from gameday.errors import UsageError
from gameday.load.burst import Burst
from gameday.targets.base import Target
from gameday.targets.model import Replica, TargetError
from gameday.verify.checklist import ITEMS, LOAD_ITEMS, check_item, with_restarts
from gameday.verify.measurements import LoadWindow, Measurements
from gameday.verify.restarts import Restart, restarts_between
from gameday.verify.verdicts import Status, Verdict, load_decided, overall

MAX_REQUESTS = 50_000  # with max_load_s, the bound of a load window
SETTLE_TIMEOUT_S = 30.0  # after a rollback: replicas ready and every endpoint back in the load balancer


@dataclass
class Attempt:
    """One verification: the checklist's verdicts and the load window behind the last two."""

    label: str
    verdicts: list[Verdict]
    load: LoadWindow | None
    elapsed_s: float
    load_dir: str = ""
    restarts: list[Restart] = field(default_factory=list)  # replicas the platform restarted during the window

    @property
    def status(self) -> Status:
        """PASS only when every item passes."""
        return overall(self.verdicts)

    @property
    def passed(self) -> bool:
        """Whether every item passed."""
        return self.status is Status.PASS

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {"label": self.label, "status": self.status.value, "elapsed_s": round(self.elapsed_s, 2),
                "verdicts": [v.to_dict() for v in self.verdicts],
                "load": self.load.to_dict() if self.load else None, "load_dir": self.load_dir,
                "restarts": [r.to_dict() for r in self.restarts]}


@dataclass
class SmokeReport:
    """The verification, and after a rollback the second one; ``passed`` is about the deploy."""

    target: str
    base_url: str
    attempts: list[Attempt] = field(default_factory=list)
    rollback: dict[str, Any] | None = None
    elapsed_s: float = 0.0

    @property
    def passed(self) -> bool:
        """The deploy passed: its (first) verification passed. A rollback never makes it pass."""
        return bool(self.attempts) and self.attempts[0].passed

    @property
    def exit_code(self) -> int:
        """0 only when every item of the first verification passed."""
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {"target": self.target, "base_url": self.base_url, "passed": self.passed,
                "exit_code": self.exit_code, "elapsed_s": round(self.elapsed_s, 2),
                "attempts": [a.to_dict() for a in self.attempts], "rollback": self.rollback}


def decided(window: LoadWindow, settings: Settings) -> bool:
    """Whether the error-rate verdict is decided and the latency has enough successful samples (or never will:
    the error rate failed): :func:`gameday.verify.verdicts.load_decided`, the steady state's rule too."""
    return load_decided(window.requests, window.failures, settings.service.slo.max_error_rate,
                        settings.slo.confidence)


def measure_load(base_url: str, settings: Settings, users: int | None = None, max_seconds: float = 20.0,
                 out_dir: Path | None = None, fixed: bool = False) -> tuple[LoadWindow, Path]:
    """A bounded load window of the profile's mix: until decided (or ``max_seconds``), or all of it if ``fixed``.

    ``users`` defaults to the profile's ``load.users``; the timeline is written to ``out_dir/timeline.jsonl``.
    """
    out = out_dir or Path(tempfile.mkdtemp(prefix="gameday-smoke-load-"))
    with Burst(settings.service, base_url, users, max_requests=MAX_REQUESTS, max_seconds=max_seconds) as burst:
        while burst.running() and not fixed:
            if decided(LoadWindow.from_timeline(burst.timeline()), settings):
                break
            time.sleep(0.05)  # poll
        timeline = burst.wait() if fixed else burst.stop()
        burst.write(out / "timeline.jsonl")
    return LoadWindow.from_timeline(timeline), out


def verify(target: Target, settings: Settings, users: int | None = None, max_load_s: float = 20.0,
           baseline: LoadWindow | None = None, label: str = "verification", out_dir: Path | None = None) -> Attempt:
    """Every item: the quick ones (dependencies included) in parallel while locust loads, then the load items; the
    replicas are read before and after it all, and "all pods running" names those that restarted in between."""
    start = time.monotonic()
    base_url = target.base_url()
    quick = [i for i in ITEMS if i not in LOAD_ITEMS]
    before = _replicas(target)
    with ThreadPoolExecutor(max_workers=1 + len(quick)) as pool:
        load_future = pool.submit(measure_load, base_url, settings, users, max_load_s, out_dir)
        futures = [pool.submit(check_item, i, target, Measurements(), settings) for i in quick]
        quick_verdicts = [f.result() for f in futures]
        window, load_dir = load_future.result()
    m = Measurements(load=window, baseline=baseline)
    load_verdicts = [check_item(i, target, m, settings) for i in LOAD_ITEMS]
    after = _replicas(target)
    seen: list[Restart] = []
    if before is not None and after is not None:
        seen, allowed = restarts_between(before, after), settings.service.slo.max_restarts
        quick_verdicts = [with_restarts(v, seen, allowed) if v.item == "pods-running" else v for v in quick_verdicts]
    return Attempt(label, quick_verdicts + load_verdicts, window, time.monotonic() - start, str(load_dir), seen)


def _replicas(target: Target) -> list[Replica] | None:
    """The replicas as the target lists them, or None when it cannot (then "all pods running" fails by itself)."""
    try:
        return target.replicas()
    except TargetError:
        return None


def settle(target: Target, timeout: float) -> bool:
    """Wait (bounded) until every replica is ready and the load balancer lists every endpoint UP."""
    deadline = time.monotonic() + timeout
    if not target.wait_healthy(timeout=timeout):
        return False
    while time.monotonic() < deadline:
        endpoints = target.endpoints()
        if endpoints and all(e.ready for e in endpoints):
            return True
        time.sleep(0.2)  # poll
    return False


def run_smoke(target: Target, settings: Settings, rollback_on_failure: bool = False, users: int | None = None,
              max_load_s: float | None = None, out_dir: Path | None = None) -> SmokeReport:
    """Verify the target; on failure and when asked, roll back and verify again.

    ``max_load_s``: the longest load window; by default the profile's ``verify.window_s``, as long as the steady
    state may measure the same service to decide its error rate at the SLO (the window ends once decided: a fast
    service in seconds). A fixed 20 s left a heavy service answering 14 req/s inconclusive at 244 of the ~381
    answers that decide 1%."""
    if users is not None and not 1 <= users <= 50:
        raise UsageError(f"--users must be 1-50, got {users}")
    if max_load_s is None:
        max_load_s = settings.service.verify.window_s
    elif not 3 <= max_load_s <= 300:
        raise UsageError(f"--max-load-seconds must be 3-300, got {max_load_s:g}")
    start = time.monotonic()
    target.reachable()
    report = SmokeReport(target.name, target.base_url())
    first_dir = out_dir / "verification" if out_dir else None
    report.attempts.append(verify(target, settings, users, max_load_s, out_dir=first_dir))
    if not report.passed and rollback_on_failure:
        before = target.current_revision()
        try:
            after = target.rollout_undo(wait=True)
        except TargetError as exc:
            report.rollback = {"done": False, "error": str(exc)}
        else:
            settle(target, timeout=SETTLE_TIMEOUT_S)
            report.rollback = {
                "done": True,
                "from": {"revision": before.number, "version": before.version} if before else None,
                "to": {"revision": after.number, "version": after.version},
            }
            second_dir = out_dir / "after-rollback" if out_dir else None
            report.attempts.append(verify(target, settings, users, max_load_s, label="after rollback",
                                          out_dir=second_dir))
    report.elapsed_s = time.monotonic() - start
    return report
