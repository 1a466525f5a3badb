"""One game day: preflight, background load and probing, every experiment in turn, the report.

Each experiment runs through chaostoolkit (:mod:`gameday.chaos.runner`, rollbacks always, ledger
emptied). Around it the game day measures what a person wants to know: when the fault went in,
when users saw the outage, when resolution started, when the service was back, when the runbook's
verification checklist passed; what the diagnosis said; whether the endpoint-down alert paged; who would
have been escalated to.

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
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gameday import interrupts, symptoms
from gameday.abort import LOAD_FAULT, load_entry, undo_entries
from gameday.alerts import client as alerts
from gameday.alerts.rules import Selectors
from gameday.alerts.timeline import alert_times, expected_to_fire
from gameday.chaos import runner
from gameday.config import Settings, StopConditions
from gameday.diagnose.diagnosis import diagnose
from gameday.errors import GamedayError, UsageError
from gameday.guard import stops
from gameday.guard.gate import game_day_lock
from gameday.guard.halt import HALT, describe
from gameday.guard.records import records_for
from gameday.history.remember import regression_gate, remember_game_day
from gameday.ledger import Ledger, ledger_for, set_run_id
from gameday.load.runner import LoadRun, LoadSpec
from gameday.load.timeline import Timeline, window_complete_at
from gameday.notify import escalation, messages, pages
from gameday.notify.sender import Notifier
from gameday.report.writer import write_report
from gameday.run import prober as probing
from gameday.run.catalogue import CatalogueEntry, catalogue
from gameday.run.progress import Progress
from gameday.run.track import ExperimentTrack, current_track, set_current
from gameday.safety import guard
from gameday.targets import get_target
from gameday.targets.base import Target
from gameday.verify.checklist import run_checklist
from gameday.verify.measurements import LoadWindow, Measurements
from gameday.verify.smoke import decided
from gameday.verify.verdicts import MIN_LATENCY_SAMPLES, Status, required_requests

CONTROLS = [{"name": "gameday-phases", "provider": {"type": "python", "module": "gameday.run.control"}}]
MAX_LOAD_S = 3000.0
PAGE_POLL_S = 0.25  # how often the page wait asks Prometheus (each ask bounded by 4x this): half the default
PAGE_NEAR_POLL_S = 0.05  # ... and from PAGE_POLL_S before the evaluation Prometheus will fire it at (activeAt + for:)
STOPPED_REASON = "not run: a stop condition ended the game day"
CROSS_CHECK_WAIT_S = 30.0  # the longest the report waits for Prometheus's cross-check of one window
DIAGNOSIS_MODES = ("strict", "advisory")  # strict: a wrong diagnosis or a misbehaving alert fails the experiment


@dataclass
class GameDayOptions:
    """What to run and how."""

    experiments: list[str] = field(default_factory=list)  # names or paths; empty: the whole catalogue
    users: int = 4
    baseline_s: float = 12.0
    verify_window_s: float = 8.0
    wait_for_alert: bool = True
    alert_timeout_s: float = 45.0
    reports_dir: Path | None = None
    live: bool = True
    stop_conditions: StopConditions | None = None  # default: the configuration's (settings.stop_conditions)
    lock_wait_s: float = 0.0  # wait this long for another game day on the target to finish (--wait)
    diagnosis: str = "strict"  # DIAGNOSIS_MODES: whether the diagnosis and the alert gate the verdict
    fail_on_regression: bool = False  # judge the run against its history (report "regression_gate", exit 4)


@dataclass
class GameDayResult:
    """The report written and the exit code."""

    report: dict[str, Any]
    out_dir: Path

    @property
    def exit_code(self) -> int:
        """0 only when every experiment recovered and verified (and, strict, was diagnosed right and paged as
        expected); 6 stopped by a stop condition; 130 (SIGINT) or 143 (SIGTERM) when interrupted; 1 failed; 4 when
        the regression gate (``fail_on_regression``) found a passed run slower than its history (README "Exit
        codes")."""
        status = self.report["status"]
        if status == "interrupted":
            return 143 if self.report.get("signal") == "SIGTERM" else 130
        gate = self.report.get("regression_gate") or {}
        return gate.get("exit_code") or {"passed": 0, "stopped": stops.EXIT_STOPPED}.get(status, 1)


def preflight(target: Target, settings: Settings) -> Ledger:
    """Everything checked before any fault: reachable, allowlisted, ledger empty, steady state met."""
    guard(target)
    target.reachable()
    ledger = ledger_for(settings)  # kubernetes: in the cluster, where any machine can undo it
    ledger.ensure_empty()
    if not target.wait_healthy(timeout=20):
        not_ready = [r.name for r in target.replicas() if not r.ready]
        raise GamedayError(f"system not healthy before the game day (not ready: {', '.join(not_ready) or 'service'})")
    return ledger


class GameDay:
    """Runs the catalogue against one target and writes ``reports/<timestamp>/``."""

    def __init__(self, settings: Settings, options: GameDayOptions, target: Target | None = None) -> None:
        self.settings = settings
        self.options = options
        self.target = target or get_target(settings)
        if options.diagnosis not in DIAGNOSIS_MODES:
            raise UsageError(f"--diagnosis {options.diagnosis!r}: expected {' or '.join(DIAGNOSIS_MODES)}")
        self.entries = catalogue(options.experiments or None, settings.service, self.target.identity().get("kind"))
        # whether each experiment's fault must page: a lasting full outage (a short kill burst is a blip the
        # alert's `for:` rides out)
        self.alert_expected = {e.name: expected_to_fire(e.fault, e.params, settings.service)
                               for e in self.entries if not e.skip}
        # experiments that do not apply to this service on this target: reported with the reason, not run
        self.skipped = [{"name": e.name, "title": e.title, "fault": e.fault, "reason": e.skip}
                        for e in self.entries if e.skip]
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.out_dir = new_report_dir(Path(options.reports_dir or settings.reports_dir), stamp)
        self.run_id = f"{stamp}-{uuid.uuid4().hex[:6]}"
        set_run_id(self.run_id)  # the owner every ledger entry of this run names
        self.notifier = Notifier()
        self.results: list[dict[str, Any]] = []
        self.load: LoadRun | None = None
        self.prober: probing.Prober | None = None
        self.baseline: LoadWindow | None = None
        # Prometheus's cross-check of each verification window: no verdict depends on it, so the next experiment
        # does not wait for it; its figures join the experiment's result before the report is written
        self._cross_checks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cross-check")
        self._pending_checks: list[tuple[dict[str, Any], Future[dict[str, Any] | None]]] = []
        self._cross_check: Future[dict[str, Any] | None] | None = None
        self._window_bounds: dict[str, float | None] | None = None  # the last verification window's whole seconds
        self.started_at = time.time()
        self.stop_conditions = options.stop_conditions or settings.stop_conditions
        self.watcher: stops.Watcher | None = None
        self.stopped: list[stops.Fired] = []
        self.signal: str | None = None
        self.ledger: Ledger | None = None
        self._ending = threading.Event()
        self._pages: dict[str, pages.Page] = {}  # experiment -> its page, until resolved
        self._tracks: list[ExperimentTrack] = []
        self._halt: dict[str, Any] | None = None  # the halt record, once a SIGTERM came from 'gameday halt'

    # --- the run -----------------------------------------------------------------------------
    def run(self) -> GameDayResult:
        """The whole game day, holding the target's lock; interruptions still undo the faults and write a report."""
        # an interrupt Python drops (its handler ran in a finalizer) stays pending: the safe points raise it again
        with game_day_lock(self.settings, self.options.lock_wait_s, on_halt=self._halted_elsewhere) as lock, \
                interrupts.kept():
            if lock.note:
                print(f"gameday: {lock.note}", file=sys.stderr, flush=True)
            return self._run()

    def _run(self) -> GameDayResult:
        ledger = self.ledger = preflight(self.target, self.settings)
        names = [e.name for e in self.entries]
        probed = [self.settings.service.service.health_path] + [
            x for e in self.settings.service.probe_endpoints() for x in (e.name, e.path)]
        stops.validate(self.stop_conditions, names, self.target.prometheus_url(), probed)
        status, message = "passed", ""
        progress = Progress(len(self.entries), self._timeline, live=self.options.live)
        try:
            self._start_background()
            with progress:
                self._measure_baseline()
                for index, entry in enumerate(self.entries, 1):
                    if entry.skip:
                        progress.finished(entry.name, "SKIPPED", f"({entry.skip})")
                        continue
                    progress.update(index=index, name=entry.name, phase="starting")
                    interrupts.checkpoint()  # between experiments
                    result = self._run_experiment(entry, progress)
                    self.results.append(result)
                    detail = f"detect {_s(result['time_to_detect_s'])}, recover {_s(result['time_to_recover_s'])}"
                    progress.finished(entry.name, result["status"], detail)
                    if result["status"] == "aborted" and not self.stop_conditions.continue_after_stop:
                        self._skip_rest()
                        break
                    if result["status"] == "interrupted":
                        status, message = "interrupted", result["message"]
                        self.signal = result.get("signal")
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
                if self.watcher:
                    self.watcher.stop()
                self._end_load_soon()
                for track in self._tracks:  # a trigger on its way is sent before its resolve (bounded)
                    track.join_hooks(timeout=2)
                why = self._why(self.signal) if status == "interrupted" else "ended"
                undone = undo_entries(ledger, [e for e in ledger.own() if e.kind == "fault"])
                for name in list(self._pages) if not undone.failed else []:  # after the faults, all undone
                    self._note(name, self._withdraw_page(name, why))
                self._stop_background()
                rest = undo_entries(ledger, ledger.own(), why=why)  # the load; pages this run could not resolve
                undone.undone += rest.undone
                undone.failed += rest.failed
            ledger_clean = not undone.failed
        if self._halt is not None and status == "interrupted":
            message = f"halted {describe(self._halt)}: load stopped, faults undone, partial report"
        if self.stopped and status == "passed":
            status = "stopped"
            message = "; ".join(f.line() + (f" in {f.experiment}" if f.experiment else "") for f in self.stopped)
            stopped_skips = [e["name"] for e in self.skipped if e["reason"] == STOPPED_REASON]
            if stopped_skips:
                message += f"; skipped: {', '.join(stopped_skips)}"
        if status == "passed" and any(r["status"] != "passed" for r in self.results):
            status = "failed"
            message = "failed: " + ", ".join(r["name"] for r in self.results if r["status"] != "passed")
        faults_undone = [u for u in undone.undone if not u.startswith(LOAD_FAULT)]
        if faults_undone:
            message = (message + f"; undone after the run: {len(faults_undone)} fault(s)").lstrip("; ")
        if self.results:
            message = (message + "; " + self._judgement()).lstrip("; ")
        blind = self.watcher.blind() if self.watcher else []
        if blind:  # a guard that could not see is said beside the verdict it did not watch over
            message += "; " + blind_line(blind)
        self._collect_cross_checks(0.0 if status == "interrupted" else CROSS_CHECK_WAIT_S)
        return GameDayResult(self._write(status, message, ledger_clean, blind), self.out_dir)

    def _collect_cross_checks(self, wait_s: float) -> None:
        """Each experiment's Prometheus cross-check into its result: asked while the run went on, waited for at most
        ``wait_s`` each (none once the run was interrupted); a Ctrl-C here ends the wait, not the report."""
        try:
            for scored, pending in self._pending_checks:
                try:
                    scored["prometheus_cross_check"] = pending.result(timeout=wait_s)
                except FutureTimeout:
                    why = f"no answer within {wait_s:g}s" if wait_s else "not waited for: the run was interrupted"
                    scored["prometheus_cross_check"] = {"error": why}
                except Exception as exc:  # a figure beside the verdicts: its failure is reported, not the run's end
                    scored["prometheus_cross_check"] = {"error": f"{type(exc).__name__}: {exc}"}
        except KeyboardInterrupt:
            for scored, pending in self._pending_checks:
                if not pending.done():
                    scored["prometheus_cross_check"] = {"error": "not waited for: the run was interrupted"}
        finally:
            self._cross_checks.shutdown(wait=False, cancel_futures=True)

    def _skip_rest(self) -> None:
        """A stop condition ended the run: the experiments not run yet are reported as skipped, with why."""
        done = {r["name"] for r in self.results} | {e["name"] for e in self.skipped}
        self.skipped += [{"name": e.name, "title": e.title, "fault": e.fault, "reason": STOPPED_REASON}
                         for e in self.entries if e.name not in done]

    def _timeline(self) -> Timeline:
        return self.load.timeline() if self.load else Timeline()

    def _start_background(self) -> None:
        base = self.target.base_url()
        estimate = self.options.baseline_s + 150.0 * len(self.entries) + 60.0
        spec = LoadSpec(
            host=base,
            users=self.options.users,
            duration_s=min(MAX_LOAD_S, estimate),
            out_dir=self.out_dir / "load",
            wait=background_wait(self.settings, self.options.users, self.options.verify_window_s),
            request_timeout_s=self.target.answer_timeout_s(),  # beyond the load balancer's: its 504 is seen
            profile=self.settings.service.source,
        )
        self.load = LoadRun(spec).start()
        if self.ledger is not None:  # a SIGKILLed run's locust is ended by 'gameday abort' / 'halt'
            self.ledger.add(load_entry([p.pid for p in self.load.procs], self.target.identity()))
        self.prober = probing.Prober.for_profile(self.settings.service, base).start()
        signals = stops.Signals(self._outage_now, self.prober.snapshot, self.target.prometheus_url())
        self.watcher = stops.Watcher(self.stop_conditions, signals, self._on_stop).start()

    def _outage_now(self) -> tuple[str | None, float | None, float | None]:
        """The running experiment, when its outage started (probes) and ended, for the stop conditions."""
        track = current_track()
        if track is None:
            return None, None, None
        return track.name, track.detected_at, track.recovered_at

    def _on_stop(self, fired: stops.Fired) -> None:
        """A stop condition fired (watcher thread): undo this run's faults now, stop the load, interrupt."""
        if self._ending.is_set() or self.ledger is None:
            return
        mine = [e for e in self.ledger.own() if e.kind == "fault"]
        fired.undone = undo_entries(self.ledger, mine).lines()
        fired.undone_at = time.time()
        self.stopped.append(fired)
        print(f"gameday: stop condition fired: {fired.line()}; this run's faults undone", file=sys.stderr,
              flush=True)
        if not self.stop_conditions.continue_after_stop:
            self._end_load_soon()
        if not self._ending.is_set():
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)  # the experiment's rollbacks run

    def _end_load_soon(self) -> None:
        """Ask locust to end now: it writes its stats while the run resolves and scores; stop() collects them."""
        for proc in self.load.procs[:1] if self.load else []:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)

    def _stop_background(self) -> None:
        if self.prober:
            self.prober.stop()
        if self.load:
            self.load.stop()

    def _measure_baseline(self) -> None:
        start = time.time()
        deadline = time.monotonic() + self.options.baseline_s + 30
        while time.monotonic() < deadline:
            window = self._timeline().window(start + 1, time.time())
            if window.duration >= self.options.baseline_s and window.requests:
                self.baseline = LoadWindow.from_timeline(window)
                return
            interrupts.pause(0.5)  # poll (a safe point)
        raise GamedayError("no load measured during the baseline window: locust did not reach the service")

    # --- one experiment ----------------------------------------------------------------------
    def _run_experiment(self, entry: CatalogueEntry, progress: Progress) -> dict[str, Any]:
        track = ExperimentTrack(entry.name, entry.fault, entry.params, entry.expects_outage)
        diagnosis: dict[str, Any] = {}
        notes: list[dict[str, Any]] = []
        track.pre_resolution += [self._wait_for_page, lambda t: diagnosis.update(self._diagnose(t))]
        track.on_detected.append(lambda t: notes.extend(self._notify_outage(t)))
        track.on_recovered.append(lambda t: notes.extend(self._notify_recovered(t)))
        assert self.prober is not None
        self.prober.listeners = [track.observe]
        set_current(track)
        self._tracks.append(track)
        stop_following = threading.Event()
        follower = threading.Thread(target=self._follow, args=(progress, track, stop_following), daemon=True)
        follower.start()
        try:
            result = runner.run(str(entry.path), journal_path=self.out_dir / "journals" / f"{entry.name}.json",
                                settings=self.settings, controls=CONTROLS)
        finally:
            set_current(None)
            stop_following.set()
            follower.join(1)
            self.prober.listeners = []
        if track.detected_at and not track.recovered_at and not result.interrupted_by:
            track.recovered_at = time.time()  # never leave an incident open at PagerDuty
            notes.extend(self._notify_recovered(track))
        fired = next((f for f in self.stopped if f.experiment == entry.name), None)
        if result.interrupted_by and fired is None:  # SIGINT, SIGTERM, a halt: the game day ends here
            self._end_load_soon()
        track.join_hooks(timeout=20)
        if track.name in self._pages and not result.left_in_ledger:  # ended before recovery, its faults undone
            notes.extend(self._withdraw_page(track.name, "stopped by a stop condition" if fired
                                             else self._why(result.interrupted_by)))
        finished = time.time()
        progress.update(phase="verification checklist")
        self._cross_check = self._window_bounds = None
        # the window opens when the method proved recovery (wait until healthy): the steady state after and the
        # rollbacks run inside it, under the same load, instead of before it
        window_start = min(track.method_ended_at or finished, finished)
        checklist, verified_at, alert = ([], None, None)
        if not result.interrupted_by:  # the alert's times are asked for beside the checklist, not after it
            checklist, verified_at, alert = self._verify(
                window_start, finished, lambda: self._alert(track, track.injected_at, self._detected(track), False))
        scored = self._score(entry, track, result, checklist, verified_at, diagnosis, notes, alert)
        if self._cross_check is not None:
            self._pending_checks.append((scored, self._cross_check))
        scored["signal"] = result.interrupted_by
        if fired is not None:  # ended by a stop condition, not by a person
            scored.update(status="aborted", message=fired.line(), stop=fired.to_dict(), signal=None)
        return scored

    @staticmethod
    def _follow(progress: Progress, track: ExperimentTrack, stop: threading.Event) -> None:
        while not stop.wait(0.25):
            progress.update(phase=track.phase)

    def _wait_for_page(self, track: ExperimentTrack) -> None:
        """Like the on-call engineer: act once the endpoint-down alert has paged (bounded), if it is expected to."""
        prom = self.target.prometheus_url()
        if not (self.options.wait_for_alert and prom and self.alert_expected.get(track.name, track.expects_outage)):
            return
        alert_name = self.settings.service.alerts.endpoint_down
        track.phase = f"waiting for {alert_name}"
        remaining = self.options.alert_timeout_s - (time.time() - (track.injected_at or time.time()))
        if remaining > 0:
            with contextlib.suppress(TimeoutError, alerts.PrometheusError):
                page = alerts.wait_for_firing(prom, alert_name, timeout=remaining, interval=PAGE_POLL_S,
                                              near=PAGE_NEAR_POLL_S)
                track.alert_active_at = alerts.active_at(page)

    def _diagnose(self, track: ExperimentTrack) -> dict[str, Any]:
        started = time.time()
        found = diagnose(self.target, self.settings.service)
        expected = next(e.expected_verdict for e in self.entries if e.name == track.name)
        verdict = found.verdict.to_dict()
        return {
            "at": started,
            "verdict": verdict.get("key"),
            "summary": verdict.get("summary") or verdict.get("title"),
            "expected": expected,
            "correct": verdict.get("key") == expected,
            "command": "; ".join(found.resolution.commands) or "; ".join(found.resolution.steps),
            "duration_s": round(time.time() - started, 2),
        }

    def _page(self, track: ExperimentTrack) -> pages.Page:
        return pages.Page(f"gameday-{self.run_id}-{track.name}", self.settings.service.service.name, track.name,
                          self.target.name)

    def _notify_outage(self, track: ExperimentTrack) -> list[dict[str, Any]]:
        """The stakeholder notice and the page (recorded in the ledger first: whatever ends the run resolves it)."""
        at = track.detected_at or time.time()
        page = self._pages[track.name] = self._page(track)
        summary = f"{messages.SUBJECT}: {page.service} down ({track.name})"
        assert self.ledger is not None
        sent = [self.notifier.notice(messages.stakeholder_notice(page.service, track.name, at)),
                *pages.trigger(self.notifier, self.ledger, self.target.identity(), page, summary, at,
                               {"experiment": track.name, "fault": track.fault})]
        return [n.__dict__ for n in sent]

    def _notify_recovered(self, track: ExperimentTrack) -> list[dict[str, Any]]:
        at = track.recovered_at or time.time()
        page = self._pages.pop(track.name, None) or self._page(track)
        text = f"Resolved: {page.service} back ({track.name}). {messages.RESOLVED_BODY}"
        assert self.ledger is not None
        return [n.__dict__ for n in pages.resolve(self.notifier, self.ledger, page, text, at)]

    def _withdraw_page(self, name: str, why: str) -> list[dict[str, Any]]:
        """Resolve the page of an experiment that ended before its service was back, unless a halt or an abort
        resolved it already."""
        page = self._pages.pop(name, None)
        if page is None or self.ledger is None or not pages.is_open(self.ledger, page):
            return []
        text = messages.withdrawn_text(page.service, name, why)
        return [n.__dict__ for n in pages.resolve(self.notifier, self.ledger, page, text, time.time())]

    def _note(self, name: str, notes: list[dict[str, Any]]) -> None:
        """Notifications sent after an experiment's result was scored belong to it too."""
        for result in self.results:
            if result["name"] == name:
                result["notifications"].extend(notes)

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

    def _verify(self, start: float, experiment_end: float, alongside: Callable[[], dict[str, Any] | None]
                ) -> tuple[list[dict[str, Any]], float | None, dict[str, Any] | None]:
        """The runbook's checklist over a load window after recovery, and what ``alongside`` returns (run beside
        the checklist once the window is complete: the alert's times, from Prometheus too).

        ``start``: when the method ended, its last action having proven recovery; the experiment's steady state
        after and rollbacks (ended at ``experiment_end``) run inside the window: its error rate and latency are
        the background load's, and a rollback that disturbed the service would show in them. The timeline counts
        requests by the wall-clock second they completed in, so the window is the whole seconds lying after
        ``start``: it begins at the next second boundary, and it is first looked at when ``verify_window_s`` of
        them can have been written (locust writes each second just after it ends), then every 0.1 s.
        """
        length = self.options.verify_window_s
        deadline = time.monotonic() + length + 30
        window = alone = LoadWindow.from_timeline(Timeline())
        ready = max(window_complete_at(start, length), window_complete_at(experiment_end, 1))
        interrupts.pause(max(0.0, ready - time.time()))
        while time.monotonic() < deadline:
            timeline = self._timeline().window(start, time.time())
            window = LoadWindow.from_timeline(timeline)
            # the window's seconds after the experiment ended (its steady-state burst too), when only the background
            # load ran: what the baseline was measured under, so the response time is judged on it (and Prometheus,
            # which counts every request HAProxy served, is cross-checked on it); at least one second of it, and
            # enough successful requests for a latency verdict, within the deadline
            alone = LoadWindow.from_timeline(timeline.window(experiment_end))
            if (window.duration_s >= length and alone.duration_s >= 1 and alone.successes >= MIN_LATENCY_SAMPLES
                    and decided(window, self.settings)):
                break  # long enough, and enough requests for the error-rate and latency verdicts at this rate
            interrupts.pause(0.1)  # poll (a safe point): the next second, or more requests for the error-rate verdict
        self._window_bounds = {"start": window.start, "end": window.end}
        measurements = Measurements(load=window, baseline=self.baseline, settled=alone)
        # Prometheus's numbers are not an item of the checklist: asked while it runs, collected by the report
        self._cross_check = self._cross_checks.submit(self._prometheus_cross_check, alone)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="alert") as pool:
            beside = pool.submit(alongside)
            verdicts = run_checklist(self.target, measurements, self.settings)
            passed_at = time.time() if all(v.status == Status.PASS for v in verdicts) else None
            found = beside.result()
        return [_verdict_dict(v) for v in verdicts], passed_at, found

    def _prometheus_cross_check(self, window: LoadWindow) -> dict[str, Any] | None:
        """The verification window's error rate and p95 against Prometheus' own numbers (HAProxy's counters), over
        the seconds of the window when only the background load ran (none: not cross-checked)."""
        prom = self.target.prometheus_url()
        if not prom or window.start is None or window.end is None or not window.requests:
            return None
        try:
            theirs = alerts.error_ratio_and_p95(prom, Selectors.of(self.settings.service), window.start,
                                                window.end + 1)
        except alerts.PrometheusError as exc:
            return {"error": str(exc)}
        ours_rate = window.failures / window.requests
        p95_prom_ms = theirs.p95_seconds * 1000 if theirs.p95_seconds is not None else None
        return {
            "gameday": {"error_rate": ours_rate, "p95_ms": window.p95_ms, "requests": window.requests},
            "prometheus": {"error_rate": theirs.error_ratio, "p95_ms": p95_prom_ms, "requests": theirs.lb_requests},
            "error_rate_difference_pp": None if theirs.error_ratio is None
            else round(100 * (ours_rate - theirs.error_ratio), 3),
        }

    def _score(
        self,
        entry: CatalogueEntry,
        track: ExperimentTrack,
        result: runner.RunResult,
        checklist: list[dict[str, Any]],
        verified_at: float | None,
        diagnosis: dict[str, Any],
        notes: list[dict[str, Any]],
        alert: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        assert self.prober is not None
        observations = self.prober.snapshot(track.started_at)
        injected = track.injected_at
        detected = self._detected(track)
        resolution = track.resolution_started_at
        recovered = probing.recovered_at(observations, resolution or detected or 0) if detected else None
        seen = symptoms.over_window(observations, injected or track.started_at, resolution or time.time())
        expected_symptoms = list(symptoms.OUTAGE) if entry.expects_outage else []
        outage_s = (recovered or time.time()) - detected if detected else None
        if alert is None:  # not asked beside the verification (cut short), or Prometheus has none
            alert = self._alert(track, injected, detected, cut_short=bool(result.interrupted_by))
        status, message = "passed", result.message
        problems = []
        judged = [] if result.interrupted_by else self._misjudged(diagnosis, alert)
        if result.interrupted_by:
            status = "interrupted"
        elif not result.ok:
            problems.append(result.message)
        if entry.expects_outage and not detected:
            problems.append("no outage seen by the probes")
        if not entry.expects_outage and detected:
            problems.append("an outage was seen although the service should keep serving (degraded)")
        if detected and not recovered:
            problems.append("the service did not come back")
        if not result.interrupted_by and verified_at is None:
            failed = [c["name"] for c in checklist if c["status"] != "pass"]
            problems.append(f"verification checklist failed: {', '.join(failed)}")
        gating = self.options.diagnosis == "strict"
        if gating:
            problems += judged
        if status != "interrupted" and problems:
            status, message = "failed", "; ".join(problems)
        if diagnosis:
            diagnosis["gating"] = gating
        return {
            "name": entry.name,
            "title": entry.title,
            "fault": entry.fault,
            "params": entry.params,
            "expects_outage": entry.expects_outage,
            "status": status,
            "message": message,
            "started_at": track.started_at,
            "finished_at": time.time(),
            "injected_at": injected,
            "fault_in_place_at": track.fault_in_place_at,
            "detected_at": detected,
            "resolution_started_at": resolution,
            "resolution_action": track.resolution_action,
            "recovered_at": recovered,
            "method_ended_at": track.method_ended_at,
            "verification_window": self._window_bounds,
            "verified_at": verified_at,
            "time_to_detect_s": delta(injected, detected),
            "time_to_recover_s": delta(injected, recovered),
            "time_to_verify_s": delta(injected, verified_at),
            "symptoms_expected": expected_symptoms,
            "symptoms_seen": seen,
            "checklist": checklist,
            "prometheus_cross_check": None,  # :meth:`_collect_cross_checks`
            "diagnosis": diagnosis or None,
            "alert": alert,
            "advisory": [] if gating else judged,  # what would have failed it under --diagnosis strict
            "escalation": {
                "outage_s": outage_s,
                "level": escalation.level(outage_s),
                "steps": [s.who for s in escalation.steps_reached(outage_s)],
            },
            "notifications": notes,
            "journal": str(result.journal_path),
            "notes": track.notes,
        }

    def _detected(self, track: ExperimentTrack) -> float | None:
        """When the prober first saw the experiment's outage (None: it saw none, or no fault went in)."""
        assert self.prober is not None
        injected = track.injected_at
        return probing.detected_at(self.prober.snapshot(track.started_at), injected) if injected else None

    def _alert(self, track: ExperimentTrack, injected: float | None, detected: float | None,
               cut_short: bool) -> dict[str, Any] | None:
        """When the endpoint-down alert fired and resolved (Prometheus and the receiver), against what was expected.

        ``as_expected`` is None ("not judged", with the reason in ``not_judged``) where the run cannot tell: it did
        not wait for an expected page (``--no-alert-wait``: the resolution may beat the alert's ``for:``), the
        experiment was cut short, Prometheus did not answer, or the alert was already firing when the fault went
        in (an earlier outage's)."""
        prom = self.target.prometheus_url()
        if not prom or injected is None:
            return None
        expected = self.alert_expected.get(track.name, track.expects_outage)
        receiver = self.target.received_alerts_file()
        try:
            times = alert_times(prom, Path(receiver) if receiver else None,
                                self.settings.service.alerts.endpoint_down, injected, time.time())
        except (alerts.PrometheusError, ValueError) as exc:
            return {"expected": expected, "error": str(exc), "as_expected": None,
                    "not_judged": f"Prometheus did not answer ({exc})"}
        fired = times.fired_at is not None
        not_judged = None
        if times.fired_at is not None and times.fired_at <= injected + 1.0:
            not_judged = "already firing when the fault went in"
        elif expected and not fired and cut_short:
            not_judged = "the experiment was cut short"
        elif expected and not fired and not self.options.wait_for_alert:
            not_judged = "the run did not wait for the alert (--no-alert-wait)"
        return {
            **times.as_dict(),
            # Prometheus's activeAt of the alert the run was paged by: when its expression first held (the
            # service's failure as the monitoring saw it); its `for:` counts from there
            "active_at": track.alert_active_at,
            "expected": expected,
            "time_to_fire_s": delta(injected, times.fired_at),
            "after_detection_s": delta(detected, times.fired_at),
            "as_expected": None if not_judged else fired == expected,
            "not_judged": not_judged,
            "waited_s": self.options.alert_timeout_s if self.options.wait_for_alert and expected else None,
        }

    def _misjudged(self, diagnosis: dict[str, Any], alert: dict[str, Any] | None) -> list[str]:
        """What the on-call engineer would have got wrong: the diagnosis, the page (fails it when strict)."""
        wrong = []
        if not diagnosis:
            wrong.append("no diagnosis was made")
        elif not diagnosis.get("correct"):
            wrong.append(f"diagnosis wrong: {diagnosis.get('verdict')}, expected {diagnosis.get('expected')}")
        name = self.settings.service.alerts.endpoint_down
        if alert and alert.get("as_expected") is False:
            wrong.append(f"{name} did not fire within {alert.get('waited_s') or self.options.alert_timeout_s:g}s"
                         if alert["expected"] else f"{name} fired although no outage was expected")
        return wrong

    def _judgement(self) -> str:
        """One line: the mode, the diagnoses right, the alerts as expected and those not judged (and why)."""
        diagnosed = [r["diagnosis"] for r in self.results if r.get("diagnosis")]
        right = sum(1 for d in diagnosed if d.get("correct"))
        judged = [r["alert"]["as_expected"] for r in self.results
                  if r.get("alert") and r["alert"].get("as_expected") is not None]
        why = [(r.get("alert") or {}).get("not_judged") or ("no Prometheus" if not self.target.prometheus_url()
                                                            else "the fault was not injected")
               for r in self.results if not r.get("alert") or r["alert"].get("as_expected") is None]
        line = (f"diagnosis {self.options.diagnosis}: {right}/{len(diagnosed)} diagnoses right, alerts "
                f"{sum(judged)}/{len(judged)} as expected")
        if why:
            line += f", {len(why)} not judged ({'; '.join(dict.fromkeys(why))})"
        advisory = [f"{r['name']}: {p}" for r in self.results for p in r.get("advisory", [])]
        if advisory:
            line += f"; advisory, not gating: {'; '.join(advisory)}"
        return line

    # --- the report --------------------------------------------------------------------------
    def _write(self, status: str, message: str, ledger_clean: bool, blind: list[dict[str, Any]]) -> dict[str, Any]:
        from gameday.diagnose.scoring import confusion_matrix

        pairs = [(r["diagnosis"]["expected"], r["diagnosis"]["verdict"]) for r in self.results if r.get("diagnosis")]
        unsent = self.notifier.failed()
        if unsent:  # pages that could not be sent belong in the status line, not only in report.json
            message = (message + f"; {len(unsent)} notification(s) NOT sent: "
                       + ", ".join(n.describe() for n in unsent)).lstrip("; ")
        report = {
            "status": status,
            "message": message,
            "target": self.target.name,
            "base_url": self.target.base_url(),
            "started_at": self.started_at,
            "finished_at": time.time(),
            "wall_time_s": time.time() - self.started_at,
            "baseline": {
                "rps": self.baseline.rate_rps if self.baseline else None,
                "p95_ms": self.baseline.p95_ms if self.baseline else None,
                "error_rate": (self.baseline.failures / self.baseline.requests)
                if self.baseline and self.baseline.requests else None,
            },
            "experiments": self.results,
            "skipped": self.skipped,
            "stopped": [f.to_dict() for f in self.stopped],
            "guard_blind": blind,
            "diagnosis_mode": self.options.diagnosis,
            "signal": self.signal,
            "notifications_failed": [n.describe() for n in unsent],
            "confusion": confusion_matrix(pairs).to_dict() if pairs else None,
            "dry_run": self.notifier.dry_run,
            "ledger_clean": ledger_clean,
            "load": self.load.stop().to_dict() if self.load else None,
        }
        seconds = [_chart_second(s.to_json()) for s in self._timeline().seconds]
        remember_game_day(report, self.settings, self.target, self.out_dir)  # score, history, trends; never raises
        if self.options.fail_on_regression and status != "interrupted":
            report["regression_gate"] = self._regression_gate(report)
        write_report(report, seconds, self.out_dir)
        return report

    def _regression_gate(self, report: dict[str, Any]) -> dict[str, Any]:
        """The gate's lines and exit code, in the report: a gate that could not judge (too little history, a store
        that stopped answering) is read there too, not only on the console."""
        said: list[str] = []
        before = GameDayResult(report, self.out_dir).exit_code
        try:
            code = regression_gate(report, self.settings, before, said.append)
        except GamedayError as exc:  # the store was checked before the run; it failed since: one line, its code
            said.append(f"regression gate: could not judge the run: {exc}")
            code = before or exc.exit_code
        return {"lines": said, "exit_code": code}


def background_wait(settings: Settings, users: int, verify_window_s: float) -> tuple[float, float]:
    """Seconds each user of the background load waits between its tasks, from the profile.

    With ``verify.think_time`` the profile's ``load.think_time_s``, as its users wait (the verification then takes
    as long as deciding the error rate at that rate takes). Otherwise the users wait no longer than the profile's
    think time, and short enough that ``users`` of them start as many tasks as the error rate at the SLO needs
    answers (~381 at 1%, 95%) within the verification window: a task is one request or more (a journey's steps), so
    the window is decided when it is long enough, at a rate no higher than that needs (the machine's cores are the
    service's too). A service whose users think faster gets its own think time."""
    profile = settings.service
    low, high = profile.load.think_time_s
    if profile.verify.think_time:
        return low, high
    needed = required_requests(profile.slo.max_error_rate, settings.slo.confidence, 0.0)
    if not needed:
        return low, high
    mean = users * verify_window_s / needed  # seconds per task of one user
    return round(min(mean / 2, low), 4), round(min(mean * 1.5, high), 4)


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


def blind_line(blind: list[dict[str, Any]]) -> str:
    """``guard blind: promql up == 0 for 3.2s (Prometheus at ... unreachable (ConnectError))``, per condition."""
    total: dict[str, list[Any]] = {}
    for episode in blind:
        seen = total.setdefault(episode["condition"], [0.0, episode["cause"]])
        seen[0] += episode["seconds"]
    return "guard blind: " + "; ".join(f"{name} for {seconds:.1f}s ({cause})"
                                       for name, (seconds, cause) in total.items())


def _verdict_dict(v: Any) -> dict[str, Any]:
    data = v.to_dict()
    return {"name": data.get("name"), "status": str(data.get("status")), "detail": data.get("explanation", ""),
            "measured": data.get("measured", {})}


def _chart_second(s: dict[str, Any]) -> dict[str, Any]:
    return {"t": s["t"], "requests": s.get("requests", 0), "failures": s.get("failures", 0),
            "p95_ms": s.get("p95")}


def delta(start: float | None, end: float | None) -> float | None:
    """``end - start`` in seconds (2 decimals), or None when either is missing."""
    return round(end - start, 2) if start is not None and end is not None else None


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}s"


def new_report_dir(parent: Path, stamp: str) -> Path:
    """``parent/<stamp>``, or ``<stamp>-2``, ``-3`` ...: created here, so two runs never share a directory."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path.resolve()
    raise GamedayError(f"no free report directory for {stamp} under {parent}")
