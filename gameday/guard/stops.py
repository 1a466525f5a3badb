"""Stop conditions: a game day that stops itself, like AWS FIS stop conditions or Chaos Mesh's status checks.

Conditions come from configuration (``stop_conditions`` in the YAML file, :class:`gameday.config.StopConditions`)
and from ``gameday run --stop-on SPEC`` (repeatable; parsed by :mod:`gameday.guard.specs`). A SPEC is
``[EXPERIMENT/]KIND:ARGS``:

- ``outage:120s`` - an outage (seen by the probes) lasts longer than this;
- ``promql:EXPR [for 10s] [at URL]`` - the PromQL expression returns any sample for that long
  (default: the target's Prometheus);
- ``http:URL [for 2s]`` - GET URL fails (non-2xx, refused, slower than 1 s) for that long;
- ``blast:PATH>RATE [for 5s]`` - more than RATE (``5%`` or ``0.05``) of the probes of PATH (a probed path or
  endpoint name of the profile) failed in the last 5 s: traffic the experiment should not affect.

A promql, http or blast SPEC may end in ``on-error continue`` (YAML: ``on_error: continue``). Guardrails fail closed:
a condition that cannot be evaluated (its Prometheus or URL does not answer, the query is refused, the check
raises) holds, and stops the run after its ``for``, naming the cause; with ``on-error continue`` it is ignored
while blind (the old behaviour), and the console and the report say for how long the guard was blind.

Every condition is checked before anything is injected (the PromQL is run once, the URL must answer, the
experiment must be in the run). During the run a watcher thread evaluates them every 0.25 s; when one
fires it undoes this run's faults through the ledger at once, then lets the session stop the load and
interrupt the experiment.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import httpx

from gameday import tls
from gameday.alerts import client as prometheus
from gameday.config import (
    BlastRadiusCondition,
    ConditionSet,
    HttpCondition,
    PromqlCondition,
    StopConditions,
)
from gameday.errors import UsageError
from gameday.guard.specs import ON_ERROR, duration, parse_spec, with_specs

__all__ = [
    "EXIT_STOPPED",
    "ON_ERROR",
    "Blind",
    "Fired",
    "Signals",
    "Unevaluable",
    "Watcher",
    "describe",
    "duration",
    "parse_spec",
    "validate",
    "with_specs",
]

EXIT_STOPPED = 6  # documented in README "Exit codes"
TICK_S = 0.25
MIN_BLAST_SAMPLES = 4


# ------------------------------------------------------------------------------------------- checking


def validate(conditions: StopConditions, experiments: list[str], prometheus_url: str | None,
             probed: list[str]) -> None:
    """Refuse (one line) any condition that cannot work, before anything is injected.

    ``probed``: the endpoint names and paths the prober watches (what a blast-radius condition can judge).
    """
    unknown = sorted(set(conditions.experiments) - set(experiments))
    if unknown:
        raise UsageError(f"stop condition for unknown experiment {unknown[0]!r}: this run has "
                         f"{', '.join(experiments) or 'no experiments'}")
    for scope in [conditions, *conditions.experiments.values()]:
        for p in scope.promql:
            url = p.url or prometheus_url
            if not url:
                raise UsageError(f"stop condition promql:{p.expr}: this target has no Prometheus; add 'at URL'")
            _check_url(url, f"promql:{p.expr}")
            try:
                prometheus.query(url, p.expr, timeout=5.0)
            except prometheus.PrometheusError as exc:
                raise UsageError(f"stop condition promql:{p.expr}: {exc}") from None
        for h in scope.http:
            _check_url(h.url, f"http:{h.url}")
            if not _http_ok(h):
                raise UsageError(f"stop condition http:{h.url}: already failing before the game day")
        for b in scope.blast_radius:
            if b.path not in probed:
                raise UsageError(f"stop condition blast:{b.path}: not probed during the game day; "
                                 f"expected one of {', '.join(probed)}")


def _check_url(url: str, what: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"stop condition {what}: bad URL {url!r} (expected http://HOST[:PORT]/...)")


def _http_ok(h: HttpCondition) -> bool:
    try:
        return httpx.get(h.url, timeout=h.timeout_s, verify=tls.context()).is_success
    except httpx.HTTPError:
        return False


def describe(conditions: StopConditions, experiment: str | None = None) -> list[str]:
    """The conditions in force (for one experiment, or the run's), one line each."""
    lines = []
    scopes = [("run", conditions)] + ([(experiment, conditions.experiments[experiment])]
                                      if experiment in conditions.experiments else [])
    for label, s in scopes:
        lines += [f"{label}: {c.label}" for c in _conditions(s, None)]
    if not conditions.continue_after_stop:
        lines.append("when one fires: faults undone, load stopped, remaining experiments skipped")
    return lines


# ------------------------------------------------------------------------------------------- the watcher


@dataclass
class Fired:
    """A condition that fired: which, its value, when it started to hold and when it fired."""

    condition: str
    value: str
    held_at: float  # when the condition (with its 'for') became true
    fired_at: float
    experiment: str | None
    undone_at: float | None = None
    undone: list[str] = field(default_factory=list)
    cause: str | None = None  # the condition could not be evaluated: why (it held because it was blind)

    def line(self) -> str:
        """``aborted: outage > 5s (value 5.3s at 17:02:03)``, or ``aborted: promql up == 0 could not be evaluated
        for 2.1s: Prometheus at http://... unreachable (ConnectError) (at 17:02:03)``."""
        at = datetime.fromtimestamp(self.fired_at).strftime("%H:%M:%S")
        if self.cause:
            return f"aborted: {self.condition} {self.cause} (at {at})"
        return f"aborted: {self.condition} (value {self.value} at {at})"

    def to_dict(self) -> dict[str, Any]:
        """For report.json."""
        return {"condition": self.condition, "value": self.value, "held_at": self.held_at,
                "fired_at": self.fired_at, "experiment": self.experiment, "undone_at": self.undone_at,
                "undone": self.undone, "cause": self.cause,
                "held_to_undone_s": round(self.undone_at - self.held_at, 3) if self.undone_at else None}


@dataclass
class Signals:
    """What the watcher reads of the running game day (all cheap, no side effects)."""

    experiment: Callable[[], tuple[str | None, float | None, float | None]]  # name, outage start, outage end
    observations: Callable[[float], list[Any]]  # prober observations since a time: .at, .path, .ok
    prometheus_url: str | None


class Unevaluable(Exception):
    """A check could not tell whether its condition holds (no answer, a refused query): the cause, for people."""


@dataclass
class Blind:
    """An episode during which a condition could not be evaluated (``until`` None: still blind)."""

    condition: str
    on_error: str
    since: float
    cause: str
    experiment: str | None
    until: float | None = None

    def seconds(self, now: float) -> float:
        """How long the guard was (or has been, by ``now``) blind."""
        return (self.until if self.until is not None else now) - self.since

    def to_dict(self, now: float) -> dict[str, Any]:
        """For report.json."""
        return {"condition": self.condition, "on_error": self.on_error, "since": self.since, "until": self.until,
                "seconds": round(self.seconds(now), 2), "cause": self.cause, "experiment": self.experiment}


@dataclass
class _Condition:
    label: str
    for_s: float
    check: Callable[[Signals, float], tuple[bool, str, float | None]]  # holds, value, since (None: now)
    on_error: str = "stop"
    held_since: float | None = None
    blind: Blind | None = None  # the episode in progress


def _outage(limit: float) -> Callable[[Signals, float], tuple[bool, str, float | None]]:
    def check(signals: Signals, now: float) -> tuple[bool, str, float | None]:
        _, start, end = signals.experiment()
        if start is None or end is not None:
            return False, "", None
        return now - start > limit, f"{now - start:.1f}s", start + limit
    return check


def _no_answer(what: str, exc: httpx.HTTPError, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"{what} did not answer within {timeout:g}s ({type(exc).__name__})"
    return f"{what} unreachable ({type(exc).__name__})"


def _promql(c: PromqlCondition) -> Callable[[Signals, float], tuple[bool, str, float | None]]:
    def check(signals: Signals, now: float) -> tuple[bool, str, float | None]:
        url = c.url or signals.prometheus_url
        try:
            result = prometheus.query(url or "", c.expr, timeout=1.0)
        except prometheus.PrometheusError as exc:  # no evidence either way: the guard is blind
            cause = exc.__cause__
            raise Unevaluable(_no_answer(f"Prometheus at {url}", cause, 1.0) if isinstance(cause, httpx.HTTPError)
                              else f"Prometheus at {url}: {exc}") from exc
        value = result[0]["value"][1] if result else ""
        return bool(result), value, None
    return check


def _http(c: HttpCondition) -> Callable[[Signals, float], tuple[bool, str, float | None]]:
    def check(signals: Signals, now: float) -> tuple[bool, str, float | None]:
        try:
            status = httpx.get(c.url, timeout=c.timeout_s, verify=tls.context()).status_code
        except httpx.HTTPError as exc:  # refused, reset, slower than the timeout: no answer to judge
            raise Unevaluable(_no_answer(c.url, exc, c.timeout_s)) from exc
        return not 200 <= status < 300, f"HTTP {status}", None
    return check


def _blast(c: BlastRadiusCondition) -> Callable[[Signals, float], tuple[bool, str, float | None]]:
    def check(signals: Signals, now: float) -> tuple[bool, str, float | None]:
        seen = [o for o in signals.observations(now - c.window_s) if c.path in (o.path, o.call.path)]
        if len(seen) < MIN_BLAST_SAMPLES:
            return False, "", None
        rate = sum(1 for o in seen if not o.ok) / len(seen)
        return rate > c.max_error_rate, f"{100 * rate:.0f}% of {len(seen)} probes failed", None
    return check


def _errors(on_error: str) -> str:
    return " on-error continue" if on_error == "continue" else ""


def _conditions(s: ConditionSet, outage_default: float | None) -> list[_Condition]:
    out = []
    limit = s.outage_s if s.outage_s is not None else outage_default
    if limit is not None:
        out.append(_Condition(f"outage > {limit:g}s", 0.0, _outage(limit)))
    out += [_Condition(f"promql {p.expr}" + (f" for {p.for_s:g}s" if p.for_s else "") +
                       (f" at {p.url}" if p.url else "") + _errors(p.on_error), p.for_s, _promql(p), p.on_error)
            for p in s.promql]
    out += [_Condition(f"http {h.url} failing" + (f" for {h.for_s:g}s" if h.for_s else "") + _errors(h.on_error),
                       h.for_s, _http(h), h.on_error) for h in s.http]
    out += [_Condition(f"blast radius {b.path} error rate > {100 * b.max_error_rate:g}% over {b.window_s:g}s"
                       + _errors(b.on_error), 0.0, _blast(b), b.on_error) for b in s.blast_radius]
    return out


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Watcher:
    """Evaluates the conditions in force every :data:`TICK_S` in a thread; calls ``on_fire`` once.

    A condition that cannot be evaluated fails closed: it holds (``on_error: stop``, the default) or is ignored
    (``continue``); either way each blind episode is said when it starts and ends (``say``) and kept (:meth:`blind`).
    """

    def __init__(self, conditions: StopConditions, signals: Signals, on_fire: Callable[[Fired], None],
                 say: Callable[[str], None] = _stderr) -> None:
        self.conditions = conditions
        self.signals = signals
        self.on_fire = on_fire
        self.say = say
        self.fired: Fired | None = None
        self.episodes: list[Blind] = []
        self._run = _conditions(conditions, None)
        self._per_experiment = {name: _conditions(s, None)
                                for name, s in conditions.experiments.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gameday-stop-conditions", daemon=True)

    def start(self) -> Watcher:
        """Start watching."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (waits for an ``on_fire`` in progress); a blind episode still open ends now."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(10)
        now = time.time()
        for episode in self.episodes:
            if episode.until is None:
                episode.until = now

    def blind(self, now: float | None = None) -> list[dict[str, Any]]:
        """Every episode during which a condition could not be evaluated, for the report."""
        at = time.time() if now is None else now
        return [e.to_dict(at) for e in self.episodes]

    def _in_force(self) -> list[_Condition]:
        name = self.signals.experiment()[0]
        scoped = self._per_experiment.get(name or "", [])
        if any(c.label.startswith("outage") for c in scoped):  # an experiment's outage limit replaces the run's
            return [c for c in self._run if not c.label.startswith("outage")] + scoped
        return self._run + scoped

    def _blindness(self, c: _Condition, cause: str | None, now: float) -> None:
        """Open or close the condition's blind episode, and say so."""
        if cause is not None and c.blind is None:
            c.blind = Blind(c.label, c.on_error, now, cause, self.signals.experiment()[0])
            self.episodes.append(c.blind)
            then = (f"it holds and stops the run after {c.for_s:g}s" if c.on_error == "stop"
                    else "on-error continue: the run goes on without this guard")
            self.say(f"gameday: warning: stop condition {c.label} cannot be evaluated: {cause}; {then}")
        elif cause is not None and c.blind is not None:
            c.blind.cause = cause  # the latest: a Prometheus shutting down first resets, then refuses
        elif cause is None and c.blind is not None:
            c.blind.until = now
            self.say(f"gameday: stop condition {c.label} evaluated again after {c.blind.seconds(now):.1f}s blind")
            c.blind = None

    def evaluate(self, now: float) -> Fired | None:
        """One pass: the first condition that holds long enough, or None."""
        for c in self._in_force():
            cause = None
            try:
                holds, value, since = c.check(self.signals, now)
            except Exception as exc:  # blind: a failing check is never taken for "all is well" unless asked
                cause = str(exc) if isinstance(exc, Unevaluable) else f"the check failed: {type(exc).__name__}: {exc}"
                holds, value, since = c.on_error == "stop", "", None
            self._blindness(c, cause, now)
            if not holds:
                c.held_since = None
                continue
            c.held_since = c.held_since or (since if since is not None else now)
            held_at = c.held_since if since is not None else c.held_since + c.for_s
            if now >= held_at:
                blind = (f"could not be evaluated for {c.blind.seconds(now):.1f}s: {c.blind.cause}"
                         if c.blind is not None else None)
                return Fired(c.label, value, held_at, now, self.signals.experiment()[0], cause=blind)
        return None

    def _loop(self) -> None:
        while not self._stop.wait(TICK_S):
            if self.fired is not None and self.signals.experiment()[0] == self.fired.experiment:
                continue  # continuing after a stop: the next experiment is watched afresh
            fired = self.evaluate(time.time())
            if fired is None:
                continue
            self.fired = fired
            self.on_fire(fired)
            if not self.conditions.continue_after_stop:
                return
            for c in [*self._run, *(c for cs in self._per_experiment.values() for c in cs)]:
                c.held_since = None
