"""Run one experiment programmatically with guaranteed cleanup.

``chaos run`` alone is not enough: SIGTERM only fails the current activity, and its default rollback
strategy skips rollbacks when interrupted. Here:

1. before anything changes: the experiment is parsed and checked (faults, dependencies); one that does not
   apply to the service (kafka-down where the profile has no Kafka) is SKIPPED with the reason, touching
   nothing (exit code 0: a skip is not a failure); the target is built from configuration, the safety
   guard says yes, the target answers, and the ledger is empty (a killed run's faults must first be
   undone with ``gameday abort``);
2. chaostoolkit runs it with the ``always`` rollback strategy; SIGINT and SIGTERM both interrupt it
   the way Ctrl-C does (so the rollbacks run), and an interrupt whose exception Python lost (raised inside a
   finalizer: see :mod:`gameday.interrupts`) is raised again at the next safe point (the fault's next round, the
   wait's next poll, the end of the activity), so it never reaches chaostoolkit as an activity's failure nor lets
   the method go on; once the rollbacks run, signals are only noted: nothing cuts the undo short;
3. afterwards, whatever happened, every fault this run left in the ledger is undone;
4. the journal (written phase by phase while running) decides the verdict.

The run's settings reach the activities the way chaostoolkit-lib intends: in the experiment's ``configuration``
(:meth:`gameday.context.RunContext.configuration`), which chaostoolkit hands every activity that declares a
``configuration`` argument. Nothing process-wide is swapped: two runs with different settings in one process do not
see each other's.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from chaoslib.exceptions import InterruptExecution
from chaoslib.experiment import run_experiment
from chaoslib.run import RunEventHandler

from gameday import faults, interrupts
from gameday.chaos import lint, probes
from gameday.chaos.context import ledger, own_entries
from gameday.chaos.journal import JournalRecorder, MaskedFormatter, verdict_from_journal
from gameday.chaos.steady import runbook_of
from gameday.config import Settings
from gameday.context import LOAD_KEY, RunContext
from gameday.errors import UsageError
from gameday.guard.gate import game_day_lock
from gameday.guard.lock import GameDayLock
from gameday.ledger import Ledger
from gameday.safety import guard
from gameday.targets import from_identity, get_target
from gameday.targets.kubernetes.cluster import cluster

ROLLBACKS_ALWAYS: dict[str, Any] = {"runtime": {"rollbacks": {"strategy": "always"}}}
SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during a run: chaostoolkit treats it as Ctrl-C (interrupted, rollbacks played)."""

    def __init__(self, signame: str) -> None:
        super().__init__(signame)
        self.signame = signame


@dataclass
class RunResult:
    """The outcome of one experiment run."""

    name: str
    ok: bool
    message: str
    journal_path: Path | None  # None when skipped: nothing ran
    journal: dict[str, Any]
    duration_s: float
    interrupted_by: str | None = None
    left_in_ledger: list[str] = field(default_factory=list)
    skipped: bool = False  # the experiment does not apply to this service (``message`` says why)

    @property
    def exit_code(self) -> int:
        """0 passed or skipped, 130/143 interrupted by SIGINT/SIGTERM, 1 failed."""
        if self.interrupted_by:
            return EXIT_CODES.get(self.interrupted_by, 1)
        return 0 if self.ok else 1

    def line(self) -> str:
        """One line for people."""
        if self.skipped:
            return f"SKIPPED {self.name}: {self.message}"
        word = "PASSED" if self.ok else ("INTERRUPTED" if self.interrupted_by else "FAILED")
        return f"{word} {self.name} in {self.duration_s:.1f}s: {self.message}"


