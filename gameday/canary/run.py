"""``gameday canary VERSION``: the new release on a growing share of the replicas under load, each step judged from
the load balancer's per-server records, then promoted to every replica or rolled back.

Order, so that nothing is ever left half-done: every input (the load's users included) is checked before anything
changes (one line, exit 2); the ledger entry is written before the new revision is recorded; the rollback decision
is written to the entry before the rollback starts; the entry is removed only once every replica runs one release
again. Whatever ends the run early (an error, Ctrl-C, SIGTERM) rolls back on the way out from the entry, and a
second signal does not cut that rollback short (:mod:`gameday.canary.signals`); what a SIGKILL leaves is undone by
``gameday abort`` or the next canary.

The load is the profile's mix from a :class:`gameday.load.burst.Burst` (no think time, like the smoke gate's
window): steps decide in seconds. It runs for the whole canary, so each side always has traffic to measure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from gameday import interrupts
from gameday.canary import record
from gameday.canary.analysis import Decision, Side, StepVerdict, Tolerances, decide, load_statistics, unmeasured
from gameday.canary.signals import first_interrupts
from gameday.errors import UsageError
from gameday.ledger import Ledger, LedgerEntry
from gameday.load.burst import MAX_SECONDS, Burst
from gameday.profile import Profile
from gameday.targets.base import Target
from gameday.targets.canary import CanaryDriver, Served, Window
from gameday.targets.model import Revision, TargetError

POLL_S = 0.25
EXIT_PROMOTED, EXIT_NOT_PROMOTED = 0, 1


@dataclass(frozen=True)
class Plan:
    """What to roll out and how carefully."""

    version: str
    steps: tuple[int, ...] | None = None  # canary replicas at each step (default: 1 .. replicas - 1)
    tolerances: Tolerances = field(default_factory=Tolerances)
    step_timeout_s: float = 60.0  # an inconclusive step keeps measuring this long, then the canary is refused
    ready_timeout_s: float | None = None  # a replica of the new release must serve within this (default: the
    # target's start budget, CanaryDriver.ready_timeout)
    users: int | None = None  # the load's users (default: the profile's load.users)


@dataclass
class Step:
    """One step: how many replicas ran the new release, what each side served, the decision."""

    canary_replicas: int
    replicas: int
    started_at: float
    decided_at: float | None = None
    verdict: StepVerdict | None = None
    evaluations: int = 0
    first_canary_request_at: float | None = None
    error: str | None = None  # the step could not be measured (a replica of the new release never got ready)
    measurement_failures: int = 0  # evaluations whose counters could not be read (each one inconclusive)

    @property
    def decision(self) -> str:
        """promote, rollback or inconclusive (an unmeasurable step is a rollback)."""
        if self.error is not None:
            return str(Decision.ROLLBACK)
        return str(self.verdict.decision) if self.verdict is not None else str(Decision.INCONCLUSIVE)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        out = {k: v for k, v in asdict(self).items() if k != "verdict"}
        out["decision"] = self.decision
        out["share"] = round(self.canary_replicas / self.replicas, 3)
        out["verdict"] = self.verdict.to_dict() if self.verdict is not None else None
        return out


@dataclass
class CanaryReport:
    """The whole canary: steps, outcome, and the revision every replica runs afterwards."""

    target: str
    version: str
    previous: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    outcome: str = "running"  # promoted, rolled back, refused (inconclusive until the deadline), interrupted
    reason: str = ""
    after: dict[str, Any] | None = None
    served_new: list[str] = field(default_factory=list)  # every replica that ever ran the new release
    started_at: float = field(default_factory=time.time)
    elapsed_s: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 only when promoted."""
        return EXIT_PROMOTED if self.outcome == "promoted" else EXIT_NOT_PROMOTED

    @property
    def decision_s(self) -> float | None:
        """From the canary's first request to the final decision (what ``make bench`` measures)."""
        first = next((s.first_canary_request_at for s in self.steps if s.first_canary_request_at), None)
        last = self.steps[-1].decided_at if self.steps else None
        return round(last - first, 3) if first is not None and last is not None else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {"target": self.target, "version": self.version, "previous": self.previous,
                "outcome": self.outcome, "reason": self.reason, "after": self.after,
                "served_new": self.served_new, "decision_s": self.decision_s, "elapsed_s": round(self.elapsed_s, 2),
                "exit_code": self.exit_code, "steps": [s.to_dict() for s in self.steps]}


def parse_steps(text: str) -> tuple[int, ...]:
    """``1,2`` -> (1, 2); one line when it is not a list of whole numbers."""
    try:
        steps = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--steps {text!r}: expected canary replica counts, e.g. 1,2") from None
    if not steps:
        raise UsageError(f"--steps {text!r}: expected canary replica counts, e.g. 1,2")
    return steps


