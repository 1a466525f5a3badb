"""The runbook's Prevention, "實作適當的 health checks", on the local stack: the load balancer's readiness check takes a
failing replica out (users keep being answered by the others) and lets it back once it answers again."""

from __future__ import annotations

import time

import httpx
import pytest

from gameday.targets.local.target import LocalTarget

pytestmark = pytest.mark.slow


def wait_for(cond, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := cond():
            return value
        time.sleep(0.1)  # poll
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def state_of(target: LocalTarget, name: str) -> bool | None:
    return next((e.ready for e in target.endpoints() if e.name == name), None)


def test_a_hanging_replica_is_taken_out_and_let_back(healthy: LocalTarget) -> None:
    name = healthy.replica_names[0]
    path = healthy.profile.service.health_path
    healthy.freeze_replicas([name])
    try:
        # HAProxy checks every 500 ms and gives up after 2 failures of 1 s each
        wait_for(lambda: state_of(healthy, name) is False, 10, f"{name} out of the load balancer")
        answers = [httpx.get(healthy.base_url() + path, timeout=3).status_code for _ in range(12)]
        assert answers == [200] * 12, "the other replicas answer every request while it is out"
    finally:
        healthy.thaw_replicas([name])
    wait_for(lambda: state_of(healthy, name) is True, 10, f"{name} back in the load balancer")