class _SignalGuard(RunEventHandler):
    """SIGINT/SIGTERM: the first interrupts the run (like Ctrl-C) unless the undo has begun (rollbacks, cleanup);
    any other is only noted. Every chaostoolkit event before the rollbacks is a safe point (see
    :mod:`gameday.interrupts`): an interrupt whose exception was lost is raised there again."""

    def __init__(self, recorder: JournalRecorder) -> None:
        self.recorder = recorder
        self.first: str | None = None
        self.undoing = False  # rollbacks or cleanup under way: a signal must not cut them short
        self._saved: dict[int, Any] = {}

    def handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.recorder.extra["signals"].append(
            {"signal": name, "phase": self.recorder.phase, "activity": self.recorder.activity, "at": time.time()}
        )
        state = "already stopping; "
        if self.first is None:
            self.first, state = name, ""
            if not self.undoing:
                interrupt = Interrupted(name)
                interrupts.set_pending(interrupt)  # raised again at the next safe point if Python loses this one
                raise interrupt
        print(f"gameday: {name}: {state}undoing this run's faults first (SIGKILL would leave them for "
              "'gameday abort')", file=sys.stderr, flush=True)

    def install(self) -> None:
        """Take SIGINT and SIGTERM (remembering the previous handlers)."""
        for sig in SIGNALS:
            self._saved.setdefault(sig, signal.getsignal(sig))
            signal.signal(sig, self.handle)

    def restore(self) -> None:
        """Give the signals back to whoever had them."""
        for sig, previous in self._saved.items():
            signal.signal(sig, previous)

    def undo_begins(self) -> None:
        """From now on signals are only noted, and a pending interrupt is not raised again."""
        self.undoing = True
        interrupts.clear()

    def started(self, experiment: Any, journal: Any) -> None:
        # chaoslib's Runner has just installed its own SIGTERM handler (fail the current activity only):
        # take SIGTERM back so that it interrupts the run and the rollbacks run.
        signal.signal(signal.SIGTERM, self.handle)
        interrupts.checkpoint()

    # --- safe points between the steps of the steady states and the method (none once the undo began) -----
    def start_hypothesis_before(self, experiment: Any) -> None:
        interrupts.checkpoint()

    def hypothesis_before_completed(self, experiment: Any, state: Any, journal: Any) -> None:
        interrupts.checkpoint()

    def start_method(self, experiment: Any) -> None:
        interrupts.checkpoint()
        probes.method_started()

    def start_hypothesis_after(self, experiment: Any) -> None:
        interrupts.checkpoint()

    def start_activity(self, activity: Any) -> None:
        interrupts.checkpoint()

    def activity_completed(self, activity: Any, run: Any) -> None:
        interrupts.checkpoint()  # the method stops after the activity it interrupted, never runs the next

    def start_rollbacks(self, experiment: Any) -> None:
        self.undo_begins()


def default_journal_path(name: str, settings: Settings) -> Path:
    """reports/chaos/<experiment>-<timestamp>.json under the configured reports directory."""
    return Path(settings.reports_dir) / "chaos" / f"{name}-{datetime.now():%Y%m%d-%H%M%S}.json"


def not_applicable(name_or_path: str, settings: Settings) -> tuple[Path, str | None]:
    """The experiment's file, and why it does not apply to the configured service and target (None: it does)."""
    path = lint.resolve(name_or_path, settings.service.runbook)
    return path, lint.not_applicable(lint.load(path), settings.service, settings.target, settings)


def preflight(name_or_path: str, settings: Settings) -> tuple[Path, dict[str, Any], Ledger]:
    """Everything checked before anything changes; raises one-line errors (UsageError, SafetyError, TargetError)."""
    path = lint.resolve(name_or_path, settings.service.runbook)
    experiment = lint.load(path)
    _guard_configured(settings)
    target = get_target(settings)
    guard(target, safety=settings.safety)
    target.reachable()
    book = ledger(settings)
    book.ensure_empty()
    return path, experiment, book


class _Configured:
    """The Kubernetes target as configuration names it, for the safety guard before any client exists."""

    def __init__(self, settings: Settings) -> None:
        self.kube = cluster(settings)

    def identity(self) -> dict[str, Any]:
        return {"kind": "kubernetes", "context": self.kube.context, "namespace": self.kube.namespace}


def _guard_configured(settings: Settings) -> None:
    """Refuse a configured context or namespace outside the allowlist before the target is even built."""
    if settings.target == "kubernetes" and settings.kubernetes.context:
        guard(_Configured(settings), safety=settings.safety)  # type: ignore[arg-type]  # guard only reads identity()


