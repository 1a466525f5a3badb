"""HAProxy's runtime API (admin stats socket): read server states, change them without a reload."""

from __future__ import annotations

import csv
import io
import socket
from dataclasses import dataclass
from pathlib import Path

from gameday.targets.model import TargetError


@dataclass(frozen=True)
class ServerStat:
    """One backend server as HAProxy sees it."""

    name: str
    address: str
    status: str  # UP, DOWN, MAINT, DRAIN, "UP 1/2", "DOWN 1/2", no check ...
    check_status: str
    check_desc: str

    @property
    def up(self) -> bool:
        """Whether HAProxy sends traffic to it."""
        return self.status.startswith("UP")


class HAProxyRuntime:
    """Commands over the stats socket (one connection per command, as HAProxy's CLI does)."""

    def __init__(self, socket_path: Path, backend: str, timeout: float = 2.0) -> None:
        self.socket_path = socket_path
        self.backend = backend
        self.timeout = timeout

    def command(self, line: str) -> str:
        """Send one command and return the whole answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.socket_path))
            except OSError as exc:
                raise TargetError(f"load balancer runtime API unreachable at {self.socket_path}: {exc}") from exc
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self) -> list[ServerStat]:
        """The backend's servers (``show stat``)."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return [
            ServerStat(
                name=row["svname"],
                address=row.get("addr", ""),
                status=row["status"],
                check_status=row.get("check_status", ""),
                check_desc=row.get("check_desc", ""),
            )
            for row in rows
            if row.get("pxname") == self.backend and row["svname"] not in ("FRONTEND", "BACKEND")
        ]

    def set_state(self, server: str, state: str) -> None:
        """``set server BACKEND/SERVER state ready|drain|maint``."""
        answer = self.command(f"set server {self.backend}/{server} state {state}").strip()
        if answer:
            raise TargetError(f"load balancer refused 'set server {server} state {state}': {answer}")
