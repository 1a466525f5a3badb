"""up/down of a stack of its own: idempotent, and nothing left behind, even after crashes."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from gameday.config import Settings
from gameday.targets.local import stack as local_stack
from gameday.targets.local.probes import tcp_open
from gameday.targets.local.supervisor import Supervisor
from tests.helpers import status_of, wait_for
from tests.local_profiles import ecommerce

pytestmark = pytest.mark.slow


@pytest.fixture
def own_settings(settings, tmp_path):
    state = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="gameday-lifecycle-"))
    state.chmod(0o755)
    local = settings.local.model_copy(update={"monitoring": False})
    profile = ecommerce(tmp_path, lambda data: data["local"].update(replicas=2))
    s = Settings(state_dir=state, local=local, profile=profile)
    yield s
    local_stack.down(s)
    shutil.rmtree(state, ignore_errors=True)


def _nothing_left(s: Settings, ports: dict[str, int]) -> bool:
    from gameday.state import StateDir

    return not local_stack.stack_processes(StateDir(s.state_dir)) and not any(tcp_open(p) for p in ports.values())


def test_up_twice_down_twice_and_crash_recovery(own_settings):
    s = own_settings
    first = local_stack.up(s)
    assert status_of(first["load_balancer_url"] + "/api/products") == 200
    again = local_stack.up(s)  # starting twice: same stack, still serving
    assert again["ports"] == first["ports"]

    # a component killed by hand, then supervisord itself killed: pid files go stale, children orphaned
    from gameday.state import StateDir

    state = StateDir(s.state_dir)
    sup = Supervisor(state)
    os.kill(sup.info("redis")["pid"], signal.SIGKILL)
    os.kill(sup.pid(), signal.SIGKILL)
    wait_for(lambda: sup.pid() is None, 10, what="supervisord gone")
    assert local_stack.stack_processes(state), "children outlive a killed supervisord"

    second = local_stack.up(s)  # up after a crash left stale pid files
    assert status_of(second["load_balancer_url"] + "/api/products") == 200

    local_stack.down(s)
    assert _nothing_left(s, second["ports"]) and _nothing_left(s, first["ports"])
    assert local_stack.down(s) == []  # stopping twice is fine


def test_down_cleans_up_after_supervisord_was_killed(own_settings):
    s = own_settings
    info = local_stack.up(s)
    from gameday.state import StateDir

    sup = Supervisor(StateDir(s.state_dir))
    os.kill(sup.pid(), signal.SIGKILL)
    killed = local_stack.down(s)
    assert killed, "down found the orphans by their environment marker"
    assert _nothing_left(s, info["ports"])