def check_steps(steps: tuple[int, ...] | None, replicas: int) -> tuple[int, ...]:
    """Canary replica counts, increasing, each leaving at least one primary replica to compare with."""
    if replicas < 2:
        raise UsageError(f"a canary needs at least 2 replicas to compare (the service runs {replicas})")
    if steps is None:
        return tuple(range(1, replicas))
    if any(not 1 <= s < replicas for s in steps) or list(steps) != sorted(set(steps)):
        raise UsageError(f"--steps {','.join(map(str, steps))}: expected increasing canary replica counts from 1 "
                         f"to {replicas - 1} (each step needs primary replicas to compare with; the service "
                         f"runs {replicas})")
    return steps


def refuse_if_running(ledger: Ledger) -> None:
    """One line (exit 2) when the ledger names a canary whose process still runs it."""
    for found in record.canaries(ledger):
        if record.running(found):
            raise UsageError(f"a canary is already in progress: {found.describe()} (pid {found.owner_pid})")


def check_inputs(plan: Plan, target: Target, driver: CanaryDriver, ledger: Ledger) -> tuple[int, ...]:
    """Everything that makes a canary refuse before it changes anything (UsageError, exit 2)."""
    if why := driver.unmeasurable():
        raise UsageError(f"no canary on this target: {why}; use 'gameday smoke' after the rollout")
    steps = check_steps(plan.steps, driver.replica_count())
    ready = plan.ready_timeout_s
    if not 1 <= plan.step_timeout_s <= 600 or (ready is not None and not 1 <= ready <= 600):
        raise UsageError("step and ready timeouts must be 1-600 s")
    known = driver.known_versions()
    if plan.version not in known:
        raise UsageError(f"unknown version {plan.version!r}: expected one of {', '.join(sorted(known))} "
                         "(the profile's releases and the rollout history)")
    current = target.current_revision()
    if current is not None and current.version == plan.version:
        raise UsageError(f"{plan.version} is the running version (revision {current.number}): nothing to canary")
    refuse_if_running(ledger)
    if leftover := driver.in_progress():
        raise UsageError(f"a canary is already in progress on the target: {leftover}; 'gameday abort' undoes it")
    return steps


def undo_left_behind(ledger: Ledger, target: Target, say: Callable[[str], None]) -> None:
    """Canaries whose process died: the previous revision back first ("the next run" undoes them)."""
    for found in record.canaries(ledger):
        record.undo(target, ledger, found)
        say(f"undone a canary left by an ended run: {found.describe()}")


def _side(s: Served) -> Side:
    return Side(s.requests, s.failures, s.latencies_ms, s.restarts)


def measure_step(driver: CanaryDriver, window: Window, step: Step, tol: Tolerances, timeout: float,
                 running: Callable[[], bool]) -> None:
    """Measure the step from ``window`` until it is decided, or until ``timeout`` (then it stays inconclusive).

    A measurement that fails (the load balancer's records cannot be read) is inconclusive, never a promotion; the
    next one, which counts the whole window again, may still decide the step."""
    deadline = time.monotonic() + timeout
    while True:
        interrupts.pause(POLL_S)  # let traffic arrive (a safe point: a lost Ctrl-C lands here)
        step.evaluations += 1
        try:
            canary, primary = driver.served(window)
        except Exception as exc:  # no data is never success (module docstring of canary.analysis)
            step.measurement_failures += 1
            step.verdict = unmeasured(f"measurement failed: {type(exc).__name__}: {exc}")
        else:
            if step.first_canary_request_at is None:
                step.first_canary_request_at = canary.first_at
            step.verdict = decide(_side(canary), _side(primary), tol)
        step.decided_at = time.time()
        if step.verdict.decision is not Decision.INCONCLUSIVE or time.monotonic() > deadline or not running():
            return


def run_canary(target: Target, profile: Profile, ledger: Ledger, plan: Plan,
               say: Callable[[str], None] = lambda _: None) -> CanaryReport:
    """The canary from first check to promotion or rollback; the report says what happened at each step."""
    target.reachable()
    driver = target.canary()
    undo_left_behind_first = [e for e in record.canaries(ledger) if not record.running(e)]
    steps = check_inputs(plan, target, driver, ledger)
    ready = plan.ready_timeout_s if plan.ready_timeout_s is not None else driver.ready_timeout()
    plan = replace(plan, ready_timeout_s=ready)  # from here on, the replicas' start budget is the plan's
    replicas = driver.replica_count()
    bound = min(MAX_SECONDS, len(steps) * (ready + plan.step_timeout_s + 5))
    load = Burst(profile, target.base_url(), plan.users, max_requests=100_000, max_seconds=bound)  # checks users
    if any(e.kind != record.CANARY and e.owner_pid != os.getpid() for e in ledger.entries()):
        ledger.ensure_empty()  # faults of another run: refuse (gameday abort first) before undoing anything
    if undo_left_behind_first:
        undo_left_behind(ledger, target, say)
    load_statistics()
    current = target.current_revision()
    report = CanaryReport(target.name, plan.version,
                          {"revision": current.number, "version": current.version} if current else {})
    started = time.monotonic()
    with first_interrupts() as signals:  # a second Ctrl-C must not cut the rollback of the first short
        try:
            _canary(target, driver, ledger, plan, steps, replicas, load, report, say)
        except BaseException:
            signals.hold()  # nor a first one the rollback after an error
            report.outcome = "interrupted"
            _roll_back_own(driver, ledger, ready, say)
            raise
        finally:
            report.elapsed_s = time.monotonic() - started
    return report


