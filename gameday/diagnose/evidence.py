"""Collect the runbook's diagnosis evidence (steps 1-3 and the pod logs) through the Target interface only.

Every call runs concurrently in a thread with its own deadline, so a hanging dependency, replica or
load balancer costs at most the budget: what did not answer in time is recorded as an error, not
waited for. Read-only: nothing here changes the target.

A dependency check that fails fast (refused, reset) is run again, up to :data:`CHECK_ATTEMPTS` times while the
budget leaves room for one more: one connection crossing a reset is no dependency down. Every attempt is kept
(:attr:`Evidence.dependency_attempts`), so the verdict can tell "answered 2 of 3" (flaky) from "answered none"
(down). A check that got no answer in time is not run again: a hang would only cost the budget once more.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from gameday.profile.dependency import CHECK_TIMEOUT_S
from gameday.targets.base import Target
from gameday.targets.model import (
    ConfigChange,
    DependencyCheck,
    Endpoint,
    Event,
    LoadBalancer,
    Replica,
    Revision,
    TargetError,
)

# the local launcher's echo of the command it started (targets/local/launch.py, which imports nothing of gameday):
# the platform's words about a start, not the service's output, so a command that names "timeout" or "crash" in
# its flags is no evidence of either
LAUNCHER_ECHO = "gameday launcher: $ "
# crash lines besides the runbook's patterns: label -> regular expression
CRASH_PATTERNS: dict[str, str] = {
    "FATAL": r"\bFATAL\b",
    "CRITICAL": r"\bCRITICAL\b",
    "Traceback": r"\bTraceback\b",
    "crash": r"(?i)\bcrash",
    "panic": r"(?i)\bpanic\b",
    "configuration error": r"(?i)\bconfiguration error\b",
}
CHECK_ATTEMPTS = 3  # a failed dependency check and its re-runs: enough to tell intermittent from down
# a step-3 dependency check that got no answer in time (the kinds' words: "no answer within 2.0s", "timed out"),
# as opposed to one refused or answered with an error: the dependency (or the path to it) hangs
_CHECK_TIMED_OUT = re.compile(r"(?i)(no answer within|timed out|\btimeout\b)")
DEFAULT_BUDGET = 7.0  # with the default timings: a 1 s readiness probe failing twice, a 2 s server timeout


@dataclass(frozen=True)
class LogMatch:
    """A log line that matches one of the runbook's patterns (or a crash pattern)."""

    replica: str
    pattern: str
    line: str


@dataclass(frozen=True)
class ApiAnswer:
    """One of the service's own endpoints called through the load balancer (step 1: does the API answer?)."""

    endpoint: str
    status: int | None  # None: no answer at all
    failed: bool  # 5xx or no answer


@dataclass
class Evidence:
    """Everything the runbook's steps 1-3 look at, as collected at one moment."""

    target: str
    collected_at: float
    duration_s: float = 0.0
    replicas: list[Replica] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    load_balancer: LoadBalancer | None = None
    history: list[Revision] = field(default_factory=list)
    config_changes: list[ConfigChange] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    dependencies: list[DependencyCheck] = field(default_factory=list)  # one per dependency: its attempts in one
    # every attempt of each dependency's check, in order (one when the first answered): what "answered 2 of 3" reads
    dependency_attempts: dict[str, list[DependencyCheck]] = field(default_factory=dict)
    api: list[ApiAnswer] = field(default_factory=list)
    log_matches: list[LogMatch] = field(default_factory=list)
    log_lines_read: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # source -> why it has no answer

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return asdict(self)

    def attempts(self, name: str) -> list[DependencyCheck]:
        """Every attempt of ``name``'s check (evidence recorded before attempts were kept: its one check)."""
        return self.dependency_attempts.get(name) or [c for c in self.dependencies if c.name == name]

    def answered(self, name: str) -> tuple[int, int]:
        """(how many attempts of ``name``'s check were answered, how many were made)."""
        tried = self.attempts(name)
        return sum(1 for c in tried if c.ok), len(tried)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        """Rebuild from :meth:`to_dict` (for replaying a diagnosis)."""
        lb = data.get("load_balancer")
        return cls(
            target=data["target"],
            collected_at=float(data["collected_at"]),
            duration_s=float(data.get("duration_s", 0.0)),
            replicas=[Replica(**r) for r in data.get("replicas", [])],
            endpoints=[Endpoint(**e) for e in data.get("endpoints", [])],
            load_balancer=LoadBalancer(**lb) if lb else None,
            history=[Revision(**r) for r in data.get("history", [])],
            config_changes=[ConfigChange(**c) for c in data.get("config_changes", [])],
            events=[Event(**e) for e in data.get("events", [])],
            dependencies=[DependencyCheck(**d) for d in data.get("dependencies", [])],
            dependency_attempts={name: [DependencyCheck(**d) for d in tried]
                                 for name, tried in data.get("dependency_attempts", {}).items()},
            api=[ApiAnswer(**a) for a in data.get("api", [])],
            log_matches=[LogMatch(**m) for m in data.get("log_matches", [])],
            log_lines_read=int(data.get("log_lines_read", 0)),
            errors=dict(data.get("errors", {})),
        )


