"""Where the local stack's dependencies (PostgreSQL, Redis, the Kafka broker) come from.

Two providers behind one small interface: ``native`` (Debian's binaries run by supervisor, as before) and
``containers`` (Docker containers through testcontainers, for machines that have an engine and not the
binaries). ``gameday up`` records its choice in the state directory before starting anything, so every later
command (status, faults, ``gameday abort``, ``gameday down``) acts on the provider the stack was started with,
even after the process that started it was killed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from gameday.config import Settings
from gameday.state import StateDir, read_json, write_json_atomic
from gameday.targets.base import DependencyState, TargetError
from gameday.targets.local.programs import Program, StackContext

RECORD_FILE = "dependencies.json"


class DependencyProvider(ABC):
    """Start, break and remove the dependencies of one local stack."""

    kind: str
    hang_how: str  # how a hang is made and undone, as the event log says it
    release_how: str

    def __init__(self, state: StateDir) -> None:
        self.state = state

    def programs(self, ctx: StackContext) -> list[Program]:
        """The dependencies supervisor runs (none when something else runs them)."""
        return []

    @abstractmethod
    def start_all(self, ctx: StackContext) -> None:
        """Prepare (and, when supervisor does not run them, start and await) every dependency."""

    @abstractmethod
    def stop(self, name: str) -> None:
        """Stop one dependency; its data survives."""

    @abstractmethod
    def start(self, name: str) -> None:
        """Start a stopped (or resume a frozen) dependency; already running is fine."""

    @abstractmethod
    def hang(self, name: str) -> bool:
        """Freeze one dependency (a real hang); False when it is not running."""

    @abstractmethod
    def release(self, name: str) -> bool:
        """Undo :meth:`hang`; False when there was nothing to release."""

    @abstractmethod
    def state_of(self, name: str, address: str) -> DependencyState:
        """running, stopped or frozen, with what runs it (pid, or container id and image)."""

    def start_stopped(self) -> None:
        """``gameday up`` on a running stack: start what is stopped (supervisor does it for its own programs)."""
        return

    def teardown(self) -> list[str]:
        """Remove whatever this provider started outside supervisor; return what was removed."""
        return []


def record(state: StateDir) -> dict[str, Any]:
    """What ``gameday up`` recorded about the dependencies (empty for stacks started before providers)."""
    return read_json(state.path(RECORD_FILE), {}) or {}


def write_record(state: StateDir, data: dict[str, Any]) -> None:
    """Record the provider (and its containers) before they start, so a killed run can still clean up."""
    write_json_atomic(state.path(RECORD_FILE), data)


def _native_available() -> str | None:
    """None when the native binaries are all there, else what is missing."""
    from gameday.targets.local.components import PG_BIN, require_binary, tansu_binary

    try:
        require_binary("postgres", "postgresql", PG_BIN / "postgres")
        require_binary("redis-server", "redis-server")
        tansu_binary()
    except TargetError as exc:
        return str(exc)
    return None


def choose(settings: Settings, state: StateDir) -> DependencyProvider:
    """The provider a new stack uses: ``local.provider``, with ``auto`` = native if possible, else containers."""
    wanted = settings.local.provider
    if wanted == "auto":
        missing = _native_available()
        if missing is None:
            wanted = "native"
        else:
            from gameday.targets.local.providers.containers import engine_error

            problem = engine_error(settings.local.docker_host)
            if problem:
                raise TargetError(
                    f"no dependencies to run: {missing}; or start a Docker engine for local.provider=containers "
                    f"({problem})"
                )
            wanted = "containers"
    if wanted == "containers":
        from gameday.targets.local.providers.containers import ContainersProvider

        return ContainersProvider.create(state, settings)
    from gameday.targets.local.providers.native import NativeProvider

    return NativeProvider(state)


def for_stack(state: StateDir) -> DependencyProvider:
    """The provider an existing stack was started with (native when nothing was recorded)."""
    if record(state).get("provider") == "containers":
        from gameday.targets.local.providers.containers import ContainersProvider

        return ContainersProvider.from_record(state)
    from gameday.targets.local.providers.native import NativeProvider

    return NativeProvider(state)
