"""Which provider runs the local stack's dependencies, and the one line a person gets when it cannot run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gameday.config import Settings
from gameday.state import StateDir
from gameday.targets.local import providers
from gameday.targets.local.programs import StackContext
from gameday.targets.local.providers.containers import ContainersProvider
from gameday.targets.local.providers.native import NativeProvider
from gameday.targets.local.service import Service
from gameday.targets.model import TargetError
from tests.helpers import runbook_link

NO_ENGINE = "unix:///nonexistent/docker.sock"


def test_a_stack_without_a_record_is_native_and_a_recorded_one_keeps_its_provider(tmp_path):
    state = StateDir(tmp_path)
    assert isinstance(providers.for_stack(state), NativeProvider)
    providers.write_record(state, {"provider": "containers", "docker_host": NO_ENGINE, "images": {"postgres": "p"}})
    found = providers.for_stack(state)
    assert isinstance(found, ContainersProvider)
    assert found.docker_host == NO_ENGINE and found.images == {"postgres": "p"}


def test_containers_without_an_engine_fail_before_recording_anything(tmp_path):
    state = StateDir(tmp_path)
    settings = Settings(state_dir=tmp_path, local={"provider": "containers", "docker_host": NO_ENGINE})
    chosen = providers.choose(settings, state)
    assert isinstance(chosen, ContainersProvider)
    ports = {"postgres": 1, "redis": 2, "kafka": 3}
    service = Service(settings.service, state, ports, sys.executable)
    ctx = StackContext(state=state, ports=ports, replica_names=[], python=sys.executable, service=service,
                       runbook=runbook_link(settings.service))
    with pytest.raises(TargetError, match="Docker engine not answering at unix:///nonexistent"):
        chosen.start_all(ctx)
    assert providers.record(state) == {}  # so `gameday down` does not go looking for an engine that never ran


def test_images_default_to_the_official_ones():
    images = Settings().local.images
    assert (images.postgres, images.redis) == ("postgres:15", "redis:7")
    assert images.kafka.startswith("apache/kafka:")


def test_gameday_up_without_an_engine_says_so_in_one_line(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "GAMEDAY_STATE_DIR": str(tmp_path / "state"),
        "GAMEDAY_LOCAL__PROVIDER": "containers",
        "GAMEDAY_LOCAL__DOCKER_HOST": NO_ENGINE,
    }
    done = subprocess.run([sys.executable, "-m", "gameday.cli", "up"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Docker engine not answering" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
