"""The runbook's step-3 dependency check waits as long as the profile says (``dependencies[].check_timeout_s``), not
a constant: a hung dependency costs the diagnosis that wait, and a slow managed one must not be called hung early."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gameday.config import Settings
from gameday.diagnose import diagnose, load_runbook
from gameday.diagnose.evidence import check_timed_out
from gameday.profile import PROJECT_ROOT, Profile
from gameday.profile import load as load_profile
from gameday.profile.dependency import CHECK_TIMEOUT_S
from gameday.targets import get_target
from gameday.targets.model import DependencyCheck
from gameday.verify.checklist import check_dependencies
from tests.diagnose_fakes import FakeTarget

TICKETS = load_profile(PROJECT_ROOT / "profiles" / "ticket-office.yaml")


def with_check_timeouts(**seconds: float) -> Profile:
    """ticket-office with these dependencies' ``check_timeout_s`` set."""
    deps = [d.model_copy(update={"check_timeout_s": seconds[d.name]}) if d.name in seconds else d
            for d in TICKETS.dependencies]
    return TICKETS.model_copy(update={"dependencies": deps})


class RecordingTarget(FakeTarget):
    """The in-memory target, recording how long each dependency check was allowed to wait."""

    def __init__(self, profile: Profile) -> None:
        super().__init__(profile=profile)
        self.waits: dict[str, list[float | None]] = {}

    def check_dependency(self, name: str, timeout: float | None = None) -> DependencyCheck:
        self.waits.setdefault(name, []).append(timeout)
        return self.checks[name]


def test_the_default_is_two_seconds_for_every_dependency() -> None:
    assert CHECK_TIMEOUT_S == 2.0
    assert {d.check_timeout_s for d in TICKETS.dependencies} == {2.0}


def test_the_diagnosis_waits_each_dependency_s_own_check_timeout() -> None:
    profile = with_check_timeouts(redis=0.4, postgres=7.5)
    target = RecordingTarget(profile)
    diagnose(target, profile, load_runbook())
    assert set(target.waits["redis"]) == {0.4}
    assert set(target.waits["postgres"]) == {7.5}


def test_an_explicit_timeout_still_overrides_the_profile() -> None:
    profile = with_check_timeouts(redis=0.4)
    target = RecordingTarget(profile)
    diagnose(target, profile, load_runbook(), check_timeout=1.25)
    assert set(target.waits["redis"]) == set(target.waits["postgres"]) == {1.25}


def test_the_checklist_s_dependency_item_waits_the_profile_s_timeout() -> None:
    profile = with_check_timeouts(redis=0.3)
    target = RecordingTarget(profile)
    check_dependencies(target, profile)
    assert target.waits == {"postgres": [2.0], "redis": [0.3]}


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts and never answers: a hung Redis as a new connection sees it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    server.close()


@pytest.mark.parametrize("wait_s", [0.3, 1.2])
def test_the_local_target_s_check_of_a_hung_dependency_waits_the_profile_s_timeout(
        silent_server: int, wait_s: float, tmp_path: Path) -> None:
    """Through the target, with no timeout given: the profile's ``check_timeout_s`` is the wait (a Redis at an
    external address that accepts and never answers), not the old constant 2 s, and not cut short."""
    text = (PROJECT_ROOT / "profiles" / "ticket-office.yaml").read_text()
    line = "  - {name: redis, kind: redis, on_outage: outage}"
    assert line in text
    (tmp_path / "profile.yaml").write_text(text.replace(line, (
        f"  - {{name: redis, kind: redis, on_outage: outage, address: '127.0.0.1:{silent_server}', "
        f"check_timeout_s: {wait_s}}}")))
    target = get_target(Settings(profile=tmp_path / "profile.yaml", state_dir=tmp_path / "state"))
    started = time.monotonic()
    check = target.check_dependency("redis")
    took = time.monotonic() - started
    assert not check.ok and check_timed_out(check), check.detail
    assert f"no answer within {wait_s}s" in check.detail and took >= wait_s * 0.9, (check.detail, took)
