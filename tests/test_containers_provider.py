"""The local target with its dependencies in Docker containers (local.provider=containers), end to end.

Everything goes through the ``gameday`` command, as a person on a machine with Docker would type it, against
the locally built images (scripts/build-images.sh) on the engine of scripts/docker-engine.sh; the containers
are looked at through the Docker SDK.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from gameday.targets.local.providers.containers import LABEL_STACK, docker_client, engine_error
from gameday.targets.probes import tcp_open
from tests.helpers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.containers]

DOCKER_HOST = os.environ.get("DOCKER_HOST") or "unix:///var/tmp/gameday-docker/docker.sock"
IMAGES = {"postgres": "gameday/postgres:15", "redis": "gameday/redis:7", "kafka": "gameday/kafka:tansu"}


def _missing() -> str | None:
    problem = engine_error(DOCKER_HOST)
    if problem:
        return f"{problem} (start it: bash scripts/docker-engine.sh start)"
    have = {tag for image in docker_client(DOCKER_HOST).images.list() for tag in image.tags}
    absent = [image for image in IMAGES.values() if image not in have]
    return f"image {absent[0]} not built (bash scripts/build-images.sh)" if absent else None


@pytest.fixture(scope="module")
def env() -> Iterator[dict[str, str]]:
    """The environment of every gameday command here: its own state dir, the containers provider, local images."""
    missing = _missing()
    if missing:
        pytest.skip(f"no Docker engine with gameday's local images: {missing}")
    state = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="gameday-containers-"))
    state.chmod(0o755)
    variables = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),  # every command runs this tree's gameday
        "GAMEDAY_STATE_DIR": str(state),
        "GAMEDAY_LOCAL__PROVIDER": "containers",
        "GAMEDAY_LOCAL__DOCKER_HOST": DOCKER_HOST,
        "GAMEDAY_LOCAL__MONITORING": "false",
        **{f"GAMEDAY_LOCAL__IMAGES__{name.upper()}": image for name, image in IMAGES.items()},
    }
    yield variables
    gameday(variables, "down", check=False)
    shutil.rmtree(state, ignore_errors=True)


def gameday(env: dict[str, str], *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run one gameday command; fail the test with its output when it fails and ``check``."""
    done = subprocess.run(
        [sys.executable, "-m", "gameday.cli", *args], env=env, capture_output=True, text=True, timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"gameday {' '.join(args)} exited {done.returncode}: {done.stdout}{done.stderr}")
    return done


def containers(env: dict[str, str]) -> dict[str, Any]:
    """This stack's containers by dependency name, found by label."""
    found = docker_client(DOCKER_HOST).containers.list(
        all=True, filters={"label": f"{LABEL_STACK}={env['GAMEDAY_STATE_DIR']}"}
    )
    return {c.labels["gameday.dependency"]: c for c in found}


