"""The Database Connection Issues runbook's resolutions, as chaostoolkit actions (its experiments name this module:
``gameday.runbooks.database_connection_issues.actions``).

Each does what its runbook line says, through this run's ledger (the fault's own undo is exactly that change put
back), then checks that PostgreSQL accepts a new connection again. They are resolution actions, not an undo: the
game day waits for the page and diagnoses before the first of them (``gameday.run.control``), as it does before
``restore_dependency_link`` or ``rollout_undo``. One probe, :func:`settles_by_itself`, is the runbook's "they should
reconnect by themselves" watched from the outside.
"""

from __future__ import annotations

import time
from typing import Any

from gameday import interrupts
from gameday.chaos.actions import undo_faults
from gameday.chaos.context import Configuration, run_context
from gameday.chaos.probes import ProbeFailed

__all__ = ["end_sessions_holding_connections", "put_credentials_back_in_step", "settles_by_itself"]

POLL_S = 0.25  # how often the replicas' readiness is read while the service settles


def end_sessions_holding_connections(*, configuration: Configuration = None) -> dict[str, Any]:
    """"End the sessions of the client that leaks or holds them": this run's exhaust-connections undone (its holder
    ended, a new connection accepted again)."""
    return {"ended": undo_faults("exhaust-connections", configuration=configuration)}


def put_credentials_back_in_step(*, configuration: Configuration = None) -> dict[str, Any]:
    """"Put the service's secret and the database's password back in step": this run's rotate-credentials undone
    (the password and pg_hba.conf as they were, a new connection accepted again)."""
    return {"restored": undo_faults("rotate-credentials", configuration=configuration)}


def settles_by_itself(within_s: float = 5.0, recover_within_s: float | None = None, *,
                      configuration: Configuration = None) -> dict[str, Any]:
    """"After a failover the replicas should reconnect by themselves": watched from the outside, as the platform
    reports the replicas' readiness.

    A restart that is over in milliseconds is seen by the replicas only at their next use of a connection or their
    next readiness check: health proven before then proves nothing, and a diagnosis then sees the blip, not the
    outcome. So the readiness is watched for ``within_s`` (plus the platform's own lag to mark a replica unready,
    :meth:`Target.symptom_lag_s`); a dip is waited out until every replica is ready again, within the profile's
    ``recover_within_s`` (unless the experiment gives its own) from its start, else the probe fails (the service
    keeps dead connections: "if they do not within a minute, restart the pods").
    """
    ctx = run_context(configuration)
    target = ctx.target
    window_s = within_s + target.symptom_lag_s()
    recover_s = recover_within_s if recover_within_s is not None else ctx.profile.slo.recover_within_s
    started = time.monotonic()
    dipped_at: float | None = None  # the current dip's start (none: every replica ready)
    dips: list[dict[str, Any]] = []
    while True:
        replicas = target.replicas()
        unready = sorted(r.name for r in replicas if not r.ready)
        now = time.monotonic()
        if unready and dipped_at is None:
            dipped_at = now
            dips.append({"at_s": round(now - started, 2), "unready": unready})
        elif unready and dipped_at is not None:
            dips[-1]["unready"] = sorted({*dips[-1]["unready"], *unready})
            if now - dipped_at > recover_s:
                raise ProbeFailed(f"{', '.join(unready)} not ready again {now - dipped_at:.0f}s after they went "
                                  f"unready (recover_within_s {recover_s:g}s): the service did not reconnect by itself")
        elif dipped_at is not None:
            dips[-1]["lasted_s"] = round(now - dipped_at, 2)
            dipped_at = None
        if replicas and not unready and now - started >= window_s:
            return {"watched_s": round(now - started, 2), "dips": dips, "ready": len(replicas)}
        interrupts.pause(POLL_S)  # poll (a safe point)
