"""What the steps share: the fault scope of a scenario, the run's load measurements, polling with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

from gameday.calls import fillable
from gameday.config import Settings
from gameday.ledger import Ledger
from gameday.profile import Endpoint, Profile
from gameday.targets.base import Target
from gameday.verify.faulting import injected
from gameday.verify.measurements import LoadWindow
from gameday.verify.smoke import measure_load

T = TypeVar("T")

LOAD_USERS = 4
LOAD_MAX_SECONDS = 15.0
FRESH_SECONDS = 90.0  # a healthy window this recent, with no fault since, is reused by later scenarios


def standalone_endpoints(profile: Profile) -> list[Endpoint]:
    """The profile's endpoints that need no captured value: what can be requested while nothing works."""
    return [e for e in profile.endpoints if fillable(e, {})]


def wait_for(probe: Callable[[], T], done: Callable[[T], bool], timeout: float, interval: float = 0.25) -> T:
    """Call ``probe`` until ``done(result)`` or the deadline; return the last result."""
    deadline = time.monotonic() + timeout
    result = probe()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(interval)  # poll
        result = probe()
    return result


class RunMeasurements:
    """Load windows measured during this pytest run: the baseline (before any fault) and the latest one."""

    def __init__(self, settings: Settings, out_dir: Path) -> None:
        self.settings = settings
        self.out_dir = out_dir
        self.baseline: LoadWindow | None = None
        self.latest: LoadWindow | None = None
        self.latest_at = 0.0
        self.fault_active = False
        self.count = 0

    def invalidate(self) -> None:
        """A fault was injected: no earlier window describes the service any more."""
        self.latest = None

    def measure(self, target: Target, fixed_seconds: float | None = None) -> LoadWindow:
        """A new bounded window (until decided, or exactly ``fixed_seconds``)."""
        self.count += 1
        window, _ = measure_load(
            target.base_url(), self.settings, users=LOAD_USERS,
            max_seconds=fixed_seconds or LOAD_MAX_SECONDS, out_dir=self.out_dir / f"load-{self.count}",
            fixed=fixed_seconds is not None,
        )
        if not self.fault_active:
            self.latest, self.latest_at = window, time.monotonic()
            if self.baseline is None:
                self.baseline = window
        return window

    def window(self, target: Target, exclude: LoadWindow | None = None) -> LoadWindow:
        """The latest window when fresh and not ``exclude``; otherwise a new one."""
        fresh = self.latest is not None and time.monotonic() - self.latest_at < FRESH_SECONDS
        if fresh and not self.fault_active and self.latest is not exclude:
            return self.latest  # type: ignore[return-value]
        return self.measure(target)

    def baseline_window(self, target: Target) -> LoadWindow | None:
        """The baseline: the first window measured while no fault of this run was active (measured if none)."""
        if self.baseline is None and not self.fault_active:
            self.measure(target)
        return self.baseline


class FaultScope:
    """The faults of one scenario: each through the ledger, all undone (newest first) at its end."""

    def __init__(self, target: Target, ledger: Ledger, run: RunMeasurements) -> None:
        self.target, self.ledger, self.run = target, ledger, run
        self.stack = ExitStack()
        self.names: list[str] = []

    def inject(self, name: str, params: dict[str, Any] | None = None, background: bool = False) -> None:
        """Inject a fault until the end of the scenario."""
        self.run.fault_active = True
        self.run.invalidate()
        self.names.append(name)
        self.stack.enter_context(injected(self.target, self.ledger, name, params, background=background))

    def close(self) -> None:
        """Undo every fault of the scenario."""
        try:
            self.stack.close()
        finally:
            self.run.fault_active = False
