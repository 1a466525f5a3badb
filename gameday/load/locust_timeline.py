"""A locust plugin that writes the per-second timeline; loaded BY LOCUST ONLY (``-f locustfile.py,<this file>``).

Never import this module from gameday: importing locust gevent-patches the process. It depends on
nothing but locust and the standard library, so it can be copied next to a locustfile on another machine.

When the environment variable ``GAMEDAY_TIMELINE_FILE`` names a file, one JSON line per wall-clock
second is appended to it (format: ``gameday/load/timeline.py``), including seconds without any
completed request. Standalone and ``--master`` processes write; ``--worker`` processes ship their
per-second buckets to the master with every stats report (every 3 s), and the master writes them as
they arrive (the reader merges lines of the same second).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

import gevent
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from gameday.load.timeline import percentile, round_ms  # the same rounding and percentiles as the reader

TIMELINE_ENV = "GAMEDAY_TIMELINE_FILE"
REPORT_KEY = "gameday_timeline"
MAX_ERROR_KINDS = 8  # per second: the most frequent failure messages are enough to tell the story


class _Bucket:
    """Requests completed in one second."""

    __slots__ = ("errors", "failures", "hist", "ok_hist", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.failures = 0
        self.hist: Counter = Counter()
        self.ok_hist: Counter = Counter()  # successful requests only: latency is judged on these
        self.errors: Counter = Counter()

    def add(self, response_time: float | None, error: str | None) -> None:
        self.requests += 1
        if response_time is not None:
            self.hist[round_ms(response_time)] += 1
            if error is None:
                self.ok_hist[round_ms(response_time)] += 1
        if error is not None:
            self.failures += 1
            self.errors[error[:160]] += 1

    def merge(self, data: dict[str, Any]) -> None:
        self.requests += int(data["requests"])
        self.failures += int(data["failures"])
        self.hist.update({int(k): int(v) for k, v in data["hist"].items()})
        self.ok_hist.update({int(k): int(v) for k, v in data.get("ok_hist", {}).items()})
        self.errors.update({str(k): int(v) for k, v in data["errors"].items()})

    def to_report(self) -> dict[str, Any]:
        return {"requests": self.requests, "failures": self.failures,
                "hist": {str(k): v for k, v in self.hist.items()},
                "ok_hist": {str(k): v for k, v in self.ok_hist.items()}, "errors": dict(self.errors)}


class TimelineRecorder:
    """Buckets requests by the second they completed in; writes or ships the buckets."""

    def __init__(self, environment: Any, path: str | None) -> None:
        self.environment = environment
        self.path = path
        self.buckets: dict[int, _Bucket] = {}
        self.next_t: int | None = None  # the first second not written yet
        self.flusher: Any = None
        self.stopping = False

    def on_request(self, request_type: str, name: str, response_time: float | None, exception: Any = None,
                   **kwargs: Any) -> None:
        """Locust's request event: one completed request (a refused connection or a timeout is a failure)."""
        t = int(time.time())
        error = None if exception is None else f"{request_type} {name}: {exception!r}"
        self.buckets.setdefault(t, _Bucket()).add(response_time, error)
        if self.next_t is None:
            self.next_t = t

    def on_report_to_master(self, client_id: str, data: dict[str, Any], **kwargs: Any) -> None:
        """Worker side: ship every complete bucket (every bucket once the test is stopping) to the master."""
        now = int(time.time())
        ready = {t: b for t, b in self.buckets.items() if t < now or self.stopping}
        for t in ready:
            del self.buckets[t]
        data[REPORT_KEY] = {str(t): b.to_report() for t, b in ready.items()}

    def on_worker_stopping(self, **kwargs: Any) -> None:
        """Worker side: the final report (sent right after stopping) carries the current second too."""
        self.stopping = True

    def on_worker_report(self, client_id: str, data: dict[str, Any], **kwargs: Any) -> None:
        """Master side: merge a worker's buckets."""
        for t, report in (data.get(REPORT_KEY) or {}).items():
            self.buckets.setdefault(int(t), _Bucket()).merge(report)
            if self.next_t is None:
                self.next_t = int(t)

    def on_test_start(self, **kwargs: Any) -> None:
        """Seconds without requests are written too, from the start of the test on."""
        if self.next_t is None:
            self.next_t = int(time.time())
        if self.flusher is None and self.path:
            self.flusher = gevent.spawn(self._flush_loop)

    def _flush_loop(self) -> None:
        while True:
            gevent.sleep(1.0 - (time.time() % 1.0) + 0.05)  # just after each second boundary
            self.flush(final=False)

    def flush(self, final: bool) -> None:
        """Append the lines of complete seconds (every second when ``final``)."""
        if not self.path or self.next_t is None:
            return
        now = int(time.time())
        upto = max([now + 1, *(t + 1 for t in self.buckets)]) if final else now
        lines = []
        for t in sorted(set(range(self.next_t, upto)) | {t for t in self.buckets if t < upto}):
            lines.append(self._line(t, self.buckets.pop(t, None)))
        self.next_t = max(self.next_t, upto)
        if lines:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write("".join(lines))
                fh.flush()

    def _line(self, t: int, bucket: _Bucket | None) -> str:
        b = bucket or _Bucket()
        runner = self.environment.runner
        users = getattr(runner, "user_count", 0) if runner is not None else 0
        data = {
            "t": t,
            "requests": b.requests,
            "failures": b.failures,
            "p50": percentile(b.hist, 0.5),
            "p95": percentile(b.hist, 0.95),
            "p99": percentile(b.hist, 0.99),
            "users": users,
            "hist": {str(k): v for k, v in sorted(b.hist.items())},
            "ok_hist": {str(k): v for k, v in sorted(b.ok_hist.items())},
            "errors": dict(b.errors.most_common(MAX_ERROR_KINDS)),
        }
        return json.dumps(data, separators=(",", ":")) + "\n"

    def on_quitting(self, **kwargs: Any) -> None:
        """Write everything left when locust exits."""
        if self.flusher is not None:
            self.flusher.kill(block=False)
            self.flusher = None
        self.flush(final=True)


@events.init.add_listener
def _on_init(environment: Any, **kwargs: Any) -> None:
    runner = environment.runner
    path = os.environ.get(TIMELINE_ENV) or None
    recorder = TimelineRecorder(environment, path)
    environment.gameday_timeline = recorder
    if isinstance(runner, WorkerRunner):
        environment.events.request.add_listener(recorder.on_request)
        environment.events.report_to_master.add_listener(recorder.on_report_to_master)
        environment.events.test_stopping.add_listener(recorder.on_worker_stopping)
        return
    if not path:
        return
    if isinstance(runner, MasterRunner):
        environment.events.worker_report.add_listener(recorder.on_worker_report)
    else:
        environment.events.request.add_listener(recorder.on_request)
    environment.events.test_start.add_listener(recorder.on_test_start)
    environment.events.quitting.add_listener(recorder.on_quitting)
    # a master gets its workers' final reports during runner.quit(), after `quitting`: flush once more
    environment.events.quit.add_listener(recorder.on_quitting)
