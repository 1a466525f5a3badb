"""The runbook's step-3 checks come from the registry of dependency kinds, for whatever the profile names.

An external dependency (the profile gives its ``address``) is checked there, by its kind's own check: here a real
redis-server that the local target does not run, and a port where nothing listens. No stack is needed.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gameday.config import Settings
from gameday.targets.local.target import LocalTarget
from gameday.targets.model import UnknownDependencyError
from tests.helpers import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_port() -> Iterator[int]:
    """A throwaway redis-server on loopback, without persistence."""
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True,
                                        check=False).stdout.strip() == "PONG", 10, what="redis answering PING")
        yield port
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


def external_profile(tmp_path: Path, dependencies: list[dict]) -> Path:
    path = tmp_path / "gameday.yaml"
    path.write_text(yaml.safe_dump({
        "service": {"name": "ticket-office"},
        "dependencies": dependencies,
        "endpoints": [{"name": "events", "path": "/v2/events"}],
    }))
    return path


def test_the_local_target_checks_an_external_dependency_at_its_address(tmp_path: Path, redis_port: int) -> None:
    nobody = free_port()
    profile = external_profile(tmp_path, [
        {"name": "sessions", "kind": "redis", "address": f"127.0.0.1:{redis_port}"},
        {"name": "cache", "kind": "redis", "address": f"127.0.0.1:{nobody}"},
    ])
    target = LocalTarget(Settings(profile=profile, state_dir=tmp_path / "state"))
    up = target.check_dependency("sessions", timeout=2.0)
    assert up.ok, up
    assert (up.name, up.command) == ("sessions", f"redis-cli -h 127.0.0.1 -p {redis_port} ping")
    down = target.check_dependency("cache", timeout=2.0)
    assert not down.ok and down.name == "cache"
    assert f"-p {nobody}" in down.command
    with pytest.raises(UnknownDependencyError, match="unknown dependency 'kafka' for ticket-office"):
        target.check_dependency("kafka")
