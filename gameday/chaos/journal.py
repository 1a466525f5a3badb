"""The chaostoolkit journal: written as the run goes (phase by phase), and read for the verdict.

The journal, not ``chaos run``'s exit code, decides success (``chaos run`` exits 0 when the steady
state already failed before the method). :func:`verdict_from_journal` is what the game day reuses.

What is written (the journal, chaostoolkit's log beside it) has every ``{env.NAME}`` value masked: a probe's output
may quote a request's path or an answer that echoed a secret.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from chaoslib.run import RunEventHandler

from gameday import placeholders
from gameday.state import write_json_atomic

GAMEDAY_KEY = "gameday"  # our section of the journal: phase, signals received, cleanup after the run


def verdict_from_journal(journal: dict[str, Any] | None) -> tuple[bool, str]:
    """(ok, one line): whether the experiment showed what it claims and the system came back.

    Fails when the steady state failed before the method ("system not healthy before the experiment"),
    when the run was interrupted or aborted, when any method step failed (a symptom not observed, a
    resolution that did not work), when the steady state was not met after the method, when a rollback
    failed, or when gameday's cleanup left a fault in the ledger.
    """
    if not isinstance(journal, dict) or "steady_states" not in journal:
        return False, "no journal: the experiment did not run"
    extra = journal.get(GAMEDAY_KEY) or {}
    status = journal.get("status")
    before = (journal.get("steady_states") or {}).get("before")
    after = (journal.get("steady_states") or {}).get("after")
    left = [c["fault"] for c in extra.get("cleanup", []) if not c.get("undone")]
    suffix = f"; NOT undone: {', '.join(left)} (run 'gameday abort')" if left else ""
    if before is not None and not before.get("steady_state_met"):
        return False, f"system not healthy before the experiment: {_failed_probes(before)}{suffix}"
    if status == "interrupted":
        signals = extra.get("signals") or []
        how = f"{signals[0]['signal']} during {signals[0]['phase']}" if signals else "interrupted"
        return False, f"interrupted ({how}); faults of this run undone{suffix}"
    if status == "aborted":
        return False, f"aborted: the method raised an unexpected error{suffix}"
    if before is None:
        return False, f"steady-state hypothesis not checked before the method{suffix}"
    for run in journal.get("run") or []:
        if run.get("status") != "succeeded":
            return False, f"method step {_name(run)!r} failed: {_exception(run)}{suffix}"
    if after is None:
        return False, f"steady state not checked after the method{suffix}"
    if not after.get("steady_state_met"):
        return False, f"steady state not restored after the method: {_failed_probes(after)}{suffix}"
    for run in journal.get("rollbacks") or []:
        if run.get("status") != "succeeded":
            return False, f"rollback {_name(run)!r} failed: {_exception(run)}{suffix}"
    if left:
        return False, suffix.lstrip("; ")
    return True, f"steady state met before and after; {_method_summary(journal)}"


def _name(run: dict[str, Any]) -> str:
    return str((run.get("activity") or {}).get("name", "?"))


def _exception(run: dict[str, Any]) -> str:
    lines = [line.strip() for line in run.get("exception") or [] if line.strip()]
    return lines[-1] if lines else str(run.get("status"))


def _failed_probes(state: dict[str, Any]) -> str:
    bad = [
        f"{_name(p)} ({'error: ' + _exception(p) if p.get('status') != 'succeeded' else _out_of_tolerance(p)})"
        for p in state.get("probes", [])
        if p.get("status") != "succeeded" or not p.get("tolerance_met", True)
    ]
    return ", ".join(bad) or "hypothesis not met"


def _out_of_tolerance(probe: dict[str, Any]) -> str:
    """The runbook's steady-state probe names the checks that failed (gameday.chaos.steady); others just fail."""
    output = probe.get("output")
    checks = output.get("checks") if isinstance(output, dict) else None
    if not isinstance(checks, list):
        return "out of tolerance"
    failed = [c for c in checks if isinstance(c, dict) and not c.get("ok")]
    shown = [f"{c.get('name')}" + (f": {why}" if (why := _why(c.get("output"))) else "") for c in failed]
    return "failed: " + ", ".join(shown) if shown else "out of tolerance"