_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:?\d\d)?\b")
LOG_WINDOW_S = 600.0


def line_time(line: str) -> float | None:
    """The epoch time of a log line that starts with an ISO-8601 timestamp (UTC when it has no offset)."""
    match = _TIMESTAMP.match(line)
    if not match:
        return None
    zone = match.group(2) or "Z"
    try:
        stamp = datetime.fromisoformat(match.group(1) + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def match_logs(
    replica: str, lines: list[str], patterns: list[str], since: float | None = None
) -> list[LogMatch]:
    """Lines containing a runbook pattern (case-insensitive) or a crash pattern (FATAL, Traceback ...).

    Lines that carry a timestamp older than ``since`` are left out (an old crash is not evidence now).
    """
    compiled = [(p, re.compile(re.escape(p), re.IGNORECASE)) for p in patterns]
    compiled += [(label, re.compile(rx)) for label, rx in CRASH_PATTERNS.items() if label not in patterns]
    out = []
    for line in lines:
        if line.startswith(LAUNCHER_ECHO):
            continue
        when = line_time(line) if since is not None else None
        if when is not None and since is not None and when < since:
            continue
        for pattern, regex in compiled:
            if regex.search(line):
                out.append(LogMatch(replica, pattern, line.strip()))
                break
    return out


def budget_for(target: Target, check_timeout: float = CHECK_TIMEOUT_S) -> float:
    """How long the evidence may take on ``target``: the default budget, plus how much later its platform's own
    timings let a symptom show (:meth:`Target.symptom_lag_s`: reading a hung replica costs its readiness probe's
    ``failure_threshold`` x ``timeout_s``, three 5 s probes on a heavy service), and never less than one API call's
    wait (:meth:`Target.answer_timeout_s`) and a dependency check. A budget shorter than the platform's own probes
    would read "no answer" where the platform was still answering, and the diagnosis would say "unknown"."""
    return max(DEFAULT_BUDGET + target.symptom_lag_s(), target.answer_timeout_s() + check_timeout)


def collect(
    target: Target,
    patterns: list[str],
    dependencies: Sequence[str],
    *,
    check_timeouts: Mapping[str, float] | None = None,
    budget: float = DEFAULT_BUDGET,
    log_tail: int = 100,
    event_limit: int = 30,
    api: Callable[[], list[ApiAnswer]] | None = None,
) -> Evidence:
    """Run steps 1-3 and the logs concurrently; give up on whatever has not answered within ``budget`` seconds.

    ``dependencies``: the names of the service's dependencies (its profile's), checked in that order, each waited
    for ``check_timeouts[name]`` (its profile's ``check_timeout_s``), else the default ``check_timeout_s``.
    ``api``: calls the service's endpoints through the load balancer (a release can pass every probe and still
    answer 5xx to every real request: only its API shows it).
    """
    started = time.monotonic()
    evidence = Evidence(target=target.name, collected_at=time.time())
    pool = ThreadPoolExecutor(max_workers=12, thread_name_prefix="diagnose")
    pending: dict[Future[Any], str] = {}

    def submit(source: str, fn: Any, *args: Any) -> None:
        pending[pool.submit(fn, *args)] = source

    submit("replicas", target.replicas)
    submit("endpoints", target.endpoints)
    submit("load_balancer", target.load_balancer)
    submit("history", target.history)
    submit("config_changes", target.config_changes)
    submit("events", target.events, event_limit)
    waits = {dep: (check_timeouts or {}).get(dep, CHECK_TIMEOUT_S) for dep in dependencies}
    for dep in dependencies:
        submit(f"dependency:{dep}", target.check_dependency, dep, waits[dep])
    if api is not None:
        submit("api", api)
    attempts: dict[str, list[DependencyCheck]] = {}
    deadline = started + budget
    try:
        while pending:
            done, _ = wait(list(pending), timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED)
            if not done:
                break
            for future in done:
                source = pending.pop(future)
                try:
                    value = future.result()
                except Exception as exc:  # a failed call is evidence too, never a crash of the diagnosis
                    evidence.errors[source] = _describe(exc)
                    continue
                if source.startswith("dependency:"):
                    name = source.split(":", 1)[1]
                    tried = attempts.setdefault(name, [])
                    tried.append(value)
                    if again(tried, deadline - time.monotonic(), waits[name]):
                        submit(source, target.check_dependency, name, waits[name])
                    continue
                _store(evidence, source, value, patterns)
                if source == "replicas":
                    for replica in value:
                        submit(f"logs:{replica.name}", target.logs, replica.name, log_tail)
        for source in pending.values():
            evidence.errors[source] = f"no answer within the {budget:.0f}s budget"
            if source.startswith("dependency:"):
                name = source.split(":", 1)[1]
                attempts.setdefault(name, []).append(
                    DependencyCheck(name, False, budget, f"check did not return within {budget:.0f}s"))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    evidence.dependency_attempts = {d: attempts[d] for d in dependencies if d in attempts}
    evidence.dependencies = [summarize(attempts[d]) for d in dependencies if d in attempts]
    evidence.duration_s = time.monotonic() - started
    return evidence


def check_timed_out(check: DependencyCheck) -> bool:
    """Whether a step-3 check failed by getting no answer in time (a hang), not by a refusal or an error."""
    return not check.ok and bool(_CHECK_TIMED_OUT.search(check.detail))


def again(tried: list[DependencyCheck], remaining_s: float, check_timeout: float) -> bool:
    """Whether to run a dependency's check once more: its first attempt failed fast (a refusal or a reset, not a
    hang), fewer than :data:`CHECK_ATTEMPTS` were made, the last one did not hang either, and the budget still
    holds a whole check (a re-run must never make the diagnosis late)."""
    return (not tried[0].ok and len(tried) < CHECK_ATTEMPTS and not check_timed_out(tried[-1])
            and remaining_s > check_timeout)


def summarize(tried: list[DependencyCheck]) -> DependencyCheck:
    """One check for a dependency from its attempts: answered when any attempt was (the first that was, with how
    many of them were: "answered 2 of 3 checks"), else the last failure with the count: "failed 3 of 3 checks"."""
    if len(tried) == 1:
        return tried[0]
    answered = [c for c in tried if c.ok]
    failures = [c for c in tried if not c.ok]
    if answered:
        first = answered[0]
        return replace(first, detail=f"{first.detail}; answered {len(answered)} of {len(tried)} checks "
                                     f"(failed: {failures[0].detail})")
    last = tried[-1]
    return replace(last, detail=f"{last.detail} (failed {len(tried)} of {len(tried)} checks)")


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, TargetError) else f"{type(exc).__name__}: {exc}"


def _store(evidence: Evidence, source: str, value: Any, patterns: list[str]) -> None:
    if source == "replicas":
        evidence.replicas = list(value)
    elif source == "endpoints":
        evidence.endpoints = list(value)
    elif source == "load_balancer":
        evidence.load_balancer = value
    elif source == "history":
        evidence.history = list(value)
    elif source == "config_changes":
        evidence.config_changes = list(value)
    elif source == "events":
        evidence.events = list(value)
    elif source == "api":
        evidence.api = list(value)
    elif source.startswith("logs:"):
        evidence.log_lines_read += len(value)
        since = evidence.collected_at - LOG_WINDOW_S
        evidence.log_matches += match_logs(source.split(":", 1)[1], list(value), patterns, since)
