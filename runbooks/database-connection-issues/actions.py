"""The Database Connection Issues runbook's resolutions, as chaostoolkit actions (its experiments name this module:
``gameday.runbooks.database_connection_issues.actions``).

Each does what its runbook line says, through this run's ledger (the fault's own undo is exactly that change put
back), then checks that PostgreSQL accepts a new connection again. They are resolution actions, not an undo: the
game day waits for the page and diagnoses before the first of them (``gameday.run.control``), as it does before
``restore_dependency_link`` or ``rollout_undo``.
"""

from __future__ import annotations

from typing import Any

from gameday.chaos.actions import undo_faults
from gameday.chaos.context import Configuration

__all__ = ["end_sessions_holding_connections", "put_credentials_back_in_step"]


def end_sessions_holding_connections(*, configuration: Configuration = None) -> dict[str, Any]:
    """"End the sessions of the client that leaks or holds them": this run's exhaust-connections undone (its holder
    ended, a new connection accepted again)."""
    return {"ended": undo_faults("exhaust-connections", configuration=configuration)}


def put_credentials_back_in_step(*, configuration: Configuration = None) -> dict[str, Any]:
    """"Put the service's secret and the database's password back in step": this run's rotate-credentials undone
    (the password and pg_hba.conf as they were, a new connection accepted again)."""
    return {"restored": undo_faults("rotate-credentials", configuration=configuration)}