def dependencies(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """``gameday status --json``'s dependencies, by name."""
    data = json.loads(gameday(env, "status", "--json").stdout)
    return {d["name"]: d for d in data["dependencies"]}


def pg_port(env: dict[str, str]) -> int:
    return int(dependencies(env)["postgres"]["address"].rsplit(":", 1)[1])


def query(port: int, sql: str, timeout: int = 3) -> list[tuple]:
    """Run SQL on a new connection (a paused PostgreSQL makes it time out)."""
    with psycopg.connect(host="127.0.0.1", port=port, user="app", dbname="app", connect_timeout=timeout) as conn:
        cur = conn.execute(sql)
        rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows


@pytest.fixture(scope="module")
def stack(env: dict[str, str]) -> dict[str, str]:
    gameday(env, "up", timeout=180)
    return env


def test_up_runs_dependencies_in_containers_and_smoke_passes(stack):
    deps = dependencies(stack)
    running = containers(stack)
    assert set(running) == {"postgres", "redis", "kafka"}
    for name, container in running.items():
        assert container.status == "running"
        assert container.attrs["HostConfig"]["NetworkMode"] == "host"  # never a bridge address
        assert deps[name]["state"] == "running"
        assert deps[name]["container"] == container.short_id
        assert deps[name]["image"] == IMAGES[name]
        assert deps[name]["address"].startswith("127.0.0.1:")
    smoke = gameday(stack, "smoke", check=False)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr


def test_postgres_stop_is_an_outage_diagnosed_and_undone_with_its_data(stack):
    port = pg_port(stack)
    query(port, "CREATE TABLE IF NOT EXISTS kept (v text); INSERT INTO kept VALUES ('before the outage')")
    before = containers(stack)["postgres"].id

    gameday(stack, "inject", "stop-dependency", "-p", "dependency=postgres")
    stopped = containers(stack)["postgres"]
    assert stopped.id == before and stopped.status == "exited"
    assert dependencies(stack)["postgres"]["state"] == "stopped"

    def verdict() -> dict[str, Any]:
        return json.loads(gameday(stack, "diagnose", "--json", check=False).stdout)["verdict"]

    diagnosed = wait_for(lambda: (v := verdict())["dependency"] == "postgres" and v, 30, interval=0.5,
                         what="the diagnosis to name postgres")
    assert "postgres" in diagnosed["title"]

    gameday(stack, "abort")
    after = containers(stack)["postgres"]
    assert after.id == before and after.status == "running"  # the same container, started again
    assert query(port, "SELECT v FROM kept") == [("before the outage",)]


def test_redis_stop_and_start_is_the_same_container(stack):
    port = int(dependencies(stack)["redis"]["address"].rsplit(":", 1)[1])
    before = containers(stack)["redis"].id
    gameday(stack, "inject", "stop-dependency", "-p", "dependency=redis")
    assert containers(stack)["redis"].status == "exited"
    with pytest.raises(redis.ConnectionError):
        redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping()
    gameday(stack, "abort")
    after = containers(stack)["redis"]
    assert after.id == before and after.status == "running"
    assert redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).ping()


@pytest.mark.parametrize("experiment", ["postgres-down", "redis-down"])
def test_the_runbooks_dependency_experiments_pass_on_containers(stack, experiment, tmp_path):
    before = containers(stack)[experiment.split("-")[0]].id
    done = gameday(stack, "chaos", "run", experiment, "--journal", str(tmp_path / "journal.json"), check=False,
                   timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "completed" and not journal["deviated"], journal["status"]
    assert containers(stack)[experiment.split("-")[0]].id == before  # stopped and started, never replaced
    assert "empty" in gameday(stack, "ledger").stdout


def test_run_killed_while_postgres_is_paused_then_abort_resumes_it(stack, tmp_path):
    port = pg_port(stack)
    experiment = tmp_path / "hang-postgres.json"
    experiment.write_text(json.dumps({
        "version": "1.0.0",
        "title": "PostgreSQL hangs and the run is killed before it undoes anything",
        "description": "hang-dependency postgres, then wait: the test kills the run with SIGKILL meanwhile",
        "method": [{
            "type": "action", "name": "hang-postgres",
            "provider": {"type": "python", "module": "gameday.chaos.actions", "func": "inject_fault",
                         "arguments": {"fault": "hang-dependency", "params": {"dependency": "postgres"}}},
            "pauses": {"after": 120},
        }],
    }))
    run = subprocess.Popen(
        [sys.executable, "-m", "gameday.cli", "chaos", "run", str(experiment), "--quiet",
         "--journal", str(tmp_path / "journal.json")],
        env=stack, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        wait_for(lambda: containers(stack)["postgres"].status == "paused", 60, interval=0.2,
                 what="PostgreSQL's container paused by the run")
        assert dependencies(stack)["postgres"]["state"] == "frozen"
        with pytest.raises(psycopg.OperationalError):
            query(port, "SELECT 1", timeout=1)  # a real freeze: a new connection gets no answer
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
    assert containers(stack)["postgres"].status == "paused", "SIGKILL undoes nothing"

    ledger = gameday(stack, "ledger").stdout
    assert "hang-dependency" in ledger
    gameday(stack, "abort")
    assert containers(stack)["postgres"].status == "running"
    assert query(port, "SELECT 1") == [(1,)]


def test_down_leaves_no_container_and_no_port(stack):
    ports = [int(d["address"].rsplit(":", 1)[1]) for d in dependencies(stack).values()]
    gameday(stack, "down")
    assert containers(stack) == {}
    assert not any(tcp_open(p) for p in ports)
