"""Simulated applications: what a Running pod answers over HTTP, and the Prometheus metrics it keeps.

Pods never run processes, but gameday's Kubernetes canary sends load through the API server's
service proxy and reads each pod's ``/metrics`` through the pod proxy (:mod:`.proxy`), exactly as on
a real cluster. So every started pod gets a simulated application:

* its answers come from pluggable *HTTP rules*, ``fn(pod, method, path, body) -> Answer | None``
  (first non-None wins; the built-in :func:`default_rule` comes last);
* it keeps a real ``prometheus_client`` registry per pod incarnation with the reference service's
  request metrics (``http_requests_total``, ``http_request_duration_seconds``), served on
  ``GET /metrics``; the registry starts empty when the pod is replaced (new uid) or a container
  restarts (``restartCount`` changes), like a real process's in-memory counters.

Nothing here holds a lock while an answer's delay runs, so a slow release slows its own requests only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from .kubelet import image_tag, pod_is_ready
from .rules import RuleSet
from .store import Obj

#: the classic text exposition format, what the reference service serves (``generate_latest`` writes it)
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
#: the reference service's latency buckets, so histogram_quantile queries give the same answers
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
#: how much slower a ``*-slow`` release answers (seconds): enough to move requests from the 0.1 s
#: bucket into the 0.25 s one
SLOW_DELAY_S = 0.15
PROBE_PATHS = frozenset({"/healthz", "/readyz"})
METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class Answer:
    """What the simulated application answers: status, body (sent as-is), its content type, and how
    long the application takes before answering (a real sleep of the handling thread)."""

    status: int = 200
    body: bytes | str = b""
    content_type: str = JSON_CONTENT_TYPE
    delay_s: float = 0.0

    @classmethod
    def json(cls, value: Any, status: int = 200, delay_s: float = 0.0) -> Answer:
        """A JSON answer."""
        return cls(status, json.dumps(value, separators=(",", ":")), JSON_CONTENT_TYPE, delay_s)

    @classmethod
    def text(cls, text: str, status: int = 200, delay_s: float = 0.0) -> Answer:
        """A plain-text answer."""
        return cls(status, text, TEXT_CONTENT_TYPE, delay_s)

    @property
    def content(self) -> bytes:
        """The body as bytes."""
        return self.body.encode() if isinstance(self.body, str) else self.body


#: ``fn(pod, method, path, body) -> Answer | None``; ``path`` is the request target as the application
#: sees it, query string included (``/api/products?page=2``); ``pod`` is a read-only copy
HttpRule = Callable[[Obj, str, str, bytes], Answer | None]


def route_of(path: str) -> str:
    """The ``route`` label of a request: its path without the query string."""
    return path.split("?", 1)[0] or "/"


def default_rule(pod: Obj, method: str, path: str, body: bytes) -> Answer:
    """The built-in behaviour, generic (any image), keyed on the image tag of the pod's first container.

    * ``*-bad``: a release that passes its probes but fails every call: 500 ``{"error": ...}`` for
      every path except ``/healthz``, ``/readyz`` and ``/metrics``;
    * ``*-slow``: a correct release that is 150 ms slower: the normal answer after ``SLOW_DELAY_S``;
    * otherwise: 200 with a small JSON body (``[]`` for GET, ``{}`` for other methods).

    ``/healthz`` answers 200 ``ok``; ``/readyz`` 200 ``ok`` while the pod's Ready condition is true,
    else 503 (what the kubelet's failing readiness probe saw), whatever the tag.
    """
    image = pod["spec"]["containers"][0].get("image", "")
    tag = image_tag(image)
    route = route_of(path)
    delay = SLOW_DELAY_S if tag.endswith("-slow") else 0.0
    if route == "/healthz":
        return Answer.text("ok", delay_s=delay)
    if route == "/readyz":
        if pod_is_ready(pod):
            return Answer.text("ok", delay_s=delay)
        return Answer.text("not ready", status=503, delay_s=delay)
    if tag.endswith("-bad") and route != METRICS_PATH:
        return Answer.json({"error": f"internal server error (simulated bad release {image})"}, status=500)
    return Answer.json([] if method == "GET" else {}, delay_s=delay)


@dataclass
class _Instance:
    """The in-memory state of one run of a pod's application (what a process restart loses)."""

    incarnation: tuple[Any, ...]
    registry: CollectorRegistry
    requests: Counter
    duration: Histogram


def _new_instance(incarnation: tuple[Any, ...]) -> _Instance:
    registry = CollectorRegistry()
    requests = Counter(
        "http_requests_total",
        "HTTP requests by method, route and status",
        ["method", "route", "status"],
        registry=registry,
    )
    duration = Histogram(
        "http_request_duration_seconds",
        "HTTP request duration by route and status",
        ["route", "status"],
        registry=registry,
        buckets=DURATION_BUCKETS,
    )
    return _Instance(incarnation, registry, requests, duration)


def incarnation_of(pod: Obj) -> tuple[Any, ...]:
    """What changes when the application process is replaced: the pod uid and its restart counts."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return (pod["metadata"]["uid"], *(cs.get("restartCount", 0) for cs in statuses))


class SimulatedApps:
    """The applications of every pod (keyed by pod uid) and the HTTP rules that decide their answers.

    Thread-safe: the HTTP server calls :meth:`handle` from many threads at once.
    """

    def __init__(self, default_rules: bool = True) -> None:
        self._rules: RuleSet[HttpRule] = RuleSet()
        self._default: HttpRule | None = default_rule if default_rules else None
        self._instances: dict[str, _Instance] = {}
        self.stopping = threading.Event()  # set by FakeKube.stop(): slow answers in flight end at once
        self._lock = threading.Lock()

    # -- rules -----------------------------------------------------------------------------------------
    def add_rule(self, rule: HttpRule, name: str | None = None) -> Callable[[], None]:
        """Register ``rule(pod, method, path, body) -> Answer | None``, consulted in registration order
        before the built-in default rule; returns a function that removes it again."""
        return self._rules.add(rule, name or getattr(rule, "__name__", "http-rule"))

    def rule_names(self) -> list[str]:
        return self._rules.names()

    # -- state -----------------------------------------------------------------------------------------
    def _instance(self, pod: Obj) -> _Instance:
        uid, incarnation = pod["metadata"]["uid"], incarnation_of(pod)
        with self._lock:
            inst = self._instances.get(uid)
            if inst is None or inst.incarnation != incarnation:
                inst = self._instances[uid] = _new_instance(incarnation)
            return inst

    def forget(self, pod: Obj) -> None:
        """Drop a removed pod's application (hooked to ``Api.on_pod_removed``)."""
        with self._lock:
            self._instances.pop(pod["metadata"]["uid"], None)

    def registry(self, pod: Obj) -> CollectorRegistry:
        """The metrics registry of the pod's current incarnation (for tests that read it directly)."""
        return self._instance(pod).registry

    # -- requests --------------------------------------------------------------------------------------
    def handle(self, pod: Obj, method: str, path: str, body: bytes) -> Answer:
        """Answer one request the way the pod's application would, and count it in its metrics.

        The caller (the proxy) has checked that the pod is Running and its container started.
        """
        started = time.perf_counter()
        inst = self._instance(pod)
        route = route_of(path)
        rules = self._rules.items()
        answer = next((a for a in (rule(pod, method, path, body) for rule in rules) if a is not None), None)
        if answer is None and method == "GET" and route == METRICS_PATH:
            answer = Answer(200, generate_latest(inst.registry), METRICS_CONTENT_TYPE)
        if answer is None and self._default is not None:
            answer = self._default(pod, method, path, body)
        if answer is None:
            answer = Answer.json({"error": "not found"}, status=404)
        if answer.delay_s > 0:
            self.stopping.wait(answer.delay_s)  # the simulated work itself: lock-free, cut short when the fake stops
        if route != METRICS_PATH:
            # scrapes are not counted, unlike many real services: tests can then compare the counters
            # with the number of requests they sent without subtracting their own reads
            status = str(answer.status)
            inst.requests.labels(method=method, route=route, status=status).inc()
            inst.duration.labels(route=route, status=status).observe(time.perf_counter() - started)
        return answer