def _why(output: Any) -> str | None:
    """A failed check's own words: the error it raised, or the ``reason`` it gave for not being ok."""
    if not isinstance(output, dict):
        return None
    return output.get("error") or output.get("reason")


def _method_summary(journal: dict[str, Any]) -> str:
    parts = []
    for run in journal.get("run") or []:
        output = run.get("output")
        if isinstance(output, dict) and "observed" in output:
            parts.append(f"symptoms observed after {output.get('after_s')}s")
        elif isinstance(output, dict) and "unaffected" in output:
            failing = output.get("samples_before") or 0
            note = f"; requests failed in {failing} earlier sample(s)" if failing else ""
            parts.append(f"degraded but serving after {output.get('after_s')}s ({output.get('dependency')} down, "
                         f"{output.get('journeys_completed')} journeys completed{note})")
    steps = len(journal.get("run") or [])
    return ", ".join([*parts, f"{steps} method steps succeeded"])


class MaskedFormatter(logging.Formatter):
    """chaostoolkit's log lines (on stderr and in the file beside the journal) with every secret masked."""

    def format(self, record: logging.LogRecord) -> str:
        return placeholders.mask(super().format(record))


class JournalRecorder(RunEventHandler):
    """Writes the journal to ``path`` at every phase change, with gameday's phase marker.

    Other processes (tests, a person) can watch the file to see where a run is; the last write is
    the complete journal.
    """

    def __init__(self, path: Path, experiment_path: str) -> None:
        self.path = path
        self.journal: dict[str, Any] | None = None
        self.phase = "starting"
        self.activity: str | None = None
        self.extra: dict[str, Any] = {
            "phase": self.phase,
            "activity": None,
            "pid": os.getpid(),
            "experiment_path": experiment_path,
            "signals": [],
            "cleanup": [],
        }

    def set_phase(self, phase: str, activity: str | None = None) -> None:
        """Record the phase (and the activity running) and write the journal."""
        self.phase, self.activity = phase, activity
        self.extra.update(phase=phase, activity=activity, updated_at=time.time())
        self.write()

    def write(self) -> None:
        """Write what is known so far (atomically: readers never see half a file)."""
        journal = dict(self.journal) if self.journal is not None else {"steady_states": None}
        journal[GAMEDAY_KEY] = self.extra
        write_json_atomic(self.path, placeholders.mask_value(journal))

    def final(self) -> dict[str, Any]:
        """The journal with gameday's section (an empty shell when chaostoolkit never started)."""
        journal = self.journal if self.journal is not None else {"status": "interrupted", "steady_states": {}}
        journal[GAMEDAY_KEY] = self.extra
        return journal

    # --- chaoslib events ---------------------------------------------------------------------------
    def started(self, experiment: Any, journal: Any) -> None:
        self.journal = journal
        self.set_phase("started")

    def start_hypothesis_before(self, experiment: Any) -> None:
        self.set_phase("steady-state-before")

    def start_method(self, experiment: Any) -> None:
        self.set_phase("method")

    def start_hypothesis_after(self, experiment: Any) -> None:
        self.set_phase("steady-state-after")

    def start_rollbacks(self, experiment: Any) -> None:
        self.set_phase("rollbacks")

    def rollbacks_completed(self, experiment: Any, journal: Any) -> None:
        self.set_phase("rollbacks-completed")

    def start_activity(self, activity: Any) -> None:
        self.set_phase(self.phase, activity.get("name"))

    def activity_completed(self, activity: Any, run: Any) -> None:
        self.set_phase(self.phase, None)

    def finish(self, journal: Any) -> None:
        self.journal = journal
        self.set_phase("finished")
