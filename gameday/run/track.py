"""The live record of one experiment during a game day: phases, detection, recovery, notifications."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gameday import interrupts
from gameday.run.prober import Observation

_current: list[ExperimentTrack] = []


def current_track() -> ExperimentTrack | None:
    """The experiment the game day is running now, if any."""
    return _current[0] if _current else None


def set_current(track: ExperimentTrack | None) -> None:
    """Make ``track`` the current one (None: between experiments)."""
    _current[:] = [track] if track else []


@dataclass
class ExperimentTrack:
    """What happened when, for one experiment; fed by the chaostoolkit control and the prober."""

    name: str
    fault: str
    params: dict[str, Any]
    expects_outage: bool
    started_at: float = field(default_factory=time.time)
    phase: str = "steady state"
    activity: str = ""
    injected_at: float | None = None  # the fault's injection started (ledger written, first change)
    fault_in_place_at: float | None = None
    detected_at: float | None = None
    resolution_started_at: float | None = None
    resolution_action: str = ""
    recovered_at: float | None = None
    method_ended_at: float | None = None  # the method's last activity ended (the steady state after begins)
    alert_active_at: float | None = None  # the page's activeAt in Prometheus (when its expression first held)
    page_waited_s: float | None = None  # how long the on-call engineer waited for the page (run.paging)
    page_for_s: float | None = None  # the paging rule's for:, as Prometheus runs it
    # the service as the probes see it since the injection: down while some probed path's last answer failed
    # (what a blackbox alert's min(probe_success) == 0 sees), up once every path answers again
    down_since: float | None = None
    up_since: float | None = None
    _longest_down_s: float = 0.0
    _path_ok: dict[str, bool] = field(default_factory=dict)
    pre_resolution: list[Callable[[ExperimentTrack], None]] = field(default_factory=list)
    on_detected: list[Callable[[ExperimentTrack], None]] = field(default_factory=list)
    on_recovered: list[Callable[[ExperimentTrack], None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _hook_threads: list[threading.Thread] = field(default_factory=list)
    _diagnosing: threading.Thread | None = None  # the pre-resolution hooks, once begun
    _fail_runs: dict[str, list[float]] = field(default_factory=dict)
    _ok_run: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    DETECT_AFTER = 2  # consecutive failed probes of one path
    RECOVER_AFTER = 6  # consecutive successful probes

    def mark_injecting(self, at: float) -> None:
        """The injection activity started."""
        self.injected_at = self.injected_at or at
        self.phase = "injecting"

    def mark_injected(self, at: float) -> None:
        """The injection activity ended: the fault is in place."""
        self.fault_in_place_at = at
        self.phase = "outage" if self.detected_at else "waiting for symptoms"

    def mark_resolution(self, at: float, action: str) -> None:
        """The first resolution action starts."""
        self.resolution_started_at = at
        self.resolution_action = action
        self.phase = "resolving"

    def begin_diagnosis(self) -> None:
        """The symptom was seen (the method's first probe after the fault ended): the on-call engineer's part (wait
        for the page, diagnose) begins now, in a thread, beside the runbook checks the method runs next, rather than
        after them: an engineer who saw the symptom does not wait for a colleague's dependency check to time out
        before running their own (measured: a hung dependency's check timeout was waited twice in a row)."""
        if self._diagnosing is not None or self.resolution_started_at:
            return
        self.phase = "diagnosing"
        self._diagnosing = threading.Thread(target=self._pre_resolution, daemon=True, name=f"diagnose-{self.name}")
        self._diagnosing.start()

    def before_resolution(self) -> None:
        """Between detection and resolution: the page and the diagnosis are done before the first resolution action
        (begun here when no probe came before it). Waited for at safe points: a Ctrl-C lands within 0.1 s."""
        self.begin_diagnosis()
        assert self._diagnosing is not None
        while self._diagnosing.is_alive():
            self._diagnosing.join(0.1)
            interrupts.checkpoint()

    def _pre_resolution(self) -> None:
        for hook in self.pre_resolution:
            self._run_hook(hook)  # a hook must never stop the resolution

    def observe(self, obs: Observation) -> None:
        """Feed one probe observation (called from the prober's threads)."""
        fire: list[Callable[[ExperimentTrack], None]] = []
        with self._lock:
            if self.injected_at is None or obs.at < self.injected_at:
                return
            fail_run = self._fail_runs.setdefault(obs.path, [])
            done = obs.at + obs.latency_s  # when the answer came: what a user saw then
            if obs.ok:
                fail_run.clear()
                self._ok_run.append(done)
                if (self.detected_at and not self.recovered_at and self.resolution_started_at
                        and len(self._ok_run) >= self.RECOVER_AFTER):
                    self.recovered_at = self._ok_run[0]
                    fire = self.on_recovered
            else:
                self._ok_run.clear()
                fail_run.append(done)
                if self.detected_at is None and len(fail_run) >= self.DETECT_AFTER:
                    self.detected_at = done
                    if self.phase == "waiting for symptoms":
                        self.phase = "outage"
                    fire = self.on_detected
            self._availability(obs.path, obs.ok, done)
        for hook in fire:
            thread = threading.Thread(target=self._run_hook, args=(hook,), daemon=True)
            self._hook_threads.append(thread)
            thread.start()

    def _availability(self, path: str, ok: bool, at: float) -> None:
        """Down from the first failed answer while every path answered, up again once every path answers."""
        self._path_ok[path] = ok
        if not ok and self.down_since is None:
            self.down_since, self.up_since = at, None
        elif ok and all(self._path_ok.values()) and (self.down_since is not None or self.up_since is None):
            if self.down_since is not None:
                self._longest_down_s = max(self._longest_down_s, at - self.down_since)
            self.down_since, self.up_since = None, at

    def longest_down_s(self, now: float) -> float:
        """The longest time the service was down without a break since the injection, the current outage included:
        what a rule's ``for:`` needs to have seen before it can page."""
        with self._lock:
            current = now - self.down_since if self.down_since is not None else 0.0
            return max(self._longest_down_s, current)

    def _run_hook(self, hook: Callable[[ExperimentTrack], None]) -> None:
        try:
            hook(self)
        except Exception as exc:  # a notification that failed is a note of the report, never a traceback
            self.notes.append(f"{getattr(hook, '__name__', 'hook')} failed: {type(exc).__name__}: {exc}")

    def join_hooks(self, timeout: float) -> None:
        """Wait (bounded) for the detection/recovery hooks still running, so the report has their results."""
        deadline = time.monotonic() + timeout
        for thread in list(self._hook_threads):
            thread.join(max(0.0, deadline - time.monotonic()))
