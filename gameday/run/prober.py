"""A continuous probe of the service through its load balancer, at several hertz, in background threads.

It answers "when did users first see the outage, and when was it over" from observations, not guesses.
What is probed comes from the profile: the health path, then ``detection.probes`` (default: every endpoint),
after the ``detection.setup`` journey has run once for the values those endpoints need (an order to look up).

A probe fails when it gets a wrong answer or none within the time the service's own definitions give it: an endpoint
its profile ``timeout_s`` ("seconds before the request counts as failed"), the health path the platform's health-check
timeout (:meth:`~gameday.targets.parts.TargetReads.health_timeout_s`, what takes a replica out of rotation). A page
slower than the latency SLO but answered within those is *slow*: the latency verdicts judge it, never the outage
(measured: a shop with one synchronous worker per replica answered its pages in 2-3 s under a slow cache, its SLO
p95 2 s; a prober timing out at the SLO called that an outage and paged).

What the prober adds to the service's load comes from the profile too: ``detection.hz`` probes per second in all,
and per series at most as many in flight as its schedule sends within the latency SLO. A service slower than its SLO
is probed as fast as it answers (a closed loop), never piled on by probes waiting out their timeouts; a slot missed
that way is skipped, never sent late in a burst.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gameday.calls import Call, Client, setup
from gameday.errors import GamedayError
from gameday.profile import Endpoint, Profile
from gameday.symptoms import Observation

HEALTH = "health"


@dataclass(frozen=True)
class Probe:
    """One series: an endpoint of the profile, or the health path (``endpoint`` None)."""

    name: str
    endpoint: Endpoint | None = None
    path: str = ""
    timeout_s: float = 1.0  # when a request of this series without an answer counts as failed

    def send(self, client: Client, values: dict[str, Any]) -> Call:
        """One request of this series."""
        if self.endpoint is None:
            return client.get(self.path, name=self.name, timeout_s=self.timeout_s)
        return client.endpoint(self.endpoint, values)


def probes_of(profile: Profile, health_timeout_s: float) -> list[Probe]:
    """The profile's probes: the health path first (failed at ``health_timeout_s``), then the detection endpoints."""
    return [Probe(HEALTH, path=profile.service.health_path, timeout_s=health_timeout_s),
            *(Probe(e.name, e, timeout_s=e.timeout_s) for e in profile.probe_endpoints())]


def setup_values(profile: Profile, client: Client) -> dict[str, Any]:
    """Run ``detection.setup`` once; its captures fill the probes' placeholders. A failed setup is one clear error."""
    run, values = setup(profile, client)
    if run is not None and not run.ok:
        raise GamedayError(f"the prober's setup failed: {run.describe()}")
    return values


class Prober:
    """Probe each series at ``hz / len(probes)`` per second until stopped; a probe times out at its series'
    :attr:`Probe.timeout_s`; a series has at most what its schedule sends in ``in_flight_s`` (+1) in flight."""

    def __init__(self, base_url: str, probes: list[Probe], values: dict[str, Any] | None = None,
                 hz: float = 20.0, in_flight_s: float = 0.5) -> None:
        if not probes:
            raise GamedayError("nothing to probe")
        self.client = Client(base_url)  # each request bounded by its own series' timeout
        self.probes = probes
        self.values = dict(values or {})
        self.interval = 1.0 / hz
        self.timeout = max(p.timeout_s for p in probes)
        self.in_flight_s = in_flight_s
        self.observations: list[Observation] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.listeners: list[Callable[[Observation], None]] = []

    @classmethod
    def for_profile(cls, profile: Profile, base_url: str, health_timeout_s: float) -> Prober:
        """The profile's probes at its ``detection.hz``, with the setup journey's captures; the health path fails at
        ``health_timeout_s`` (the target's :meth:`~gameday.targets.parts.TargetReads.health_timeout_s`)."""
        with Client(base_url) as client:
            values = setup_values(profile, client)
        return cls(base_url, probes_of(profile, health_timeout_s), values, hz=profile.detection.hz,
                   in_flight_s=profile.slo.p95_ms / 1000)

    def start(self) -> Prober:
        """Start probing: per series, staggered threads enough that a probe answered within the latency SLO (or
        failed sooner) delays nothing; a slower one delays that thread's next slot, which is skipped."""
        period = self.interval * len(self.probes)  # one series' probe interval
        for i, probe in enumerate(self.probes):
            threads = math.ceil(min(probe.timeout_s, self.in_flight_s) / period) + 1
            for k in range(threads):
                offset = i * self.interval + k * period
                t = threading.Thread(target=self._loop, args=(probe, period * threads, offset), daemon=True,
                                     name=f"gameday-probe-{probe.name}-{k}")
                t.start()
                self._threads.append(t)
        return self

    def stop(self) -> None:
        """Stop and wait for the threads (bounded by the request timeout)."""
        self._stop.set()
        deadline = time.monotonic() + self.timeout + 1
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self.client.close()

    def _loop(self, probe: Probe, period: float, offset: float) -> None:
        if self._stop.wait(offset):
            return
        next_at = time.monotonic()
        while not self._stop.is_set():
            started = time.time()
            obs = Observation(started, probe.send(self.client, self.values), health=probe.endpoint is None)
            with self._lock:
                self.observations.append(obs)
            for listener in tuple(self.listeners):
                listener(obs)
            next_at += period
            now = time.monotonic()
            if next_at < now:  # the answer outlasted this thread's slots: skip them, never catch up in a burst
                next_at += math.ceil((now - next_at) / period) * period
            self._stop.wait(max(0.0, next_at - now))

    def snapshot(self, since: float = 0.0) -> list[Observation]:
        """Observations at or after ``since``, by time."""
        with self._lock:
            return sorted((o for o in self.observations if o.at >= since), key=lambda o: o.at)


def outage_decided(observations: list[Observation], since: float, consecutive: int = 2) -> Observation | None:
    """The probe whose failure decided the outage: the ``consecutive``-th failure in a row of one series.

    Series are judged one by one, so a dependency outage that only some requests feel (an order lookup
    while the catalogue is still served from a cache) is an outage too.
    """
    runs: dict[str, int] = {}
    for obs in sorted((o for o in observations if o.at >= since), key=lambda o: o.done):
        runs[obs.path] = 0 if obs.ok else runs.get(obs.path, 0) + 1
        if runs[obs.path] >= consecutive:
            return obs
    return None


def detected_at(observations: list[Observation], since: float, consecutive: int = 2) -> float | None:
    """When the outage was known: the completion of the probe that decided it."""
    decided = outage_decided(observations, since, consecutive)
    return decided.done if decided else None


def recovered_at(observations: list[Observation], since: float, consecutive: int = 6) -> float | None:
    """When the service was back: the first answer of ``consecutive`` successful probes in a row, after ``since``.

    Times are completions, not starts: a request held in the load balancer's queue until a replica
    came back was answered when the replica was back, not when it was sent.
    """
    run: list[Observation] = []
    for obs in sorted((o for o in observations if o.done >= since), key=lambda o: o.done):
        if not obs.ok:
            run = []
            continue
        run.append(obs)
        if len(run) >= consecutive:
            return run[0].done
    return None
