"""The native provider: Debian's PostgreSQL and Redis and the Tansu broker, run by the stack's supervisor."""

from __future__ import annotations

import signal
from pathlib import Path

from gameday.state import StateDir
from gameday.targets.local import components
from gameday.targets.local.programs import Program, StackContext
from gameday.targets.local.providers.base import DependencyProvider, write_record
from gameday.targets.local.supervisor import Supervisor
from gameday.targets.model import DependencyState


def process_state_letter(pid: int) -> str:
    """The kernel's one-letter state of a process (``T`` when stopped by SIGSTOP), ``?`` when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"


class NativeProvider(DependencyProvider):
    """Dependencies as supervisor programs: stopped and started by supervisor, frozen with SIGSTOP."""

    kind = "native"
    hang_how = "SIGSTOP"
    release_how = "SIGCONT"

    def __init__(self, state: StateDir) -> None:
        super().__init__(state)
        self.supervisor = Supervisor(state)

    def programs(self, ctx: StackContext) -> list[Program]:
        builders = {"postgres": components.postgres, "redis": components.redis, "kafka": components.kafka}
        return [builders[kind](ctx, name=name) for name, kind in ctx.dependencies.items()]

    def start_all(self, ctx: StackContext) -> None:
        # supervisor starts the programs (first, by priority); only PostgreSQL's data directory needs making
        write_record(self.state, {"provider": self.kind})
        for name, kind in ctx.dependencies.items():
            if kind == "postgres":
                components.prepare_postgres(ctx.state, ctx.service.local.database, ctx.service.password, name=name)

    def stop(self, name: str) -> None:
        self.supervisor.stop(name)

    def start(self, name: str) -> None:
        if self.supervisor.info(name).get("statename") in ("RUNNING", "STARTING"):
            self.supervisor.signal_group(name, signal.SIGCONT)
        self.supervisor.start(name)

    def hang(self, name: str) -> bool:
        return self.supervisor.signal_group(name, signal.SIGSTOP) is not None

    def release(self, name: str) -> bool:
        return self.supervisor.signal_group(name, signal.SIGCONT) is not None

    def state_of(self, name: str, address: str) -> DependencyState:
        info = self.supervisor.processes().get(name, {})
        pid = info.get("pid") or None
        state = "running" if info.get("statename") in ("RUNNING", "STARTING") else "stopped"
        if pid and process_state_letter(pid) == "T":
            state = "frozen"
        return DependencyState(name, state, address, pid)
