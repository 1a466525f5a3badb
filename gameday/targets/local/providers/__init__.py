"""Where the local stack's dependencies (PostgreSQL, Redis, the Kafka broker) come from.

Two providers behind one small interface: ``native`` (Debian's binaries run by supervisor, as before) and
``containers`` (Docker containers through testcontainers, for machines that have an engine and not the
binaries). ``gameday up`` records its choice in the state directory before starting anything, so every later
command (status, faults, ``gameday abort``, ``gameday down``) acts on the provider the stack was started with,
even after the process that started it was killed.
"""

from __future__ import annotations

from gameday.config import Settings
from gameday.state import StateDir
from gameday.targets.local.components import PG_BIN, require_binary, tansu_binary
from gameday.targets.local.providers.base import DependencyProvider, record, write_record
from gameday.targets.local.providers.containers import ContainersProvider, engine_error
from gameday.targets.local.providers.native import NativeProvider
from gameday.targets.model import TargetError

__all__ = ["DependencyProvider", "choose", "for_stack", "record", "write_record"]


def _native_available() -> str | None:
    """None when the native binaries are all there, else what is missing."""
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
            problem = engine_error(settings.local.docker_host)
            if problem:
                raise TargetError(
                    f"no dependencies to run: {missing}; or start a Docker engine for local.provider=containers "
                    f"({problem})"
                )
            wanted = "containers"
    if wanted == "containers":
        return ContainersProvider.create(state, settings)
    return NativeProvider(state)


def for_stack(state: StateDir) -> DependencyProvider:
    """The provider an existing stack was started with (native when nothing was recorded)."""
    if record(state).get("provider") == "containers":
        return ContainersProvider.from_record(state)
    return NativeProvider(state)