def run(
    name_or_path: str,
    journal_path: Path | None = None,
    settings: Settings | None = None,
    log_to_stderr: bool = False,
    controls: list[dict[str, Any]] | None = None,
    lock_wait_s: float = 0.0,
    load: dict[str, Any] | None = None,
) -> RunResult:
    """Run one experiment (a file or a shipped name) with rollbacks always and the ledger emptied afterwards.

    ``controls`` are chaostoolkit controls added to the experiment for this run (the game day's phase tracker).
    The target's game-day lock is held for the run (a game day calling this holds it already); ``lock_wait_s``:
    how long to wait for another holder. ``settings``: the run's (default: loaded from the environment); the
    activities get them through the experiment's configuration, and ``load`` too: the load a game day keeps the
    service under (``LOAD_KEY``), which the steady state before the method may judge on.
    """
    if threading.current_thread() is not threading.main_thread():
        raise UsageError("run experiments from the main thread: only it can take SIGINT/SIGTERM for the cleanup")
    settings = settings if settings is not None else Settings()
    held: GameDayLock | None = None
    try:
        path, skip = not_applicable(name_or_path, settings)
        if skip:
            return RunResult(path.stem, True, skip, None, {}, 0.0, skipped=True)
        held = game_day_lock(settings, lock_wait_s).acquire()  # allowlist, halt record, one game day at a time
        if held.note:
            print(f"gameday: {held.note}", file=sys.stderr, flush=True)
        path, experiment, book = preflight(name_or_path, settings)
        if controls:
            experiment["controls"] = [*(experiment.get("controls") or []), *controls]
        experiment["configuration"] = handed_down(experiment, settings)
        if load:
            experiment["configuration"][LOAD_KEY] = load
        journal_path = Path(journal_path or default_journal_path(path.stem, settings)).resolve()
        recorder = JournalRecorder(journal_path, str(path))
        signals = _SignalGuard(recorder)
        probes.reset_run_state()
        started = time.monotonic()
        error: str | None = None
        with _chaos_logging(journal_path.with_suffix(".log"), log_to_stderr):
            recorder.write()
            signals.install()
            try:
                # the guard first: it takes SIGTERM back from chaoslib before anything else runs
                run_experiment(experiment, settings=ROLLBACKS_ALWAYS, event_handlers=[signals, recorder])
            except Interrupted:
                pass  # interrupted outside the phases chaostoolkit guards: the cleanup below still runs
            except InterruptExecution:  # SIGTERM in the instant chaoslib's own handler was in place
                signals.first = signals.first or "SIGTERM"
            except Exception as exc:  # chaostoolkit itself failed: still undo, still write the journal
                error = f"chaostoolkit failed: {type(exc).__name__}: {exc}"
            finally:
                signals.undo_begins()
                try:
                    left = _cleanup(book, recorder, settings)
                finally:
                    signals.restore()
        journal = recorder.final()
        if signals.first and journal.get("status") not in ("interrupted",):
            journal["status"] = "interrupted"
        ok, message = verdict_from_journal(journal)
        if error:
            ok, message = False, error
        journal["gameday"]["verdict"] = {"ok": ok, "message": message}
        recorder.set_phase("done")
        return RunResult(path.stem, ok, message, journal_path, journal, time.monotonic() - started,
                         signals.first, left)
    finally:
        if held is not None:
            held.release()


def handed_down(experiment: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The experiment's chaostoolkit configuration with the run's context added (the runbook it names kept)."""
    own = dict(experiment.get("configuration") or {})
    return {**own, **RunContext.from_settings(settings, runbook_of(own)).configuration()}


def _cleanup(book: Ledger, recorder: JournalRecorder, settings: Settings) -> list[str]:
    """Undo every fault this run left in the ledger; return those that could not be undone."""
    recorder.set_phase("cleanup")
    left = []
    for entry in reversed(own_entries(book)):
        record: dict[str, Any] = {"fault": entry.describe(), "undone": False}
        try:
            faults.undo(from_identity(entry.target, settings), book, entry)
            record["undone"] = True
        except Exception as exc:  # keep going: every other fault still gets its undo
            record["error"] = f"{type(exc).__name__}: {exc}"
            left.append(entry.describe())
        recorder.extra["cleanup"].append(record)
        recorder.write()
    return left


@contextmanager
def _chaos_logging(log_path: Path, to_stderr: bool) -> Iterator[None]:
    """chaostoolkit's log next to the journal (and on stderr for people), for the run only."""
    chaos_log = logging.getLogger("chaostoolkit")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [logging.FileHandler(log_path)]
    if to_stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    for h in handlers:
        h.setFormatter(MaskedFormatter("[%(asctime)s %(levelname)s] %(message)s", "%H:%M:%S"))
        chaos_log.addHandler(h)
    level = chaos_log.level
    chaos_log.setLevel(logging.INFO)
    try:
        yield
    finally:
        chaos_log.setLevel(level)
        for h in handlers:
            chaos_log.removeHandler(h)
            h.close()

