"""Shared fixtures: one running local stack per test process (per xdist worker) for every end-to-end test that can
share it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Tests never touch a developer's own stack: they get a state directory of their own (one per xdist worker: see
# pytest_configure).
os.environ.setdefault("GAMEDAY_STATE_DIR", f"/var/tmp/gameday-test-{os.getuid()}")

from gameday.config import Settings, use_settings

pytest_plugins = ["pytest_bdd"]


def pytest_configure(config: pytest.Config) -> None:
    """In an xdist worker (``make test`` runs two), a state directory of the worker's own, so that a worker's
    ledger, lock and stack are never another's. Workers inherit the controller's environment, and so does a pytest
    a test starts in a subprocess (pointed at a stack's directory on purpose): only a real worker has
    ``workerinput``, so only it adds its name."""
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker:
        os.environ["GAMEDAY_STATE_DIR"] += f"-{worker}"


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The settings every test uses (state directory of the tests)."""
    return use_settings(Settings())


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator:
    """The local stack, started once for the session and stopped at its end."""
    from gameday.targets.local import stack as local_stack
    from gameday.targets.local.target import LocalTarget
    from tests.helpers import runbook_link

    local_stack.down(settings)
    local_stack.up(settings, timeout=120, runbook=runbook_link(settings.service))
    try:
        yield LocalTarget(settings)
    finally:
        local_stack.down(settings)


@pytest.fixture
def healthy(stack) -> Iterator:
    """The shared stack, healthy before the test and put back to healthy after it, whatever it did."""
    from gameday.abort import abort_all
    from gameday.ledger import Ledger

    restore(stack)
    yield stack
    abort_all(Ledger(Path(stack.state.ledger)))
    restore(stack)


def restore(target) -> None:
    """Undo anything a test may have left: frozen or stopped processes, a changed release or config."""
    from gameday.targets.local.stack import load_stack

    for dep in (d.name for d in target.profile.dependencies if d.provided):
        target.release_dependency(dep)
        target.start_dependency(dep, wait=True)
    target.thaw_replicas()
    wanted = load_stack(target.state)["config"]  # the live configuration ``up`` rendered
    release = target.profile.local.release
    current = target.current_revision()
    config_changed = target.config() != wanted
    if config_changed:
        target.replace_config(wanted, cause="test cleanup")
    if current is not None and current.version != release:
        target.deploy(release, cause="test cleanup", wait=True)
    elif config_changed:
        target.rollout_restart(wait=True)
    target.start_replicas()
    if not target.wait_healthy(timeout=30):
        target.rollout_restart(wait=True)
        assert target.wait_healthy(timeout=30), "stack did not return to healthy after a test"
