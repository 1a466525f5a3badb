"""What runs under every experiment of a game day: the background load, the prober, the stop conditions' watcher.

The load is the users the service has during the whole game day (its timeline is what the baseline, the
verification windows and the report's charts are measured from); the prober is what sees an outage begin and end;
the watcher ends the run when a stop condition holds.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from gameday import interrupts
from gameday.abort import load_entry
from gameday.chaos.probes import measure_steady_load
from gameday.config import Settings, StopConditions
from gameday.errors import GamedayError
from gameday.guard import stops
from gameday.ledger import Ledger
from gameday.load.runner import LoadRun, LoadSpec
from gameday.load.timeline import Timeline
from gameday.run import prober as probing
from gameday.run.track import current_track
from gameday.targets.base import Target
from gameday.verify.measurements import LoadWindow
from gameday.verify.verdicts import required_requests

MAX_LOAD_S = 3000.0


class LoadOptions(Protocol):
    """The options the background reads (``GameDayOptions``)."""

    users: int
    baseline_s: float
    verify_window_s: float


class Background:
    """The load, the prober and the watcher of one game day, started before the first experiment."""

    def __init__(self, settings: Settings, options: LoadOptions, target: Target, out_dir: Path) -> None:
        self.settings = settings
        self.options = options
        self.target = target
        self.out_dir = out_dir
        self.load: LoadRun | None = None
        self.prober: probing.Prober | None = None
        self.watcher: stops.Watcher | None = None
        self.baseline: LoadWindow | None = None
        self.steady_state: dict[str, Any] = {}  # what the experiments' steady state reads of it (LOAD_KEY)

    def start(self, experiments: int, ledger: Ledger | None, stop_conditions: StopConditions,
              on_stop: Callable[[stops.Fired], None]) -> None:
        """The load (in the ledger: a SIGKILLed run's locust is ended by 'gameday abort' / 'halt'), the prober and the
        stop conditions' watcher."""
        base = self.target.base_url()
        estimate = self.options.baseline_s + 150.0 * experiments + 60.0
        spec = LoadSpec(
            host=base,
            users=self.options.users,
            duration_s=min(MAX_LOAD_S, estimate),
            out_dir=self.out_dir / "load",
            wait=background_wait(self.settings, self.options.users, self.options.verify_window_s),
            request_timeout_s=self.target.answer_timeout_s(),  # beyond the load balancer's: its 504 is seen
            profile=self.settings.service.source,
        )
        self.load = LoadRun(spec).start()
        if ledger is not None:
            ledger.add(load_entry([p.pid for p in self.load.procs], self.target.identity()))
        self.prober = probing.Prober.for_profile(self.settings.service, base, self.target.health_timeout_s()).start()
        signals = stops.Signals(outage_now, self.prober.snapshot, self.target.prometheus_url())
        self.watcher = stops.Watcher(stop_conditions, signals, on_stop).start()

    def timeline(self) -> Timeline:
        """The load's seconds so far (empty before it started)."""
        return self.load.timeline() if self.load else Timeline()

    def measure_baseline(self) -> None:
        """The load's rate, p95 and error rate before any fault: what the verification compares with."""
        start = time.time()
        deadline = time.monotonic() + self.options.baseline_s + 30
        while time.monotonic() < deadline:
            window = self.timeline().window(start + 1, time.time())
            if window.duration >= self.options.baseline_s and window.requests:
                self.baseline = LoadWindow.from_timeline(window)
                self.steady_state = self._steady_state_load(self.baseline)
                return
            interrupts.pause(0.5)  # poll (a safe point)
        raise GamedayError("no load measured during the baseline window: locust did not reach the service")

    def _steady_state_load(self, baseline: LoadWindow) -> dict[str, Any]:
        """What the experiments' steady state reads of the game day's load (``LOAD_KEY``): its timeline and its
        baseline, judged on before the method (:func:`gameday.chaos.probes.recent_load`), and the baseline of the
        steady state's own burst, measured here once before any fault (the burst that judges the steady state after
        the method compares with it: the same load, at its own concurrency)."""
        profile, knobs = self.settings.service, self.settings.slo
        burst = measure_steady_load(profile, self.target.base_url(), profile.verify.window_s, knobs.confidence,
                                    request_timeout_s=self.target.answer_timeout_s())
        return {
            "timeline": str(self.load.timeline_path) if self.load else None,
            "baseline_p95_ms": baseline.ok_p95_ms, "baseline_spread_ms": baseline.ok_spread_ms,
            "burst_p95_ms": burst["p95_ms"] if burst["ok"] else None,
            "burst_spread_ms": burst["spread_ms"] if burst["ok"] else None,
        }

    def end_load_soon(self) -> None:
        """Ask locust to end now: it writes its stats while the run resolves and scores; stop() collects them."""
        for proc in self.load.procs[:1] if self.load else []:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """The prober and the load stopped."""
        if self.prober:
            self.prober.stop()
        if self.load:
            self.load.stop()


def outage_now() -> tuple[str | None, float | None, float | None]:
    """The running experiment, when its outage started (probes) and ended, for the stop conditions."""
    track = current_track()
    if track is None:
        return None, None, None
    return track.name, track.detected_at, track.recovered_at


def background_wait(settings: Settings, users: int, verify_window_s: float) -> tuple[float, float]:
    """Seconds each user of the background load waits between its tasks, from the profile.

    With ``verify.think_time`` the profile's ``load.think_time_s``, as its users wait (the verification then takes
    as long as deciding the error rate at that rate takes). Otherwise the users wait no longer than the profile's
    think time, and short enough that ``users`` of them start as many tasks as the error rate at the SLO needs
    answers (~381 at 1%, 95%) within the verification window: a task is one request or more (a journey's steps), so
    the window is decided when it is long enough, at a rate no higher than that needs (the machine's cores are the
    service's too). A service whose users think faster gets its own think time."""
    profile = settings.service
    low, high = profile.load.think_time_s
    if profile.verify.think_time:
        return low, high
    needed = required_requests(profile.slo.max_error_rate, settings.slo.confidence, 0.0)
    if not needed:
        return low, high
    mean = users * verify_window_s / needed  # seconds per task of one user
    return round(min(mean / 2, low), 4), round(min(mean * 1.5, high), 4)
