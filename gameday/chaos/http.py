"""HTTP through the load balancer: the smoke requests, one parallel sample, and a short bounded burst.

Everything here is bounded in count and time; nothing runs after a call returns.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import httpx

SMOKE_CART = "gameday-smoke"
SMOKE_CUSTOMER = "gameday-smoke"


@dataclass(frozen=True)
class Request:
    """One request of the service's API, with the status a healthy service answers."""

    name: str
    method: str
    path: str
    expect: int
    body: dict[str, Any] | None = None
    api: bool = True  # an API endpoint (not a probe endpoint such as /healthz)


@dataclass(frozen=True)
class Answer:
    """What one request got: a status, or None when no HTTP answer came (refused, timed out)."""

    name: str
    path: str
    status: int | None
    expect: int
    elapsed_ms: float
    error: str = ""
    body: dict[str, Any] | None = None  # a small JSON object answer (an order's id), else None

    @property
    def ok(self) -> bool:
        """Whether the answer is the one a healthy service gives."""
        return self.status == self.expect

    @property
    def success(self) -> bool:
        """A successful request: any 2xx."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def failed(self) -> bool:
        """A failed request: a 5xx or no answer at all."""
        return self.status is None or self.status >= 500

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return asdict(self)


def smoke_requests(product_id: int = 1) -> list[Request]:
    """The smoke test: probes, catalogue, cart (add, read, clear) and an order, in that order."""
    cart = f"/api/cart/{SMOKE_CART}"
    item = {"product_id": product_id, "quantity": 1}
    return [
        Request("healthz", "GET", "/healthz", 200, api=False),
        Request("readyz", "GET", "/readyz", 200, api=False),
        Request("products", "GET", "/api/products", 200),
        Request("product", "GET", f"/api/products/{product_id}", 200),
        Request("add-to-cart", "POST", f"{cart}/items", 200, item),
        Request("cart", "GET", cart, 200),
        Request("order", "POST", "/api/orders", 201, {"customer": SMOKE_CUSTOMER, "items": [item]}),
        Request("clear-cart", "DELETE", cart, 204),
    ]


def send(client: httpx.Client, request: Request) -> Answer:
    """Send one request; transport errors become an answer without a status."""
    started = time.perf_counter()
    body = None
    try:
        response = client.request(request.method, request.path, json=request.body)
        status, error = response.status_code, ""
        body = _small_object(response)
    except httpx.HTTPError as exc:
        status, error = None, f"{type(exc).__name__}: {exc}"[:200]
    elapsed = (time.perf_counter() - started) * 1000
    return Answer(request.name, request.path, status, request.expect, elapsed, error, body)


def _small_object(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's JSON object when it is a small one (kept in journals), else None."""
    if len(response.content) > 1000 or "json" not in response.headers.get("content-type", ""):
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def client(base_url: str, timeout: float = 5.0) -> httpx.Client:
    """A client for the load balancer (no proxies from the environment: loopback only)."""
    return httpx.Client(base_url=base_url, timeout=timeout, trust_env=False)


def run_in_order(base_url: str, requests: list[Request], timeout: float = 5.0) -> list[Answer]:
    """Send requests one after another (the smoke test: add to cart, then read it)."""
    with client(base_url, timeout) as http:
        return [send(http, r) for r in requests]


def run_in_parallel(base_url: str, requests: list[Request], timeout: float = 5.0) -> list[Answer]:
    """Send requests at the same time (a sample of a failing service costs one timeout, not N)."""
    with client(base_url, timeout) as http, ThreadPoolExecutor(max_workers=max(1, len(requests))) as pool:
        return list(pool.map(lambda r: send(http, r), requests))


@dataclass
class Burst:
    """The outcome of a bounded burst of requests."""

    requested: int
    sent: int
    failures: int
    latencies_ms: list[float]
    duration_s: float
    statuses: dict[str, int]

    def p95_ms(self) -> float | None:
        """The 95th percentile latency of the requests that completed (nearest rank)."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        rank = min(len(ordered), max(1, math.ceil(0.95 * len(ordered)))) - 1
        return ordered[rank]


def burst(
    base_url: str,
    requests: int = 200,
    concurrency: int = 4,
    deadline_s: float = 20.0,
    timeout: float = 5.0,
    pick: Callable[[int], Request] | None = None,
) -> Burst:
    """At most ``requests`` read requests from ``concurrency`` threads, stopping at ``deadline_s`` whatever happens."""
    pick = pick or _read_mix
    lock = threading.Lock()
    stop = threading.Event()
    counter = iter(range(requests))
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    failures = 0
    sent = 0
    started = time.monotonic()
    end = started + deadline_s

    def worker() -> None:
        nonlocal failures, sent
        with client(base_url, timeout) as http:
            while not stop.is_set() and time.monotonic() < end:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                answer = send(http, pick(index))
                with lock:
                    sent += 1
                    key = str(answer.status) if answer.status is not None else "no-answer"
                    statuses[key] = statuses.get(key, 0) + 1
                    if answer.ok:
                        latencies.append(answer.elapsed_ms)
                    else:
                        failures += 1

    threads = [threading.Thread(target=worker, daemon=True, name=f"gameday-burst-{i}") for i in range(concurrency)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join(max(0.0, end - time.monotonic()) + timeout + 1)
    finally:
        stop.set()
    return Burst(requests, sent, failures, latencies, time.monotonic() - started, statuses)


def _read_mix(index: int) -> Request:
    """The burst's requests: the catalogue, one product, a cart (read-only, nothing accumulates)."""
    kind = index % 3
    if kind == 0:
        return Request("products", "GET", "/api/products", 200)
    if kind == 1:
        return Request("product", "GET", f"/api/products/{index % 5 + 1}", 200)
    return Request("cart", "GET", f"/api/cart/gameday-load-{index % 10}", 200)
