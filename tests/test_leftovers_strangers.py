"""``up`` and ``down`` kill what a crashed stack left, found by its marker variable and, for the programs that write
their process title over their environment, by the stack's ports. The ports are the last stack's: free for anyone
since it stopped. A process of another owner that now listens on one of them, running the same program (a Python
server, as the replicas are), is a stranger and lives; a Redis that lost its environment on a recorded port is a
leftover and goes. No stack is needed: a state directory with the record a stopped stack leaves."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gameday.state import StateDir, write_json_atomic
from gameday.targets.local.procs import alive, lost_its_environment
from gameday.targets.local.programs import free_port
from gameday.targets.local.stack import kill_leftovers
from gameday.targets.local.supervisor import STACK_FILE
from gameday.targets.probes import tcp_open
from tests.helpers import wait_for

SERVER = """import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
sys.stdin.read()  # listens until its stdin closes: the test ends it, or the test's own end does
"""


@pytest.fixture
def stranger() -> Iterator[tuple[subprocess.Popen, int]]:
    """A Python process of somebody else's, listening on a port the kernel chose (as a stopped stack's was)."""
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc, int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait(10)


def _stopped_stack(root: Path, ports: dict[str, int], programs: dict[str, str]) -> StateDir:
    state = StateDir(root).ensure()
    write_json_atomic(state.path(STACK_FILE), {
        "ports": ports,
        "programs": [{"name": name, "command": [command]} for name, command in programs.items()],
    })
    return state


def test_a_stranger_running_the_stacks_interpreter_on_a_recorded_port_is_not_killed(
        tmp_path: Path, stranger: tuple[subprocess.Popen, int]) -> None:
    proc, port = stranger
    state = _stopped_stack(tmp_path / "state", {"replica-0": port}, {"replica-0": sys.executable})
    assert not lost_its_environment(proc.pid)
    assert kill_leftovers(state, timeout=2) == []
    assert proc.poll() is None and tcp_open(port)


def test_a_redis_that_wrote_over_its_environment_on_a_recorded_port_is_killed(tmp_path: Path) -> None:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server not installed")
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: tcp_open(port), 10, what="redis listening")
        wait_for(lambda: lost_its_environment(proc.pid), 5, what="redis's title written over its environment")
        state = _stopped_stack(tmp_path / "state", {"redis": port}, {"redis": server})
        assert kill_leftovers(state, timeout=5) == [proc.pid]
        assert proc.wait(5) == -9 and not alive(proc.pid)
    finally:
        proc.kill()
        proc.wait(10)
