"""One game day: preflight, background load and probing, every experiment in turn, the report.

Each experiment runs through chaostoolkit (:mod:`gameday.chaos.runner`, rollbacks always, ledger
emptied). Around it the game day measures what a person wants to know: when the fault went in,
when users saw the outage, when resolution started, when the service was back, when the runbook's
verification checklist passed; what the diagnosis said; whether the runbook's paging alert paged; who would
have been escalated to. Its parts live beside it: ``background`` (load, prober, guard), ``paging``, ``verification``,
``scoring`` (each experiment's :class:`gameday.result.ExperimentResult`), ``writeup`` (the report).

The diagnosis and the alert count (``diagnosis="strict"``, the default): an experiment whose diagnosis is wrong, whose
expected alert did not fire or that paged where no outage was expected fails, like one that did not recover. An alert
the run could not judge (it did not wait for it, Prometheus did not answer) is "not judged", said so, never a pass.
``diagnosis="advisory"`` reports both without gating, and the report says which mode ran.

Every page the run opens is in the ledger before it is sent (:mod:`gameday.notify.pages`) and resolved before
the run exits, however it ends: recovery, failure, a stop condition, SIGINT, SIGTERM, ``gameday halt`` (which
undoes the faults and resolves the pages itself, then gives the run a grace to write its partial report).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gameday import interrupts
from gameday.abort import LOAD_FAULT, undo_entries
from gameday.chaos import runner
from gameday.chaos.catalogue import CatalogueEntry, catalogue
from gameday.config import Settings, StopConditions
from gameday.diagnose.diagnosis import diagnose
from gameday.errors import GamedayError, UsageError
from gameday.faults import expected_to_fire
from gameday.guard import stops
from gameday.guard.gate import game_day_lock
from gameday.guard.halt import HALT, describe
from gameday.guard.records import records_for
from gameday.ledger import Ledger, set_run_id
from gameday.result import Diagnosis, ExperimentResult, GameDayReport, Skipped
from gameday.run.background import Background
from gameday.run.paging import Paging
from gameday.run.progress import Progress
from gameday.run.scoring import Scorer, detected_at
from gameday.run.track import ExperimentTrack, set_current
from gameday.run.verification import CROSS_CHECK_WAIT_S, Verification, Verified
from gameday.run.writeup import blind_line, exit_code, new_report_dir, write
from gameday.runbook.package import Runbook
from gameday.runbook.package import find as find_runbook
from gameday.safety import guard
from gameday.targets import get_target, ledger_for
from gameday.targets.base import Target

CONTROLS = [{"name": "gameday-phases", "provider": {"type": "python", "module": "gameday.run.control"}}]
STOPPED_REASON = "not run: a stop condition ended the game day"
DIAGNOSIS_MODES = ("strict", "advisory")  # strict: a wrong diagnosis or a misbehaving alert fails the experiment


@dataclass
class GameDayOptions:
    """What to run and how."""

    experiments: list[str] = field(default_factory=list)  # names or paths; empty: the whole catalogue
    users: int = 4
    baseline_s: float = 12.0
    verify_window_s: float = 8.0
    wait_for_alert: bool = True
    alert_timeout_s: float = 45.0  # the page's due time when Prometheus has no paging rule to read (run.paging)
    reports_dir: Path | None = None
    live: bool = True
    stop_conditions: StopConditions | None = None  # default: the configuration's (settings.stop_conditions)
    lock_wait_s: float = 0.0  # wait this long for another game day on the target to finish (--wait)
    diagnosis: str = "strict"  # DIAGNOSIS_MODES: whether the diagnosis and the alert gate the verdict
    fail_on_regression: bool = False  # judge the run against its history (report "regression_gate", exit 4)


@dataclass
class GameDayResult:
    """The report written and the exit code."""

    report: GameDayReport
    out_dir: Path

    def __post_init__(self) -> None:
        self.report = GameDayReport.of(self.report)  # a report.json's dictionary reads as the same report

    @property
    def exit_code(self) -> int:
        """0 only when every experiment recovered and verified (and, strict, was diagnosed right and paged as
        expected); 6 stopped by a stop condition; 130 (SIGINT) or 143 (SIGTERM) when interrupted; 1 failed; 4 when
        the regression gate (``fail_on_regression``) found a passed run slower than its history (README "Exit
        codes")."""
        return exit_code(self.report)


def preflight(target: Target, settings: Settings) -> Ledger:
    """Everything checked before any fault: reachable, allowlisted, ledger empty, steady state met."""
    guard(target)
    target.reachable()
    ledger = ledger_for(settings)  # kubernetes: in the cluster, where any machine can undo it
    ledger.ensure_empty()
    started = time.monotonic()
    # the target's own start budget (local: measured at up; a cluster: its rollout deadline), never a constant: a
    # replica of a heavy service still starting after `up` needs its start time, not ours
    if not target.wait_healthy():
        not_ready = [r.name for r in target.replicas() if not r.ready]
        raise GamedayError(f"system not healthy before the game day (not ready within {time.monotonic() - started:.0f}"
                           f" s, the target's start budget: {', '.join(not_ready) or 'service'})")
    return ledger


class GameDay:
    """Runs the catalogue against one target and writes ``reports/<timestamp>/``."""

    def __init__(self, settings: Settings, options: GameDayOptions, target: Target | None = None,
                 runbook: Runbook | None = None) -> None:
        self.settings = settings
        self.runbook = runbook or find_runbook(settings.service.runbook)  # what it follows, loaded once
        self.options = options
        self.target = target or get_target(settings)
        if options.diagnosis not in DIAGNOSIS_MODES:
            raise UsageError(f"--diagnosis {options.diagnosis!r}: expected {' or '.join(DIAGNOSIS_MODES)}")
        self.entries = catalogue(options.experiments or None, settings.service, self.target.identity().get("kind"))
        # whether each experiment's fault must page: a lasting full outage (a short kill burst is a blip the
        # alert's `for:` rides out)
        alert_expected = {e.name: expected_to_fire(e.fault, e.params, settings.service)
                          for e in self.entries if not e.skip}
        # experiments that do not apply to this service on this target: reported with the reason, not run
        self.skipped = [Skipped(name=e.name, title=e.title, fault=e.fault, reason=e.skip)
                        for e in self.entries if e.skip]
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.out_dir = new_report_dir(Path(options.reports_dir or settings.reports_dir), stamp)
        self.run_id = f"{stamp}-{uuid.uuid4().hex[:6]}"
        set_run_id(self.run_id)  # the owner every ledger entry of this run names
        self.results: list[ExperimentResult] = []
        self.background = Background(settings, options, self.target, self.out_dir)
        self.paging = Paging(settings, options, self.target, self.runbook, self.run_id, alert_expected)
        self.verification = Verification(settings, self.target, self.runbook, options.verify_window_s)
        self.scorer = Scorer(settings, options, self.target, self.runbook, alert_expected)
        self.started_at = time.time()
        self.stop_conditions = options.stop_conditions or settings.stop_conditions
        self.stopped: list[stops.Fired] = []
        self.signal: str | None = None
        self.ledger: Ledger | None = None
        self._ending = threading.Event()
        self._tracks: list[ExperimentTrack] = []
        self._halt: dict[str, Any] | None = None  # the halt record, once a SIGTERM came from 'gameday halt'

    def run(self) -> GameDayResult:
        """The whole game day, holding the target's lock; interruptions still undo the faults and write a report."""
        # an interrupt Python drops (its handler ran in a finalizer) stays pending: the safe points raise it again
        with game_day_lock(self.settings, self.options.lock_wait_s, on_halt=self._halted_elsewhere) as lock, \
                interrupts.kept():
            if lock.note:
                print(f"gameday: {lock.note}", file=sys.stderr, flush=True)
            return self._run()

    def _run(self) -> GameDayResult:
        ledger = self.ledger = self.paging.ledger = preflight(self.target, self.settings)
        names = [e.name for e in self.entries]
        probed = [self.settings.service.service.health_path] + [
            x for e in self.settings.service.probe_endpoints() for x in (e.name, e.path)]
        stops.validate(self.stop_conditions, names, self.target.prometheus_url(), probed)
        status, message = "passed", ""
        progress = Progress(len(self.entries), self.background.timeline, live=self.options.live)
        background = self.background
        try:
            background.start(len(self.entries), self.ledger, self.stop_conditions, self._on_stop)
            with progress:
                background.measure_baseline()
                for index, entry in enumerate(self.entries, 1):
                    if entry.skip:
                        progress.finished(entry.name, "SKIPPED", f"({entry.skip})")
                        continue
                    progress.update(index=index, name=entry.name, phase="starting")
                    interrupts.checkpoint()  # between experiments
                    result = self._run_experiment(entry, progress)
                    self.results.append(result)
                    detail = f"detect {_s(result.time_to_detect_s)}, recover {_s(result.time_to_recover_s)}"
                    progress.finished(entry.name, str(result.status), detail)
                    if result.status == "aborted" and not self.stop_conditions.continue_after_stop:
                        self._skip_rest()
                        break
                    if result.status == "interrupted":
                        status, message = "interrupted", str(result.message)
                        self.signal = result.signal
                        break
        except KeyboardInterrupt:
            if self.stopped:  # a stop condition fired between experiments
                self._skip_rest()
            else:
                status, message = "interrupted", "interrupted: load stopped, faults undone, partial report written"
                self.signal = "SIGINT"
        except BaseException as exc:
            if type(exc).__name__ != "Terminated":
                raise
            status, message = "interrupted", "terminated (SIGTERM): load stopped, faults undone, partial report"
            self.signal = "SIGTERM"
        finally:
            with _signals_deferred():  # a second Ctrl-C (or a stop condition's interrupt) must not stop the undo
                self._ending.set()
                set_current(None)
                if background.watcher:
                    background.watcher.stop()
                background.end_load_soon()
                for track in self._tracks:  # a trigger on its way is sent before its resolve (bounded)
                    track.join_hooks(timeout=2)
                why = self._why(self.signal) if status == "interrupted" else "ended"
                undone = undo_entries(ledger, [e for e in ledger.own() if e.kind == "fault"], settings=self.settings)
                for name in self.paging.open() if not undone.failed else []:  # after the faults, all undone
                    self._note(name, self.paging.withdraw(name, why))
                background.stop()
                # the load; pages this run could not resolve
                rest = undo_entries(ledger, ledger.own(), why=why, settings=self.settings)
                undone.undone += rest.undone
                undone.failed += rest.failed
            ledger_clean = not undone.failed
        if self._halt is not None and status == "interrupted":
            message = f"halted {describe(self._halt)}: load stopped, faults undone, partial report"
        if self.stopped and status == "passed":
            status = "stopped"
            message = "; ".join(f.line() + (f" in {f.experiment}" if f.experiment else "") for f in self.stopped)
            stopped_skips = [e.name for e in self.skipped if e.reason == STOPPED_REASON]
            if stopped_skips:
                message += f"; skipped: {', '.join(stopped_skips)}"
        if status == "passed" and any(r.status != "passed" for r in self.results):
            status = "failed"
            message = "failed: " + ", ".join(r.name for r in self.results if r.status != "passed")
        faults_undone = [u for u in undone.undone if not u.startswith(LOAD_FAULT)]
        if faults_undone:
            message = (message + f"; undone after the run: {len(faults_undone)} fault(s)").lstrip("; ")
        if self.results:
            message = (message + "; " + self.scorer.judgement(self.results)).lstrip("; ")
        blind = background.watcher.blind() if background.watcher else []
        if blind:  # a guard that could not see is said beside the verdict it did not watch over
            message += "; " + blind_line(blind)
        self.verification.collect(0.0 if status == "interrupted" else CROSS_CHECK_WAIT_S)
        report = GameDayReport(
            status=status, message=message, target=self.target.name, base_url=self.target.base_url(),
            started_at=self.started_at, experiments=self.results, skipped=self.skipped,
            stopped=[f.to_dict() for f in self.stopped], guard_blind=blind, diagnosis_mode=self.options.diagnosis,
            signal=self.signal, ledger_clean=ledger_clean, runbook=self.runbook.title)
        write(report, self.background, self.paging.notifier, self.settings, self.target, self.out_dir,
              self.options.fail_on_regression)
        return GameDayResult(report, self.out_dir)

    def _skip_rest(self) -> None:
        """A stop condition ended the run: the experiments not run yet are reported as skipped, with why."""
        done = {r.name for r in self.results} | {e.name for e in self.skipped}
        self.skipped += [Skipped(name=e.name, title=e.title, fault=e.fault, reason=STOPPED_REASON)
                         for e in self.entries if e.name not in done]

    def _on_stop(self, fired: stops.Fired) -> None:
        """A stop condition fired (watcher thread): undo this run's faults now, stop the load, interrupt."""
        if self._ending.is_set() or self.ledger is None:
            return
        mine = [e for e in self.ledger.own() if e.kind == "fault"]
        fired.undone = undo_entries(self.ledger, mine, settings=self.settings).lines()
        fired.undone_at = time.time()
        self.stopped.append(fired)
        print(f"gameday: stop condition fired: {fired.line()}; this run's faults undone", file=sys.stderr,
              flush=True)
        if not self.stop_conditions.continue_after_stop:
            self.background.end_load_soon()
        if not self._ending.is_set():
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)  # the experiment's rollbacks run

    def _run_experiment(self, entry: CatalogueEntry, progress: Progress) -> ExperimentResult:
        track = ExperimentTrack(entry.name, entry.fault, entry.params, entry.expects_outage)
        diagnosed: list[Diagnosis] = []
        notes: list[dict[str, Any]] = []
        paging, prober = self.paging, self.background.prober
        track.pre_resolution += [paging.wait_for_page, lambda t: diagnosed.append(self._diagnose(t))]
        track.on_detected.append(lambda t: notes.extend(paging.notify_outage(t)))
        track.on_recovered.append(lambda t: notes.extend(paging.notify_recovered(t)))
        assert prober is not None
        prober.listeners = [track.observe]
        set_current(track)
        self._tracks.append(track)
        stop_following = threading.Event()
        follower = threading.Thread(target=self._follow, args=(progress, track, stop_following), daemon=True)
        follower.start()
        try:
            result = runner.run(str(entry.path), journal_path=self.out_dir / "journals" / f"{entry.name}.json",
                                settings=self.settings, controls=CONTROLS, load=self.background.steady_state)
        finally:
            set_current(None)
            stop_following.set()
            follower.join(1)
            prober.listeners = []
        if track.detected_at and not track.recovered_at and not result.interrupted_by:
            track.recovered_at = time.time()  # never leave an incident open at PagerDuty
            notes.extend(paging.notify_recovered(track))
        fired = next((f for f in self.stopped if f.experiment == entry.name), None)
        if result.interrupted_by and fired is None:  # SIGINT, SIGTERM, a halt: the game day ends here
            self.background.end_load_soon()
        track.join_hooks(timeout=20)
        if track.name in paging.open() and not result.left_in_ledger:  # ended before recovery, its faults undone
            notes.extend(paging.withdraw(track.name, "stopped by a stop condition" if fired
                                         else self._why(result.interrupted_by)))
        finished = time.time()
        progress.update(phase="verification checklist")
        # the window opens when the method proved recovery (wait until healthy): the steady state after and the
        # rollbacks run inside it, under the same load, instead of before it
        window_start = min(track.method_ended_at or finished, finished)
        verified = Verified()
        if not result.interrupted_by:  # the alert's times are asked for beside the checklist, not after it
            verified = self.verification.verify(
                window_start, finished, self.background.timeline, self.background.baseline,
                lambda: self.scorer.alert(track, track.injected_at, detected_at(prober, track), False))
        scored = self.scorer.result(entry, track, result, prober, verified, diagnosed[-1] if diagnosed else None,
                                    notes)
        self.verification.follow(scored, verified.cross_check)
        scored.signal = result.interrupted_by
        if fired is not None:  # ended by a stop condition, not by a person
            scored.status, scored.message, scored.stop, scored.signal = "aborted", fired.line(), fired.to_dict(), None
        return scored

    @staticmethod
    def _follow(progress: Progress, track: ExperimentTrack, stop: threading.Event) -> None:
        while not stop.wait(0.25):
            progress.update(phase=track.phase)

    def _diagnose(self, track: ExperimentTrack) -> Diagnosis:
        started = time.time()
        found = diagnose(self.target, self.settings.service)
        entry = next(e for e in self.entries if e.name == track.name)
        verdict = found.verdict.to_dict()
        return Diagnosis(
            at=started,
            verdict=verdict.get("key"),
            summary=verdict.get("summary") or verdict.get("title"),
            expected=entry.expected_verdict,
            accepted=list(entry.also_accepted),
            correct=verdict.get("key") == entry.expected_verdict or verdict.get("key") in entry.also_accepted,
            command="; ".join(found.resolution.commands) or "; ".join(found.resolution.steps),
            duration_s=round(time.time() - started, 2),
        )

    def _note(self, name: str, notes: list[dict[str, Any]]) -> None:
        """Notifications sent after an experiment's result was scored belong to it too."""
        for result in self.results:
            if result.name == name:
                result.notifications.extend(notes)

    def _why(self, signal_name: str | None) -> str:
        """How the run ended early, in a resolve's words: a SIGTERM from 'gameday halt' is a halt."""
        if signal_name == "SIGTERM" and self._halt is None:
            self._halt = self._halt_record()
        if signal_name == "SIGTERM" and self._halt is not None:
            return "halted"
        return {"SIGINT": "interrupted (SIGINT)", "SIGTERM": "terminated (SIGTERM)"}.get(signal_name or "", "ended")

    def _halted_elsewhere(self, record: dict[str, Any]) -> None:
        """A halt record appeared (the lock's keepalive, kubernetes): 'gameday halt' on another machine undoes the
        faults but cannot signal this process, so the run ends itself as a halt's SIGTERM would end it."""
        self._halt = record
        if not self._ending.is_set():
            print(f"gameday: target halted {describe(record)}: ending the game day", file=sys.stderr, flush=True)
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)

    def _halt_record(self) -> dict[str, Any] | None:
        try:
            return records_for(self.settings).read(HALT)
        except Exception:  # the record cannot be read: the run still ends, called terminated rather than halted
            return None


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM are noted but do not interrupt the block (the cleanup after a game day)."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    interrupts.clear()  # the undo has begun: an interrupt still pending must not cut it short
    for sig in previous:
        signal.signal(sig, lambda signum, frame: None)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}s"
