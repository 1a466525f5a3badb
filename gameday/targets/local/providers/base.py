"""What every provider of the local stack's dependencies is (:class:`DependencyProvider`), and the record ``gameday
up`` keeps of the one it chose (:func:`record`), which every later command reads."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from gameday.state import StateDir, read_json, write_json_atomic
from gameday.targets.local.programs import Program, StackContext
from gameday.targets.model import DependencyState

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
