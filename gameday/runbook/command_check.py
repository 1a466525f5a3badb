"""One runbook command's verdict: what ``runbook-check`` and each target's checker (local, kubectl) share."""

from __future__ import annotations

from dataclasses import dataclass

OK, DRIFT, BROKEN, NOT_RUN, SKIPPED = "ok", "drift", "broken", "not-run", "skipped"
FAILING = (DRIFT, BROKEN)


@dataclass
class CommandCheck:
    """The verdict on one runbook command (or comment-only block)."""

    line: int
    where: str
    command: str  # as written in the runbook
    rendered: str  # with the variables filled in
    status: str  # ok | drift | broken | not-run | skipped
    detail: str
    ran: str = ""  # what was actually run: a Target call or a kubectl command line
