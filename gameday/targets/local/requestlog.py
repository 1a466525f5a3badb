"""HAProxy's per-server records: its request log, one line per request (which server answered, when, how, how fast),
and its per-server counters of attempts it took away from a server.

The load balancer is the only place that knows which replica answered a request: the client sees one URL. A line
has ``option httplog``'s fields without the request line (the local target's ``log-format``: a path or query may
hold a secret from ``{env.NAME}``, so only the method is logged)::

    127.0.0.1:52226 [29/Nov/2026:17:09:45.600] svc-lb svc/replica-0 0/0/0/2/2 200 1912 - - ---- 2/1/0/0/0 0/0 "GET"

``[accept date]``, frontend, backend/server, Tq/Tw/Tc/Tr/Ta (ms; -1 when the step never happened), status (-1 when
there was no answer). A request HAProxy could not give to any server is logged against ``<NOSRV>``; a request
redispatched after a failed attempt is logged against the server that finally answered: the attempt that failed
is seen only in the counters (``show stat``'s ``wredis``: "the number of times that server was switched away
from"). A release that crashes at its first request is exactly that: the client got an answer from another
server, and the log alone would say the new release served nothing.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gameday.calls import failed_status
from gameday.targets.canary import Served

_LINE = re.compile(
    r"\[(?P<ts>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3})\] (?P<frontend>\S+) (?P<backend>[^/\s]+)/(?P<server>\S+) "
    r"(?P<tq>-?\d+)/(?P<tw>-?\d+)/(?P<tc>-?\d+)/(?P<tr>-?\d+)/\+?(?P<ta>-?\d+) (?P<status>-?\d+) "
)


@dataclass(frozen=True)
class Request:
    """One logged request."""

    at: float  # accept time, epoch seconds
    frontend: str
    server: str
    status: int  # -1: no answer
    total_ms: float  # Ta: accept to last byte

    @property
    def failed(self) -> bool:
        """A 5xx or no answer at all (what the service's users see as a failure)."""
        return failed_status(None if self.status < 0 else self.status)


def parse(line: str) -> Request | None:
    """One log line, or None when it is not a request line (HAProxy's own messages)."""
    m = _LINE.search(line)
    if not m:
        return None
    at = datetime.strptime(m.group("ts"), "%d/%b/%Y:%H:%M:%S.%f").timestamp()  # HAProxy logs local time
    return Request(at, m.group("frontend"), m.group("server"), int(m.group("status")), float(m.group("ta")))


def served(requests: Iterable[Request], servers: Iterable[str], switched_away: int = 0) -> Served:
    """What ``servers`` served among ``requests``, plus ``switched_away`` attempts they failed that another server
    answered (each a failed request of theirs); latencies of the successful ones only."""
    names = set(servers)
    mine = [r for r in requests if r.server in names]
    return Served(len(mine) + switched_away, sum(1 for r in mine if r.failed) + switched_away,
                  tuple(r.total_ms for r in mine if not r.failed), min((r.at for r in mine), default=None))


def switched_away(stat_csv: str, backend: str) -> dict[str, int]:
    """Each server's ``wredis`` counter from ``show stat``'s CSV: attempts taken away from it to another server."""
    rows = csv.DictReader(io.StringIO(stat_csv.lstrip("# ")))
    return {row["svname"]: int(row.get("wredis") or 0) for row in rows
            if row.get("pxname") == backend and row["svname"] not in ("FRONTEND", "BACKEND")}


class RequestLog:
    """The log read incrementally from a byte offset: each call returns only the lines appended since."""

    def __init__(self, path: Path, frontend: str) -> None:
        self.path = path
        self.frontend = frontend
        self.offset = path.stat().st_size if path.exists() else 0
        self._partial = b""

    def read_new(self) -> list[Request]:
        """The requests of ``frontend`` logged since the last call (a half-written last line waits for the next)."""
        try:
            with self.path.open("rb") as fh:
                if fh.seek(0, 2) < self.offset:  # the log was truncated or replaced: start over
                    self.offset, self._partial = 0, b""
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        out = []
        for raw in lines:
            request = parse(raw.decode(errors="replace"))
            if request is not None and request.frontend == self.frontend:
                out.append(request)
        return out
