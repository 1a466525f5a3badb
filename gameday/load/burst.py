"""A short, bounded load of the profile's mix from threads of this process: the smoke gate's load window.

The game day's long load runs in locust (``gameday.load.runner``); a gate that must decide in a second or two cannot
wait for locust to start (1-3 s on two busy cores before its first request). This runs the same mix (the profile's
``load.mix``: endpoints and journeys by weight, ``load.users`` users, no think time) through
:class:`gameday.calls.Client`, and keeps the same per-second :class:`gameday.load.timeline.Timeline` (``ok_hist``
included), read live while it runs. Bounded by a request count and a deadline; nothing runs after :meth:`stop`.
With ``think_time_s`` each user waits like the profile's (``load.think_time_s``) between its tasks.

A request counts as failed when it is not answered as the profile expects (``Call.ok``), as in the locustfile. A
request the burst planned and did not send is *not sent*, counted apart with why (:meth:`Burst.not_sent`), never as a
failure: an error rate is of what the service answered. Not sent: an endpoint of the mix whose placeholders nothing
captured (left out of the user's mix), a journey's steps after one that failed or captured nothing, a request whose
placeholder has no value, a task still waiting for its answer when the burst was read after :meth:`stop`.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gameday.calls import Call, Client, JourneyRun, fillable, setup
from gameday.errors import UsageError
from gameday.load.timeline import Second, Timeline, round_ms
from gameday.placeholders import ENV_PREFIX
from gameday.profile import REQUEST_BUILTINS, Profile

Task = Callable[[Client, dict[str, Any]], list[Call] | JourneyRun]
MAX_USERS = 50
MAX_REQUESTS = 100_000
MAX_SECONDS = 300.0


IN_FLIGHT = "still waiting for an answer when the load was read (after stop)"


def tasks(profile: Profile, values: dict[str, Any]) -> tuple[list[tuple[Task, int]], list[str]]:
    """The profile's mix as (task, weight) for a user holding the captures ``values``, and why each endpoint left out
    of it is (its placeholders have no value: it could never be sent)."""
    out: list[tuple[Task, int]] = []
    left_out: list[str] = []
    for entry in profile.mix():
        if entry.journey is not None:
            journey = profile.journey(entry.journey)
            out.append((lambda c, v, j=journey: c.journey(j, v)[0], entry.weight))
            continue
        endpoint = profile.endpoint(entry.endpoint or "")
        if not fillable(endpoint, values):
            missing = sorted(n for n in endpoint.placeholder_names()
                             if n not in values and n not in REQUEST_BUILTINS and not n.startswith(ENV_PREFIX))
            left_out.append(f"{endpoint.name}: no value captured for {', '.join(missing)}")
            continue
        out.append((lambda c, v, e=endpoint: [c.endpoint(e, v)], entry.weight))
    return out, left_out


def unsent(call: Call) -> bool:
    """A request that never left the client: no answer in no time (:meth:`Client.call` returns such a call when a
    placeholder has no value)."""
    return call.status is None and call.elapsed_ms == 0.0


class Burst:
    """``users`` threads running the mix until ``max_requests`` calls, ``max_seconds`` or :meth:`stop`."""

    def __init__(self, profile: Profile, base_url: str, users: int | None = None, max_requests: int = 5000,
                 max_seconds: float = 20.0, timeout_s: float = 3.0, seed: int | None = None,
                 think_time_s: tuple[float, float] | None = None) -> None:
        self.users = profile.load.users if users is None else users
        if not 1 <= self.users <= MAX_USERS:
            raise UsageError(f"load users must be 1-{MAX_USERS}, got {self.users}")
        if not 1 <= max_requests <= MAX_REQUESTS or not 0 < max_seconds <= MAX_SECONDS:
            raise UsageError(f"a burst is bounded: 1-{MAX_REQUESTS} requests, 0-{MAX_SECONDS:g} s")
        self.profile, self.base_url, self.timeout_s = profile, base_url, timeout_s
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.think_time_s = think_time_s
        self.random = random.Random(seed)
        self.sent = 0
        self._not_sent: Counter[str] = Counter()
        self._in_flight = 0
        self._seconds: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.started_at = 0.0

    def __enter__(self) -> Burst:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Burst:
        """Start the users; returns at once."""
        self.started_at = time.monotonic()
        for i in range(self.users):
            t = threading.Thread(target=self._user, daemon=True, name=f"gameday-burst-{i}")
            t.start()
            self._threads.append(t)
        return self

    def running(self) -> bool:
        """Whether any user is still running."""
        return any(t.is_alive() for t in self._threads)

    def stop(self) -> Timeline:
        """Stop the users (each finishes the request in flight, bounded by its timeout); the timeline."""
        self._stop.set()
        deadline = time.monotonic() + self.timeout_s * 2 + 1
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return self.timeline()

    def wait(self) -> Timeline:
        """Run to the end of its bounds; the timeline."""
        for t in self._threads:
            t.join(max(0.0, self.started_at + self.max_seconds - time.monotonic()) + self.timeout_s + 1)
        return self.stop()

    def timeline(self) -> Timeline:
        """The seconds so far (live)."""
        with self._lock:
            return Timeline(Second(t=t, requests=b["requests"], failures=b["failures"], hist=dict(b["hist"]),
                                   ok_hist=dict(b["ok_hist"]), errors=dict(b["errors"]), users=self.users)
                            for t, b in self._seconds.items())

    def not_sent(self) -> dict[str, int]:
        """What the burst planned and did not send, by why, most first (live); never counted in the timeline."""
        with self._lock:
            counts = Counter(self._not_sent)
            if self._in_flight:
                counts[IN_FLIGHT] += self._in_flight
        return dict(counts.most_common())

    def write(self, path: Path) -> None:
        """The timeline as JSON lines (the format of ``gameday/load/timeline.py``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(s.to_json()) + "\n" for s in self.timeline().seconds))

    def _user(self) -> None:
        end = self.started_at + self.max_seconds
        with Client(self.base_url, timeout_s=self.timeout_s) as client:
            values: dict[str, Any] = {}
            if self.profile.detection.setup:
                self._starting()
                run, captured = setup(self.profile, client)
                self._record(run or [])
                values = {k: v for k, v in captured.items() if k != "run_id"}  # each journey gets its own
            mix, left_out = tasks(self.profile, values)
            with self._lock:
                self._not_sent.update(f"left out of the mix: {why}" for why in left_out)
            weights = [w for _, w in mix]
            while mix and not self._stop.is_set() and time.monotonic() < end:
                with self._lock:
                    if self.sent >= self.max_requests:
                        return
                    task = self.random.choices(mix, weights)[0][0]
                self._starting()
                self._record(task(client, values))
                if self.think_time_s is not None:
                    pause = self.random.uniform(*self.think_time_s)
                    self._stop.wait(min(pause, max(0.0, end - time.monotonic())))

    def _starting(self) -> None:
        with self._lock:
            self._in_flight += 1

    def _record(self, done: list[Call] | JourneyRun) -> None:
        """Record one finished task: its calls in the timeline, what it did not send apart."""
        t = int(time.time())
        calls = list(done.calls) if isinstance(done, JourneyRun) else done
        with self._lock:
            self._in_flight -= 1
            if isinstance(done, JourneyRun) and len(calls) < done.steps:
                why = "a step captured nothing" if done.missing_captures else "a step failed"
                self._not_sent[f"journey {done.name}: steps after {why}"] += done.steps - len(calls)
            for call in calls:
                if unsent(call):
                    self._not_sent[f"{call.label}: {call.error}"[:160]] += 1
                    continue
                self.sent += 1
                b = self._seconds.setdefault(t, {"requests": 0, "failures": 0, "hist": {}, "ok_hist": {},
                                                 "errors": {}})
                b["requests"] += 1
                ms = round_ms(call.elapsed_ms)
                b["hist"][ms] = b["hist"].get(ms, 0) + 1
                if call.ok:
                    b["ok_hist"][ms] = b["ok_hist"].get(ms, 0) + 1
                else:
                    b["failures"] += 1
                    got = call.status if call.status is not None else call.error
                    key = f"{call.label}: {got} (expected {call.expect})"[:160]
                    b["errors"][key] = b["errors"].get(key, 0) + 1
