"""The dependency-kind interface and its registry."""

from __future__ import annotations

import shutil
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

KINDS: dict[str, DependencyKind] = {}


@dataclass(frozen=True)
class DependencyCheck:
    """The result of the runbook's step-3 connectivity check of one dependency."""

    name: str
    ok: bool
    latency_s: float
    detail: str
    command: str = ""  # the check as a person would type it


@dataclass(frozen=True)
class Address:
    """Where one dependency answers, and the credentials a service uses for it (the local target's database)."""

    host: str
    port: int
    database: str = ""
    user: str = ""
    password: str = ""  # from the environment; rendered into the service's configuration, never printed
    path: str = ""  # http: the health path checked


class DependencyKind(ABC):
    """What gameday knows about one kind of dependency."""

    kind: ClassVar[str]
    label: ClassVar[str]  # the name a person uses: PostgreSQL, Redis, Kafka
    default_port: ClassVar[int]
    # words that name this kind in a service's logs and error messages (the diagnosis reads logs with them)
    words: ClassVar[tuple[str, ...]] = ()
    # the client programs a runbook runs to check this kind (``kubectl exec POD -- pg_isready -h HOST``), the
    # option of theirs that says where the dependency is, and the placeholder attribute that value is
    programs: ClassVar[tuple[str, ...]] = ()
    address_option: ClassVar[tuple[str, str]] = ("-h", "host")

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            KINDS[cls.kind] = cls()

    def placeholders(self, address: Address) -> dict[str, str]:
        """The values a profile can use as ``{<dependency>.<attribute>}``."""
        return {"host": address.host, "port": str(address.port), "address": f"{address.host}:{address.port}"}

    def attributes(self) -> tuple[str, ...]:
        """The attribute names :meth:`placeholders` offers (checked when a profile is loaded)."""
        return tuple(self.placeholders(Address("h", 1, "d", "u", "p", "/")))

    @abstractmethod
    def check(self, name: str, address: Address, timeout: float) -> DependencyCheck:
        """The runbook's step-3 check, from outside the service, on a NEW connection (a pool can hide a hang)."""

    @abstractmethod
    def command(self, address: Address) -> str:
        """The check as a person types it (shown in the diagnosis and the runbook)."""


def kind_of(kind: str) -> DependencyKind:
    """The registered kind; ``KeyError`` names the known ones."""
    try:
        return KINDS[kind]
    except KeyError:
        raise KeyError(f"unknown dependency kind {kind!r}: expected one of {', '.join(sorted(KINDS))}") from None


def kind_for_program(program: str) -> DependencyKind | None:
    """The kind a runbook's check program checks (``pg_isready`` → postgres); None for any other program."""
    name = program.rsplit("/", 1)[-1]
    return next((k for k in KINDS.values() if name in k.programs), None)


def run_check(name: str, cmd: list[str], timeout: float, ok_output: str | None = None) -> DependencyCheck:
    """Run a client command as the check (pg_isready, redis-cli): what the runbook tells a person to type."""
    shown = " ".join(cmd)
    if not shutil.which(cmd[0]):
        return DependencyCheck(name, False, 0.0, f"{cmd[0]} not installed", shown)
    start = time.monotonic()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return DependencyCheck(name, False, time.monotonic() - start, f"no answer within {timeout:.1f}s", shown)
    latency = time.monotonic() - start
    out = (res.stdout + res.stderr).strip().replace("\n", " ")
    ok = res.returncode == 0 and (ok_output is None or ok_output in res.stdout)
    return DependencyCheck(name, ok, latency, out or f"exit {res.returncode}", shown)
