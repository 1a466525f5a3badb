"""The bench's flaky-Redis diagnosis with real parts: a real ``redis-server``, the fault proxy
(:mod:`gameday.proxy`, as the local stack runs it between the replicas and their dependencies) with the
dependency-flaky fault's own toxic (``reset_peer``, toxicity 0.1), and the Redis kind's real check (``redis-cli
ping``) through it, run by ``diagnose``.

Deterministic: the proxy draws whether a connection is reset from the random generator it is given; here one seeded
so that the first connection is reset and the next ones are not (the seed is found, not guessed, and the test says
so) — the bench's unlucky run, every time. Only the target's reads other than the Redis check are the in-memory
target's (replicas, load balancer, the API behind it answering).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import subprocess
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gameday.dependencies import KINDS, Address
from gameday.diagnose import diagnose, load_runbook
from gameday.diagnose.rules import DEPENDENCY_FAILURE, NO_OUTAGE
from gameday.faults import get_fault
from gameday.profile import PROJECT_ROOT
from gameday.profile import load as load_profile
from gameday.proxy.proxies import ProxyCollection
from gameday.targets.model import DependencyCheck
from tests.diagnose_fakes import FakeTarget
from tests.helpers import wait_for

T = TypeVar("T")
TICKETS = load_profile(PROJECT_ROOT / "profiles" / "ticket-office.yaml")  # Redis critical
FRACTION = 0.1  # the experiment's (experiments/service-outage/dependency-flaky.json)


def seed_resetting_first_only(fraction: float) -> int:
    """A seed whose first draw resets a connection (below ``fraction``) and whose next two do not."""
    for seed in range(10_000):
        rng = random.Random(seed)
        draws = [rng.random() for _ in range(3)]
        if draws[0] < fraction <= min(draws[1:]):
            return seed
    raise AssertionError("no such seed below 10000")


class InProcessProxy:
    """The fault proxy's collection on an event loop of its own thread, with a given random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fault-proxy", daemon=True)
        self.thread.start()
        self.collection = ProxyCollection(rng)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def create(self, name: str, upstream: str) -> int:
        """A proxy to ``upstream``; its port."""
        proxy = self.run(self.collection.create({"name": name, "listen": "127.0.0.1:0", "upstream": upstream}))
        return int(proxy.listen.rsplit(":", 1)[1])

    def add_toxic(self, proxy: str, toxic: dict[str, Any]) -> None:
        async def add() -> None:
            self.collection.get(proxy).add_toxic(toxic)

        self.run(add())

    def close(self) -> None:
        self.run(self.collection.close(grace_s=2.0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server and redis-cli are not on PATH")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: KINDS["redis"].check("redis", Address("127.0.0.1", port), 1.0).ok, 10,
                 what="redis-server answering PING")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def flaky_redis(redis_port: int) -> Iterator[tuple[InProcessProxy, int]]:
    """The fault proxy in front of Redis with the dependency-flaky fault's toxic, its first connection reset."""
    proxy = InProcessProxy(random.Random(seed_resetting_first_only(FRACTION)))
    try:
        port = proxy.create("redis", f"127.0.0.1:{redis_port}")
        fault = get_fault("dependency-flaky")
        params = {"dependency": "redis", "fraction": FRACTION}
        proxy.add_toxic("redis", {"name": fault.toxic_name(), **fault.toxic(params)})
        yield proxy, port
    finally:
        proxy.close()


class ThroughTheProxy(FakeTarget):
    """The in-memory ticket-office, whose Redis check is the real one, through the fault proxy."""

    def __init__(self, redis_port: int) -> None:
        super().__init__(profile=TICKETS)
        self.redis_port = redis_port

    def check_dependency(self, name: str, timeout: float = 2.0) -> DependencyCheck:
        self._observe(f"check:{name}")
        if name != "redis":
            return self.checks[name]
        return KINDS["redis"].check(name, Address("127.0.0.1", self.redis_port), timeout)


def test_a_redis_ping_crossing_a_reset_connection_is_not_redis_down(flaky_redis):
    _, port = flaky_redis
    result = diagnose(ThroughTheProxy(port), TICKETS, load_runbook())
    assert result.verdict.key == NO_OUTAGE, result.verdict.summary
    attempts = result.evidence.dependency_attempts["redis"]
    assert [c.ok for c in attempts] == [False, True, True], attempts  # the reset, then two answers
    assert "reset" in attempts[0].detail.lower(), attempts[0]
    assert "redis answered 2 of 3 checks" in result.verdict.summary


def test_a_redis_reset_every_time_with_the_service_failing_is_a_dependency_failure(redis_port):
    """The honest edge, through the same path: every connection reset, the API answering 503."""
    proxy = InProcessProxy(random.Random(0))
    try:
        port = proxy.create("redis", f"127.0.0.1:{redis_port}")
        proxy.add_toxic("redis", {"name": "reset-all", "type": "reset_peer", "stream": "upstream", "toxicity": 1.0,
                                  "attributes": {"timeout": 0}})
        target = ThroughTheProxy(port)
        target.api.status = 503
        result = diagnose(target, TICKETS, load_runbook())
    finally:
        proxy.close()
    assert [c.ok for c in result.evidence.dependency_attempts["redis"]] == [False, False, False]
    assert result.verdict.key == f"{DEPENDENCY_FAILURE}:redis", result.verdict.summary
