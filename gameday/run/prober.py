"""A continuous probe of the service through its load balancer, at several hertz, in a background thread.

It answers "when did users first see the outage, and when was it over" from observations, not guesses.
Three requests are probed in turn: the load balancer's health check, the catalogue, and an order
lookup (which needs PostgreSQL and has no cache fallback, so a database outage shows at once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Observation:
    """One probe: when, what, and how it went."""

    at: float
    path: str
    status: int | None  # None: connection refused, reset or timed out
    latency_s: float

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


class Prober:
    """Probe ``paths`` round-robin at ``hz`` requests per second until stopped."""

    def __init__(self, base_url: str, paths: list[str], hz: float = 12.0, timeout: float = 2.5) -> None:
        self.base_url = base_url.rstrip("/")
        self.paths = paths
        self.interval = 1.0 / hz
        self.timeout = timeout
        self.observations: list[Observation] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.listeners: list[Callable[[Observation], None]] = []

    def start(self) -> Prober:
        """Start probing: one thread per path so that a hanging request does not stall the others."""
        per_path = self.interval * len(self.paths)
        for i, path in enumerate(self.paths):
            t = threading.Thread(target=self._loop, args=(path, per_path, i * self.interval), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        """Stop and wait for the threads (bounded by the request timeout)."""
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 1)

    def _loop(self, path: str, period: float, offset: float) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            if self._stop.wait(offset):
                return
            next_at = time.monotonic()
            while not self._stop.is_set():
                started = time.time()
                t0 = time.monotonic()
                try:
                    status: int | None = client.get(self.base_url + path).status_code
                except httpx.HTTPError:
                    status = None
                obs = Observation(started, path, status, time.monotonic() - t0)
                with self._lock:
                    self.observations.append(obs)
                for listener in tuple(self.listeners):
                    listener(obs)
                next_at += period
                self._stop.wait(max(0.0, next_at - time.monotonic()))

    def snapshot(self, since: float = 0.0) -> list[Observation]:
        """Observations at or after ``since``, by time."""
        with self._lock:
            return sorted((o for o in self.observations if o.at >= since), key=lambda o: o.at)


def outage_decided(observations: list[Observation], since: float, consecutive: int = 2) -> Observation | None:
    """The probe whose failure decided the outage: the ``consecutive``-th failure in a row of one path.

    Paths are judged one by one, so a dependency outage that only some requests feel (an order lookup
    while the catalogue is still served from the cache) is an outage too.
    """
    runs: dict[str, int] = {}
    for obs in sorted((o for o in observations if o.at >= since), key=lambda o: o.at + o.latency_s):
        runs[obs.path] = 0 if obs.ok else runs.get(obs.path, 0) + 1
        if runs[obs.path] >= consecutive:
            return obs
    return None


def detected_at(observations: list[Observation], since: float, consecutive: int = 2) -> float | None:
    """When the outage was known: the completion of the probe that decided it."""
    decided = outage_decided(observations, since, consecutive)
    return decided.at + decided.latency_s if decided else None


def recovered_at(observations: list[Observation], since: float, consecutive: int = 6) -> float | None:
    """When the service was back: the first answer of ``consecutive`` successful probes in a row, after ``since``.

    Times are completions, not starts: a request held in the load balancer's queue until a replica
    came back was answered when the replica was back, not when it was sent.
    """
    run: list[Observation] = []
    for obs in sorted((o for o in observations if o.at + o.latency_s >= since), key=lambda o: o.at + o.latency_s):
        if not obs.ok:
            run = []
            continue
        run.append(obs)
        if len(run) >= consecutive:
            return run[0].at + run[0].latency_s
    return None


def symptoms(observations: list[Observation], start: float, end: float) -> dict[str, bool]:
    """Which of the runbook's symptoms the probes saw in a window."""
    window = [o for o in observations if start <= o.at <= end]
    statuses = {o.status for o in window}
    health = [o for o in window if o.path.endswith("healthz")]
    api = [o for o in window if o.path.startswith("/api/")]
    return {
        "health check failing": any(not o.ok for o in health),
        "load balancer 503/504": bool(statuses & {503, 504}),
        "all API endpoints failing": _all_paths_failed_together(api),
        "zero successful requests": _zero_success_stretch(window),
    }


def _all_paths_failed_together(api: list[Observation]) -> bool:
    paths = {o.path for o in api}
    failed = {o.path for o in api if not o.ok}
    return bool(paths) and paths == failed


def _zero_success_stretch(window: list[Observation], seconds: float = 1.0) -> bool:
    """At least ``seconds`` during which no probe succeeded."""
    start: float | None = None
    for obs in window:
        if obs.ok:
            start = None
            continue
        start = obs.at if start is None else start
        if obs.at - start >= seconds:
            return True
    return False
