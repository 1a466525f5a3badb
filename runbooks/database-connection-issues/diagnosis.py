"""Database connection verdicts: PostgreSQL is up and answering, yet it refuses the service's new connections.

The runbook "Database Connection Issues" tells two causes apart by what on-call sees, never by what gameday did:

- ``connections-exhausted:<dep>``: every connection slot is taken (``max_connections`` reached, a pool or a client
  leaking sessions); the service's log says ``sorry, too many clients already`` (or ``remaining connection slots
  are reserved``), while ``pg_isready`` still says "accepting connections" (libpq's ping counts a refusal for
  capacity or credentials as a server that is up);
- ``authentication-failed:<dep>``: the service's credentials are no longer the server's (a password rotated on one
  side only); its log says ``password authentication failed for user ...``.

``gameday diagnose`` runs these rules (this package's ``decide``, found by :mod:`gameday.runbooks`) before the
generic ones (:func:`gameday.diagnose.rules.decide`), whatever runbook was chosen (a cause made by hand is diagnosed
as well). They name a verdict only when the service is impacted, its replicas are running (not crashed, not
stopped), no step-3 check of that PostgreSQL failed (a stopped or hung server is the dependency rules' case), and
the newest log line about that database, on any replica, is one of these refusals: an older refusal followed by
another error is not this cause any more.
"""

from __future__ import annotations

import re

from gameday.diagnose.evidence import Evidence
from gameday.diagnose.facts import fully_up
from gameday.diagnose.lines import dependency_words
from gameday.diagnose.verdicts import ACTIONS, Verdict
from gameday.profile import Profile
from gameday.runbooks.database_connection_issues import AUTHENTICATION_FAILED, CONNECTIONS_EXHAUSTED

# the log lines that name each cause (PostgreSQL's own words, as the drivers pass them on)
SIGNS: dict[str, re.Pattern[str]] = {
    CONNECTIONS_EXHAUSTED.key: re.compile(r"(?i)too many clients|remaining connection slots are reserved|"
                                          r"too many connections for (role|database)|TooManyConnectionsError"),
    AUTHENTICATION_FAILED.key: re.compile(r"(?i)password authentication failed|InvalidPasswordError|"
                                          r"no password supplied|authentication failed for user"),
}
SUMMARIES = {
    CONNECTIONS_EXHAUSTED.key: "connections exhausted: {dep} answers but refuses new connections (too many "
                               "clients: max_connections reached); the service cannot open the connections it needs",
    AUTHENTICATION_FAILED.key: "authentication failed: {dep} answers but refuses the service's credentials "
                               "(password authentication failed): the password was changed on one side only",
}
# a time in plain or JSON lines ("ts": "..."); one service writes one form, so its times sort as text
_STAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?")


def _stamp(line: str) -> str:
    """The line's ISO-8601 time as text (such times sort as text), or "" when it carries none."""
    found = _STAMP.search(line)
    return found.group(0) if found else ""


def decide(ev: Evidence, profile: Profile) -> Verdict | None:
    """The database-connection verdict the evidence shows, or None (the general rules decide)."""
    api_down = bool(ev.api) and all(a.failed for a in ev.api)
    if fully_up(ev) and not api_down:
        return None
    if not ev.replicas or any(r.phase != "Running" for r in ev.replicas):
        return None
    for dep in (d for d in profile.dependencies if d.kind == "postgres"):
        if any(c.name == dep.name and not c.ok for c in ev.dependencies):
            continue
        words = dependency_words(dep)
        about = [m for m in ev.log_matches if any(w in m.line.lower() for w in words)
                 or any(rx.search(m.line) for rx in SIGNS.values())]
        if not about:
            continue
        newest = max(enumerate(about), key=lambda im: (_stamp(im[1].line), im[0]))[1]
        kind = next((k for k, rx in SIGNS.items() if rx.search(newest.line)), None)
        if kind is None:
            continue
        latest = {m.replica: m for m in about if SIGNS[kind].search(m.line)}  # each replica's newest refusal
        lines = [f"log {m.replica}: {m.line[:240]}" for m in latest.values()]
        checks = [f"{c.name}: {'ok' if c.ok else 'FAILED'} ({c.detail})" for c in ev.dependencies if c.name == dep.name]
        ready = sum(1 for r in ev.replicas if r.ready)
        service = [f"replicas ready: {ready}/{len(ev.replicas)}"]
        return Verdict(kind, SUMMARIES[kind].format(dep=dep.name), [*checks, *service, *lines], dep.name,
                       list(ACTIONS[kind]))
    return None
