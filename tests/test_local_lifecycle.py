"""up/down of a stack of its own: idempotent, and nothing left behind, even after crashes, a failed ``up``, or a
record of an earlier stack whose provider cannot be reached."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from gameday import config as gameday_config
from gameday.config import Settings
from gameday.state import StateDir
from gameday.targets.local import providers
from gameday.targets.local import stack as local_stack
from gameday.targets.local.events import EventLog
from gameday.targets.local.rollout import RolloutStore
from gameday.targets.local.supervisor import Supervisor
from gameday.targets.model import TargetError
from gameday.targets.probes import tcp_open
from tests.helpers import runbook_link, status_of, wait_for
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
    return not local_stack.stack_processes(StateDir(s.state_dir)) and not any(tcp_open(p) for p in ports.values())


def test_up_twice_down_twice_and_crash_recovery(own_settings):
    s = own_settings
    first = local_stack.up(s, runbook=runbook_link(s.service))
    assert status_of(first["load_balancer_url"] + "/api/products") == 200
    again = local_stack.up(s, runbook=runbook_link(s.service))  # starting twice: same stack, still serving
    assert again["ports"] == first["ports"]

    # a component killed by hand, then supervisord itself killed: pid files go stale, children orphaned
    from gameday.state import StateDir

    state = StateDir(s.state_dir)
    sup = Supervisor(state)
    os.kill(sup.info("redis")["pid"], signal.SIGKILL)
    os.kill(sup.pid(), signal.SIGKILL)
    wait_for(lambda: sup.pid() is None, 10, what="supervisord gone")
    assert local_stack.stack_processes(state), "children outlive a killed supervisord"

    second = local_stack.up(s, runbook=runbook_link(s.service))  # up after a crash left stale pid files
    assert status_of(second["load_balancer_url"] + "/api/products") == 200

    local_stack.down(s)
    assert _nothing_left(s, second["ports"]) and _nothing_left(s, first["ports"])
    assert local_stack.down(s) == []  # stopping twice is fine


def test_down_cleans_up_after_supervisord_was_killed(own_settings):
    s = own_settings
    info = local_stack.up(s, runbook=runbook_link(s.service))
    from gameday.state import StateDir

    sup = Supervisor(StateDir(s.state_dir))
    os.kill(sup.pid(), signal.SIGKILL)
    killed = local_stack.down(s)
    assert killed, "down found the orphans by their environment marker"
    assert _nothing_left(s, info["ports"])


def test_a_failed_up_stops_everything_it_started_and_names_the_fatal_replicas(own_settings, tmp_path):
    """A replica that cannot start (its command exits at once) is FATAL within seconds: ``up`` says so then, with
    supervisor's reason and the replica's last log line, and takes down all it started (supervisord, PostgreSQL,
    Redis, the broker, HAProxy), instead of waiting out its 90 s and leaving the stack running; the next ``up`` of a
    good profile is not refused."""
    good = own_settings
    folder = tmp_path / "broken"
    folder.mkdir()
    broken = ecommerce(folder, lambda data: data["local"].update(
        # no retries: both replicas, started together, give up together (with retries they drift apart, and up may
        # see one FATAL while the other is in its last retry: see the session note, fixed in stack.py next with a
        # new bench)
        replicas=2, start_timeout_s=90, start_retries=0,
        command=["{python}", "-c", "import sys; sys.exit('boom: no configuration at /etc/nowhere')"],
    ))
    s = good.model_copy(update={"profile": broken})
    state = StateDir(s.state_dir)
    started = time.monotonic()
    with pytest.raises(TargetError) as failed:
        local_stack.up(s, runbook=runbook_link(s.service))
    took = time.monotonic() - started
    message = str(failed.value)
    assert took < 30, f"up noticed the FATAL replicas only after {took:.0f}s"
    assert "FATAL" in message and "replica-0" in message and "replica-1" in message, message
    assert "boom: no configuration at /etc/nowhere" in message, "the replica's own last words"
    assert "\n" not in message

    ports = local_stack.load_stack(state)["ports"]
    assert Supervisor(state).pid() is None and not state.path("supervisor.sock").exists()
    assert _nothing_left(s, ports), "a failed up leaves nothing running"

    info = local_stack.up(good, runbook=runbook_link(good.service))  # not refused: nothing of the failed stack runs
    assert status_of(info["load_balancer_url"] + "/api/products") == 200


def test_a_stale_containers_record_never_blocks_up(own_settings):
    """The previous stack ran with the containers provider and its engine is gone: ``up`` with the native provider
    still works, with one warning that the old containers could not be checked."""
    s = own_settings.model_copy(update={"local": own_settings.local.model_copy(update={"provider": "native"})})
    state = StateDir(s.state_dir).ensure()
    engine = f"unix://{state.path('no-engine.sock')}"  # as the containers provider records it; nothing answers
    providers.write_record(state, {"provider": "containers", "docker_host": engine,
                                   "images": s.local.images.model_dump()})
    warnings: list[str] = []
    info = local_stack.up(s, warn=warnings.append, runbook=runbook_link(s.service))
    assert status_of(info["load_balancer_url"] + "/api/products") == 200
    assert len(warnings) == 1 and "could not be checked" in warnings[0] and engine in warnings[0], warnings
    assert providers.record(state)["provider"] == "native"


@pytest.fixture
def gameday(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``gameday ARGS`` in this process (its ``main``: exit code, one-line errors) with the environment ``env``:
    the command's own code path, without an interpreter start per call."""
    from gameday import cli

    def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        saved = list(gameday_config._current)
        with monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            m.setattr(sys, "argv", ["gameday", *args])
            gameday_config._current.clear()
            capsys.readouterr()
            try:
                cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            finally:
                gameday_config._current[:] = saved
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)

    return run


def test_commands_on_a_stack_that_is_down_say_so_in_one_line(own_settings, gameday):
    """After ``down`` (its stack.json and rollout history kept), a command that needs the running stack refuses in
    one line, exit 1, and changes nothing; ``status --json`` still prints JSON."""
    s = own_settings
    local_stack.up(s, runbook=runbook_link(s.service))
    local_stack.down(s)
    state = StateDir(s.state_dir)
    env = {"GAMEDAY_STATE_DIR": str(s.state_dir), "GAMEDAY_PROFILE": str(s.profile),
           "GAMEDAY_LOCAL__MONITORING": "false"}
    revisions = [r.number for r in RolloutStore(state).revisions()]
    events = EventLog(state).since(0)
    for args in (["rollout", "restart"], ["rollout", "undo"], ["inject", "kill-replicas"], ["smoke"]):
        done = gameday(*args, env=env)
        assert done.returncode == 1, (args, done)
        assert done.stderr.strip() == "gameday: the local stack is not running (gameday up)", (args, done.stderr)
    assert [r.number for r in RolloutStore(state).revisions()] == revisions, "a refusal recorded a revision"
    assert EventLog(state).since(0) == events, "a refusal recorded an event"

    done = gameday("status", "--json", env=env)
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["reachable"] is False and data["error"] == "the local stack is not running (gameday up)", data