def _canary(target: Target, driver: CanaryDriver, ledger: Ledger, plan: Plan, steps: tuple[int, ...], replicas: int,
            load: Burst, report: CanaryReport, say: Callable[[str], None]) -> None:
    """The steps under load, then promotion or rollback. The ledger entry, with what undoes the canary, is written
    before the first change; it is removed as the last thing, once every replica runs one release again."""
    entry = ledger.add(record.entry(target, plan.version, driver.saved()))
    ledger.applying(entry.id)
    new = driver.begin(plan.version, f"gameday canary {plan.version}")
    say(f"canary of {plan.version} (revision {new.number}) against revision {report.previous.get('revision')} "
        f"({report.previous.get('version')}), steps {', '.join(f'{s}/{replicas}' for s in steps)}")
    with load:
        for count in steps:
            interrupts.checkpoint()  # between steps: no replica switches after an interrupt Python lost
            step = Step(count, replicas, time.time())
            report.steps.append(step)
            window = driver.mark()  # before the switch: the new replica's very first request counts
            try:
                driver.set_canary_replicas(count, plan.ready_timeout_s)
            except TargetError as exc:
                step.error, step.decided_at = str(exc), time.time()
                break
            measure_step(driver, window, step, plan.tolerances, plan.step_timeout_s, load.running)
            if step.decision != Decision.PROMOTE:
                break
    report.served_new = driver.served_new()
    last = report.steps[-1]
    if last.decision == Decision.PROMOTE and len(report.steps) == len(steps):
        report.outcome, report.reason = "promoted", "every step promoted"
        report.after = _revision(driver.promote(plan.ready_timeout_s))
    else:
        report.outcome = "rolled back" if last.decision == Decision.ROLLBACK else "refused"
        report.reason = last.error or (
            "; ".join(last.verdict.reasons) if last.verdict is not None else "not measured")
        if report.outcome == "refused":
            report.reason = f"inconclusive after {plan.step_timeout_s:.0f}s: {report.reason}"
        ledger.update(entry.id, state="rolling-back", params={"version": plan.version, "decision": report.outcome})
        report.after = _revision(driver.rollback(plan.ready_timeout_s))
    report.served_new = driver.served_new()
    ledger.remove(entry.id)


def own_canaries(ledger: Ledger) -> list[LedgerEntry]:
    """The canary entries this process wrote and has not removed: what an interruption left to undo."""
    return [e for e in record.canaries(ledger) if e.owner_pid == os.getpid()]


def _roll_back_own(driver: CanaryDriver, ledger: Ledger, timeout: float, say: Callable[[str], None]) -> None:
    """Undo this process's canary from its ledger entry, whatever the interruption cut short (the entry may even
    have been written an instant before the signal, unseen by the code that wrote it)."""
    for found in own_canaries(ledger):
        try:
            ledger.update(found.id, state="rolling-back")
            driver.undo(found.undo, timeout)
            ledger.remove(found.id)
        except Exception as exc:  # the entry stays: gameday abort finishes the undo
            say(f"rollback after the interruption failed ({exc}); run 'gameday abort'")


def _revision(rev: Revision) -> dict[str, Any]:
    return {"revision": rev.number, "version": rev.version}


def step_line(step: Step) -> str:
    """One line per step for people: share, both sides' error rates and latency, the decision."""
    v = step.verdict
    head = f"step {step.canary_replicas}/{step.replicas}"
    if step.error is not None:
        return f"{head}: {step.error} -> rollback"
    if v is None or not v.canary:
        return f"{head}: {'; '.join(v.reasons) if v else 'not measured'} -> {step.decision}"

    def side(name: str, s: dict[str, Any]) -> str:
        ms = " / ".join(f"{q} {'-' if s[f'{q}_ms'] is None else s[f'{q}_ms']}" for q in ("p50", "p95", "p99"))
        restarted = f", {s['restarts']} restarts" if s.get("restarts") else ""
        return f"{name} {s['requests']} req, {s['error_rate']:.2%} errors{restarted}, {ms} ms"

    return f"{head}: {side('canary', v.canary)}; {side('primary', v.primary)} -> {step.decision}"
