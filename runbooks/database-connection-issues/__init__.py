"""The Database Connection Issues runbook's own Python (``gameday.runbooks.database_connection_issues``, found by
:mod:`gameday.runbooks`): what no other runbook needs.

- ``faults/``: ``exhaust-connections`` and ``rotate-credentials``, the PostgreSQL-session faults (each registers
  itself, as ``gameday/faults/`` do), through the target's superuser session (``Target.dependency_admin``);
- ``diagnosis.py``: the rules that tell those two causes apart from outside evidence, run before the generic ones;
- ``actions.py``: the runbook's resolutions as chaostoolkit actions, which its experiments name.

Here: the verdict kinds its diagnosis decides and its faults expect (:data:`VERDICT_KINDS`).
"""

from __future__ import annotations

from gameday.verdict_keys import VerdictKind

# PostgreSQL answering yet refusing the service's new connections; the resolution is the runbook's own (its
# experiments' actions), so no generic action is named
CONNECTIONS_EXHAUSTED = VerdictKind("connections-exhausted", "database connections exhausted")
AUTHENTICATION_FAILED = VerdictKind("authentication-failed", "database authentication failed")
VERDICT_KINDS = (CONNECTIONS_EXHAUSTED, AUTHENTICATION_FAILED)
