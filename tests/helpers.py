"""Small helpers for tests: wait on a condition with a deadline, Ctrl-C a command mid-run, HTTP through the load
balancer, the runbook link a stack's alerts carry."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

from gameday.alerts.rules import RunbookLink
from gameday.profile import Profile
from gameday.runbook.package import find

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)  # poll
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last value: {last!r})")


def interrupt_when(proc: subprocess.Popen[str], ready: Callable[[], object], timeout: float, what: str,
                   meanwhile: Callable[[], None] = lambda: None, finish_s: float = 90.0) -> tuple[str, str]:
    """Once ``ready`` holds (and ``meanwhile`` has run), Ctrl-C ``proc`` and return its (stdout, stderr); it is
    killed if anything fails on the way, so a failed test never leaves a run behind."""
    try:
        wait_for(ready, timeout, what=what)
        meanwhile()
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=finish_s)
    finally:
        if proc.poll() is None:
            proc.kill()


def status_of(url: str, timeout: float = 3.0, method: str = "GET", **kwargs: object) -> int | None:
    """HTTP status, or None when the connection failed or timed out."""
    try:
        return httpx.request(method, url, timeout=timeout, **kwargs).status_code  # type: ignore[arg-type]
    except httpx.HTTPError:
        return None


def runbook_link(profile: Profile) -> RunbookLink:
    """What ``gameday up`` hands the local target for ``profile``: the link to the runbook it follows (the first)."""
    return find(profile.runbook).alert_link()
