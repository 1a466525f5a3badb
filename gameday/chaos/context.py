"""What every chaos activity needs: the run's context (from chaostoolkit's configuration), its target passed by the
safety guard, the ledger, and this run's ledger entries.

A chaostoolkit run is one process, so "this run's faults" are the ledger entries this process wrote
(``owner_pid`` on this host, ``owner_host``); entries of any other process belong to another run (or to one
that was killed).

Every activity of a run gets the same configuration, so the context it describes is built once per run and thread
(:func:`run_context`), not once per activity: validating the settings, parsing the profile and the runbook package
and building the target cost a game day a few seconds per experiment on two busy cores (each steady-state check,
each proof of health asked again).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Mapping
from typing import Any

from gameday.config import Settings
from gameday.context import RUNBOOK_KEY, SETTINGS_KEY, RunContext
from gameday.ledger import Ledger, LedgerEntry
from gameday.profile import locate
from gameday.safety import guard
from gameday.targets import ledger_for
from gameday.targets.base import Target

Configuration = Mapping[str, Any] | None  # chaostoolkit's ``configuration`` as an activity receives it


_built: dict[str, RunContext] = {}  # the configuration's key -> its context, settings and runbook loaded (shared)
_generation = 0  # counts forget_contexts(): part of every key, so a context another thread kept is not used again
_lock = threading.Lock()
_per_thread = threading.local()  # this thread's contexts (each with its own target): a target's clients are not
# shared across threads


def run_context(configuration: Configuration) -> RunContext:
    """The run's context, from the configuration chaostoolkit handed the activity: built once per run (until
    :func:`forget_contexts`, which the runner's reset of a run's state calls) and thread, as long as the profile
    file is unchanged. The settings, profile and runbook package are shared by the run's threads (read only); each
    thread gets a target of its own. A configuration without the run's settings (plain ``chaos run``) loads them from
    the environment, each time."""
    handed = (configuration or {}).get(SETTINGS_KEY)
    key = _key(handed, (configuration or {}).get(RUNBOOK_KEY)) if isinstance(handed, Mapping) else None
    if key is None:
        return RunContext.from_configuration(configuration)
    mine: dict[str, RunContext] = getattr(_per_thread, "contexts", None) or {}
    if key not in mine:
        with _lock:
            shared = _built.get(key)
            if shared is None:
                shared = RunContext.from_configuration(configuration)
                _ = shared.profile  # loaded here, once, not by the threads at the same time
                _load_runbook(shared)
                _built.clear()  # one run's at a time
                _built[key] = shared
        _per_thread.contexts = mine = {key: shared.for_thread()}
    return mine[key]


def _load_runbook(shared: RunContext) -> None:
    """Load the shared context's runbook package once, for every thread; one that cannot be loaded is left for the
    activity that reads it to raise (one that does not read it is not failed by it)."""
    with contextlib.suppress(Exception):
        _ = shared.runbook


def forget_contexts() -> None:
    """Build the contexts afresh from the next activity on (a new run: targets rebuilt, profile read again)."""
    global _generation
    with _lock:
        _built.clear()
        _generation += 1  # a context another thread kept from an earlier run is not used
    _per_thread.contexts = {}


def _key(handed: Mapping[str, Any], runbook: Any) -> str | None:
    """What a context is built from: the settings handed down, the runbook, the profile file and its version (None:
    no profile file to read, built each time, and the build says why)."""
    try:
        source = locate(handed.get("profile")).resolve()
        stat = source.stat()
    except OSError:
        return None
    version = [str(source), stat.st_mtime_ns, stat.st_size]
    return json.dumps([_generation, dict(handed), runbook, version], sort_keys=True, default=str)


def changing_target(ctx: RunContext) -> Target:
    """The target, after the safety guard said yes: call this before any activity that changes it."""
    target = ctx.target
    guard(target, safety=ctx.settings.safety)
    return target


def ledger(settings: Settings) -> Ledger:
    """The fault ledger of the configured target (the state directory's; kubernetes: the cluster's)."""
    return ledger_for(settings)


def own_entries(book: Ledger, fault: str | None = None) -> list[LedgerEntry]:
    """Entries written by this process (this run), oldest first, optionally of one fault."""
    pid, host = os.getpid(), socket.gethostname()
    return [e for e in book.entries()
            if e.kind == "fault" and e.owned_by(pid, host) and (fault is None or e.fault == fault)]


def foreign_entries(book: Ledger) -> list[LedgerEntry]:
    """Entries written by any other process: faults another run left (or is still applying)."""
    pid, host = os.getpid(), socket.gethostname()
    return [e for e in book.entries() if e.kind == "fault" and not e.owned_by(pid, host)]
