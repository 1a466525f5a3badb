"""The root-cause verdict: one pure function of the collected evidence (no target, no clock, no I/O).

The evidence is what an on-call engineer has: replica phases, readiness and restarts as supervisor or the kubelet
report them, endpoints and the load balancer's checks, the rollout history, the configuration's last writes as the
platform records them (:class:`~gameday.targets.base.ConfigChange`), events the platform wrote (never gameday's:
their ``source`` is ``gameday``), the step-3 dependency checks, logs, and the API's answers. Nothing gameday left
as the fault's author is read (``tests/test_diagnose_outside.py`` lists those marks), so an outage caused by hand
gets the same verdict as one gameday caused.

Order of the rules, first match wins:

1. healthy — every replica and endpoint ready, the load balancer up, every dependency answering
   → ``no-outage`` (with ``recovered_from: all-replicas-down`` when every replica was killed or replaced within
   ``RECOVERED_S`` and came back by itself).
2. a check of one of the profile's dependencies failing → ``dependency-failure:<dep>`` for a dependency
   the service cannot work without (``on_outage: outage``), even while its replicas still report ready
   (their grace period, or a hung database that readiness does not notice); ``dependency-degraded:<dep>``
   for one it survives (``on_outage: degraded``) while it still serves everything, and a failure when it is
   impacted after all (the profile promised otherwise: that is the finding); ``dependency-hang:<dep>`` when
   that check got no answer in time (run from the replicas' side: through the local target's fault proxy) for a
   critical dependency or while the service is impacted — a blackholed or frozen dependency, the runbook's
   "timeouts and 504". Critical dependencies first, each group in the profile's order. Replicas whose probes
   time out as well are named as the alternative.
3. hung replicas — Running (the process is alive), not ready, their probe *timing out* (the load balancer's
   check status ``L7TOUT``, the kubelet's ``Unhealthy`` event "context deadline exceeded"), not refused, not a
   5xx → ``replicas-hanging``; replicas ready whose every API call through the load balancer times out (504, no
   answer) → ``replicas-hanging`` at a lower confidence (a network policy or the load balancer could do the same).
4. otherwise the latest *recent change* (within ``recent_s``) explains the failure:
   - a rollout to a new version whose replicas crash, restarted since (ready or not at the moment: no healthy
     verdict either), or never get ready, or replicas set to run a command their revision does not have (a
     release by hand) → ``failed-deployment``;
   - a configuration change (a ConfigMap write, a replica's file edited on disk) after the last rollout — picked
     up by a rollout, by killing or restarting the replicas within ``bounce_s``, or by replicas started since
     (a change no failing replica started on cannot be what they fail on) — with replicas failing since
     → ``configuration-problem``; not while replicas that started on it run ready and unrestarted beside failing
     ones that merely are not ready, nor beside crashing ones once they have served on it ``bounce_s`` (a
     configuration breaks replicas when they start on it: a failure that began later is another's);
   - replicas killed (supervisor saw a SIGKILL; pods replaced without a rollout), or no recent change at all, and
     nothing is ready → ``all-replicas-down``.
5. anything else → ``unknown`` (with the evidence that was seen).

Where the evidence fits two causes, the verdict names the likelier with its ``confidence`` and the other in
``alternatives``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gameday import reasons
from gameday.dependencies import KINDS as DEPENDENCY_KINDS
from gameday.diagnose.evidence import CRASH_PATTERNS, Evidence
from gameday.profile import Dependency, Profile
from gameday.targets.base import ConfigChange, Event, Replica, Revision

NO_OUTAGE = "no-outage"
FAILED_DEPLOYMENT = "failed-deployment"
CONFIGURATION_PROBLEM = "configuration-problem"
DEPENDENCY_FAILURE = "dependency-failure"
DEPENDENCY_DEGRADED = "dependency-degraded"
DEPENDENCY_HANG = "dependency-hang"
ALL_REPLICAS_DOWN = "all-replicas-down"
REPLICAS_HANGING = "replicas-hanging"
UNKNOWN = "unknown"
KINDS: tuple[str, ...] = (
    NO_OUTAGE, FAILED_DEPLOYMENT, CONFIGURATION_PROBLEM, DEPENDENCY_FAILURE, DEPENDENCY_DEGRADED, DEPENDENCY_HANG,
    ALL_REPLICAS_DOWN, REPLICAS_HANGING, UNKNOWN,
)
TITLES: dict[str, str] = {
    NO_OUTAGE: "no outage found",
    FAILED_DEPLOYMENT: "failed deployment",
    CONFIGURATION_PROBLEM: "configuration problem",
    DEPENDENCY_FAILURE: "dependency failure",
    DEPENDENCY_DEGRADED: "dependency degraded",
    DEPENDENCY_HANG: "dependency hang",
    ALL_REPLICAS_DOWN: "all replicas down",
    REPLICAS_HANGING: "replicas hanging",
    UNKNOWN: "unknown",
}
# the runbook's resolution, as kubectl words (Target.command_for turns them into this target's command)
ACTIONS: dict[str, list[str]] = {
    NO_OUTAGE: [],
    FAILED_DEPLOYMENT: ["rollout undo"],
    CONFIGURATION_PROBLEM: ["restore config", "rollout restart"],
    DEPENDENCY_FAILURE: [],
    DEPENDENCY_DEGRADED: [],
    DEPENDENCY_HANG: [],
    ALL_REPLICAS_DOWN: ["rollout restart"],
    REPLICAS_HANGING: ["rollout restart"],
    UNKNOWN: ["logs"],
}
RECENT_S = 1800.0  # a change older than this is not "recent"
BOUNCE_S = 30.0  # a configuration change and the replica kills/restarts that pick it up
RECOVERED_S = 60.0  # a healthy target whose replicas were all killed this recently "recovered" from an outage
GAMEDAY_SOURCE = "gameday"  # the source of the events gameday writes: not evidence
# a probe or check that got no answer in time, as HAProxy (L7TOUT, L4TOUT) and the kubelet word it
_TIMED_OUT = re.compile(r"(?i)\b(L[47]TOUT|timeout|timed out|deadline exceeded)")
# a step-3 dependency check that got no answer in time (the kinds' words: "no answer within 2.0s", "timed out"),
# as opposed to one refused or answered with an error: the dependency (or the path to it) hangs
_CHECK_TIMED_OUT = re.compile(r"(?i)(no answer within|timed out|\btimeout\b)")
MAX_LOG_EVIDENCE = 6


@dataclass
class Verdict:
    """The diagnosis: what is wrong, the evidence lines that say so, and the runbook's actions."""

    kind: str
    summary: str
    evidence: list[str] = field(default_factory=list)
    dependency: str | None = None
    actions: list[str] = field(default_factory=list)
    recovered_from: str | None = None  # healthy now, but this outage happened moments ago
    confidence: float = 1.0  # how surely the evidence points at this cause rather than another
    alternatives: list[tuple[str, float]] = field(default_factory=list)  # (key, confidence) of the other candidates

    @property
    def key(self) -> str:
        """``dependency-failure:postgres`` or ``failed-deployment``: what the game day scores."""
        return f"{self.kind}:{self.dependency}" if self.dependency else self.kind

    @property
    def scored(self) -> str:
        """What the game day scores: the outage it recovered from when healthy again, else :attr:`key`."""
        return self.recovered_from or self.key

    @property
    def title(self) -> str:
        """``dependency failure: postgres`` — for people."""
        title = TITLES.get(self.kind, self.kind)
        return f"{title}: {self.dependency}" if self.dependency else title

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "kind": self.kind,
            "key": self.key,
            "scored": self.scored,
            "title": self.title,
            "dependency": self.dependency,
            "summary": self.summary,
            "evidence": self.evidence,
            "actions": self.actions,
            "recovered_from": self.recovered_from,
            "confidence": round(self.confidence, 2),
            "alternatives": [{"key": key, "confidence": round(c, 2)} for key, c in self.alternatives],
        }


@dataclass(frozen=True)
class Change:
    """A recent change the runbook's step 2 looks for."""

    at: float
    kind: str  # rollout | config | command | kill
    line: str  # the evidence line
    revision: Revision | None = None
    version_changed: bool = False
    config_changed: bool = False
    subject: str = ""  # the replica a kill hit


# --- evidence lines ------------------------------------------------------------------------------
def ago(seconds: float) -> str:
    """``12s``, ``3m05s``, ``2h10m``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def replica_line(r: Replica) -> str:
    """One ``kubectl get pods`` row as a sentence."""
    version = f", revision {r.revision} ({r.version})" if r.revision is not None or r.version else ""
    probe = f", readiness probe: {r.probe}" if r.probe else ""
    return f"pod {r.name}: {r.phase}, {'1/1' if r.ready else '0/1'} ready, {r.restarts} restarts{version}{probe}"


def event_line(e: Event, now: float) -> str:
    """One ``kubectl get events`` row as a sentence."""
    return f"event {ago(now - e.timestamp)} ago: {e.type} {e.reason} {e.object}: {e.message}"


def _service_lines(ev: Evidence) -> list[str]:
    lines = []
    ready = [r for r in ev.replicas if r.ready]
    lines.append(f"{len(ready)}/{len(ev.replicas)} replicas ready")
    if ev.endpoints:
        ready_eps = [e for e in ev.endpoints if e.ready]
        down = ", ".join(f"{e.name} {e.state}".strip() for e in ev.endpoints if not e.ready)
        suffix = f" (not ready: {down})" if down else ""
        lines.append(f"{len(ready_eps)}/{len(ev.endpoints)} endpoints ready{suffix}")
    lb = ev.load_balancer
    if lb is not None:
        lines.append(f"load balancer {lb.name} {lb.url}: {lb.state}, {lb.ready_backends}/{lb.total_backends} backends")
    return lines


def _dependency_line(check: Any) -> str:
    state = "OK" if check.ok else "FAILED"
    return f"{check.name}: {state} in {check.latency_s * 1000:.0f} ms — {check.detail}"


_STAMP = re.compile(r"^\S*\d{4}-\d\d-\d\d[T ]\S+\s+")


def dependency_words(dep: Dependency) -> tuple[str, ...]:
    """The words that name a dependency in the service's logs: its name and its kind's words."""
    return (dep.name.lower(), *DEPENDENCY_KINDS[dep.kind].words)


def _log_lines(ev: Evidence, focus: Dependency | None = None) -> list[str]:
    """The most telling matching log lines: crash lines first, repeats folded, about ``focus`` when given."""
    matches = list(ev.log_matches)
    if focus is not None:
        words = dependency_words(focus)
        matches = [m for m in matches if any(w in m.line.lower() for w in words)] or matches
    folded: dict[str, tuple[int, Any]] = {}  # repeated message (numbers ignored) -> (count, latest)
    for m in matches:
        key = m.replica + re.sub(r"\d+", "#", _STAMP.sub("", m.line))
        count = folded[key][0] + 1 if key in folded else 1
        folded.pop(key, None)
        folded[key] = (count, m)
    items = list(folded.values())
    crashes = [i for i in items if i[1].pattern in CRASH_PATTERNS][-MAX_LOG_EVIDENCE // 2:]
    others = [i for i in items if i[1].pattern not in CRASH_PATTERNS]
    others = others[-(MAX_LOG_EVIDENCE - len(crashes)):]
    chosen = [i for i in items if i in crashes or i in others]
    out = [f"log {m.replica}: {m.line[:240]}" + (f" (×{n})" if n > 1 else "") for n, m in chosen]
    if len(matches) > sum(n for n, _ in chosen):
        out.insert(0, f"{len(matches)} log lines match the runbook's patterns; the most telling:")
    return out


# --- facts -----------------------------------------------------------------------------------------
def fully_up(ev: Evidence) -> bool:
    """Every replica Running and ready, every endpoint ready, the load balancer up."""
    if not ev.replicas or ev.load_balancer is None or ev.load_balancer.state != "up":
        return False
    if any(not r.ready or r.phase != "Running" for r in ev.replicas):
        return False
    return all(e.ready for e in ev.endpoints) and bool(ev.endpoints) and ev.load_balancer.ready_backends > 0


def all_replicas_down(ev: Evidence) -> bool:
    """No replica ready, or none of them an endpoint the load balancer sends traffic to."""
    if ev.endpoints and not any(e.ready for e in ev.endpoints):
        return True
    return not any(r.ready for r in ev.replicas)


def failing_replicas(ev: Evidence) -> list[Replica]:
    """Replicas that are not ready, or crash-looping."""
    return [r for r in ev.replicas if not r.ready or r.phase in ("CrashLoopBackOff", "Terminated", "Stopped")]


def restarted_since_rollout(ev: Evidence, recent_s: float, bounce_s: float) -> list[Replica]:
    """Replicas of a recent rollout to a new version that keep restarting (each restart a crash that supervisor or
    the kubelet recovered from): a crash loop, though every one of them may be ready at the moment of looking (a
    release that dies some seconds after it got ready). A loop is going on now: the replica's last start is within
    two bounce windows, and it was not killed then (a kill the platform saw is not a crash: replicas of an old
    rollout, killed and restarted by someone, are no failed deployment)."""
    kind, changes = episode(recent_changes(ev, recent_s, bounce_s), bounce_s)
    rev = changes[-1].revision if kind == "deployment" else None
    if rev is None:
        return []
    lately = 2 * bounce_s
    killed = {c.subject for c in recent_changes(ev, lately, bounce_s) if c.kind == "kill"}
    return [r for r in ev.replicas if r.restarts > 0 and _runs(r, rev) and r.name not in killed
            and r.started_at is not None and ev.collected_at - r.started_at <= lately]


def probe_timeouts(ev: Evidence) -> dict[str, str]:
    """Replicas whose probe timed out, as the platform reports it, with the line that says so: the readiness probe
    the target ran (``Replica.probe``), the load balancer's check status (HAProxy ``DOWN L7TOUT``) or the kubelet's
    latest ``Unhealthy`` event of the pod ("Readiness probe failed: ... context deadline exceeded"). A refused
    connection or a 5xx is not a timeout."""
    out: dict[str, str] = {r.name: f"pod {r.name}: readiness probe timed out" for r in ev.replicas
                           if _TIMED_OUT.search(r.probe)}
    latest: dict[str, Event] = {}
    for e in sorted(platform_events(ev), key=lambda e: e.timestamp):
        if e.reason == reasons.UNHEALTHY:
            latest[e.object.split("/", 1)[-1]] = e
    for name, e in latest.items():
        if _TIMED_OUT.search(e.message):
            out[name] = event_line(e, ev.collected_at)
    for endpoint in ev.endpoints:
        if not endpoint.ready and _TIMED_OUT.search(endpoint.state):
            out.setdefault(endpoint.name, f"load balancer: {endpoint.name} {endpoint.state} (its check timed out)")
    return out


def hung_replicas(ev: Evidence) -> list[tuple[Replica, str]]:
    """Replicas that hang: Running (supervisor or the kubelet says so: the process is alive), not ready, and their
    probe timing out (:func:`probe_timeouts`)."""
    timeouts = probe_timeouts(ev)
    return [(r, timeouts[r.name]) for r in ev.replicas if r.phase == "Running" and not r.ready and r.name in timeouts]


def api_timing_out(ev: Evidence) -> bool:
    """Every API call through the load balancer timed out: 504 (the load balancer gave up waiting) or no answer."""
    return bool(ev.api) and all(a.status in (None, 504) for a in ev.api)


def platform_events(ev: Evidence) -> list[Event]:
    """Events the platform wrote (supervisor, the kubelet, controllers): gameday's own are not evidence."""
    return [e for e in ev.events if e.source != GAMEDAY_SOURCE]


def recent_changes(ev: Evidence, recent_s: float = RECENT_S, bounce_s: float = BOUNCE_S) -> list[Change]:
    """Rollouts, configuration changes and replica kills within ``recent_s``, oldest first."""
    now = ev.collected_at
    since = now - recent_s
    names = {r.name for r in ev.replicas}
    changes: list[Change] = []
    history = sorted(ev.history, key=lambda r: r.number)
    for i, rev in enumerate(history):
        if rev.created_at < since:
            continue
        prev = history[i - 1] if i else None
        version_changed = prev is None or rev.version != prev.version
        config_changed = bool(prev and rev.config_hash and prev.config_hash and rev.config_hash != prev.config_hash)
        line = f"revision {rev.number} ({rev.version}) rolled out {ago(now - rev.created_at)} ago: {rev.change_cause}"
        if prev is not None and version_changed:
            line += f" (previous: {prev.version})"
        changes.append(Change(rev.created_at, "rollout", line, rev, version_changed, config_changed))
    for c in ev.config_changes:
        if c.at >= since:
            changes.append(Change(c.at, "command" if c.kind == "command" else "config", config_line(c, now),
                                  subject=c.object))
    for e in platform_events(ev):
        if e.timestamp >= since and (_is_kill(e, names) or _stopped_outside_a_rollout(e, names)):
            changes.append(Change(e.timestamp, "kill", event_line(e, now), subject=e.object.split("/", 1)[-1]))
    changes += [c for c in _replaced(ev, bounce_s) if c.at >= since]
    return sorted(changes, key=lambda c: c.at)


def config_line(c: ConfigChange, now: float) -> str:
    """A configuration change as a sentence."""
    return f"{c.detail} {ago(now - c.at)} ago"


def _replaced(ev: Evidence, bounce_s: float) -> list[Change]:
    """Replicas started well after their revision was rolled out, never restarted: replaced (a pod deleted, evicted,
    its node lost) rather than rolled out — what ``kubectl get pods`` shows as an AGE younger than the rollout. A
    rolling update starts its replicas one after another, each within ``bounce_s`` of the one before: the last of N
    may start up to N x ``bounce_s`` after the rollout began (a heavy service's 45 s rollout of 3 replicas)."""
    rolled = {r.number: r.created_at for r in ev.history}
    per_revision = Counter(r.revision for r in ev.replicas)
    out = []
    for r in ev.replicas:
        created = rolled.get(r.revision) if r.revision is not None else None
        if (created is None or r.started_at is None or r.restarts
                or r.started_at - created <= bounce_s * per_revision[r.revision]):
            continue
        out.append(Change(r.started_at, "kill",
                          f"pod {r.name} started {ago(ev.collected_at - r.started_at)} ago, "
                          f"{ago(r.started_at - created)} after its revision {r.revision} was rolled out: replaced",
                          subject=r.name))
    return out


def _stopped_outside_a_rollout(e: Event, names: set[str]) -> bool:
    """The kubelet stopping a pod that is gone and was not rolled out: its ReplicaSet (the name up to the last
    ``-``) still runs the current pods, so the pod was deleted or evicted, and replaced (a rollout stops the pods of
    the *previous* ReplicaSet)."""
    obj = e.object.split("/", 1)[-1]
    if e.reason != reasons.KILLING or not e.object.startswith("pod/") or obj in names or "-" not in obj:
        return False
    return obj.rsplit("-", 1)[0] in {n.rsplit("-", 1)[0] for n in names if "-" in n}


def _family(name: str) -> str:
    """``ecommerce-backend-758bf646df-js9sn`` → ``ecommerce-backend``; ``replica-0`` → ``replica``."""
    parts = name.split("-")
    return "-".join(parts[:-2]) if len(parts) > 2 else parts[0]


def _is_kill(e: Event, names: set[str]) -> bool:
    """A replica killed from outside (``Killed``; not ``Killing``, a rollout stopping it on purpose).

    On Kubernetes a killed pod is replaced by one with another name: a pod of the same workload
    (same name up to the ReplicaSet hash) counts too.
    """
    if e.reason != reasons.KILLED:
        return False
    obj = e.object.split("/", 1)[-1]
    return not names or obj in names or _family(obj) in {_family(n) for n in names}


def episode(changes: list[Change], bounce_s: float = BOUNCE_S) -> tuple[str, list[Change]]:
    """What the latest recent change was: deployment, config, restart, kill, or none."""
    if not changes:
        return "none", []
    latest = changes[-1]
    if latest.kind == "kill":
        start = len(changes) - 1
        while start > 0 and changes[start - 1].kind == "kill":
            start -= 1
        kills = changes[start:]
        before = changes[start - 1] if start > 0 else None
        if before is not None and before.kind == "config" and kills[0].at - before.at <= bounce_s:
            return "config", [before, *kills]
        return "kill", kills
    if latest.kind == "config":
        return "config", [latest]
    if latest.kind == "command":
        return "command", [latest]
    if latest.version_changed:
        return "deployment", [latest]
    previous_rollout = max((c.at for c in changes[:-1] if c.kind == "rollout"), default=float("-inf"))
    configs = [c for c in changes[:-1] if c.kind == "config" and c.at > previous_rollout]
    if latest.config_changed or configs:  # a configuration change, picked up by a restart
        return "config", [*configs[-1:], latest]
    return "restart", [latest]


# --- the verdict -----------------------------------------------------------------------------------
def dependency_verdict(profile: Profile, name: str, hung: bool = False) -> str:
    """The verdict key a lost dependency should get: ``dependency-failure:<dep>`` when the profile says the
    service cannot work without it (``on_outage: outage``), ``dependency-hang:<dep>`` instead when it is lost by
    hanging (``hung``: accepting connections, never answering), else ``dependency-degraded:<dep>``.
    An unknown name is a :class:`~gameday.errors.UsageError` naming the profile's dependencies."""
    dep = profile.dependency(name)
    if dep.on_outage != "outage":
        return f"{DEPENDENCY_DEGRADED}:{dep.name}"
    return f"{DEPENDENCY_HANG if hung else DEPENDENCY_FAILURE}:{dep.name}"


def check_timed_out(check: Any) -> bool:
    """Whether a step-3 check failed by getting no answer in time (a hang), not by a refusal or an error."""
    return not check.ok and bool(_CHECK_TIMED_OUT.search(check.detail))


def decide(
    ev: Evidence,
    profile: Profile,
    recent_s: float = RECENT_S,
    bounce_s: float = BOUNCE_S,
) -> Verdict:
    """The root-cause verdict for the evidence of ``profile``'s service (see the module docstring for the rules)."""
    now = ev.collected_at
    ordered = sorted(profile.dependencies, key=lambda d: d.on_outage != "outage")  # stable: profile order kept
    failed_checks = [c for d in ordered for c in ev.dependencies if c.name == d.name and not c.ok]
    up = fully_up(ev)
    service = _service_lines(ev)
    api_down = bool(ev.api) and all(a.failed for a in ev.api)  # probes pass, yet no real request succeeds

    if not ev.replicas and "replicas" in ev.errors:
        return _verdict(UNKNOWN, f"unknown: the replicas could not be read ({ev.errors['replicas']})",
                        [*service, *(f"{k}: {v}" for k, v in ev.errors.items())])

    restarted = restarted_since_rollout(ev, recent_s, bounce_s)
    if up and not failed_checks and not api_down and not restarted:
        verdict = _verdict(NO_OUTAGE, "no outage found: every replica and endpoint is ready and every dependency "
                           "answers", [*service, *(_dependency_line(c) for c in ev.dependencies)])
        kills = [c for c in recent_changes(ev, RECOVERED_S, bounce_s) if c.kind == "kill"]
        if kills and len({c.subject for c in kills}) >= len(ev.replicas):
            verdict.recovered_from = ALL_REPLICAS_DOWN
            verdict.summary += f"; every replica was killed {ago(now - kills[-1].at)} ago and came back by itself"
            verdict.evidence += [c.line for c in kills[-len(ev.replicas):]]
        return verdict

    hung = hung_replicas(ev)

    if failed_checks:
        first = failed_checks[0]
        dep = profile.dependency(first.name)
        evidence = [_dependency_line(c) for c in failed_checks] + service + _log_lines(ev, dep)
        others = f" (also failing: {', '.join(c.name for c in failed_checks[1:])})" if failed_checks[1:] else ""
        if check_timed_out(first) and (dep.on_outage == "outage" or not up):
            verdict = _verdict(DEPENDENCY_HANG,
                               f"dependency hang: {first.name} accepts connections from the service's side but "
                               f"never answers ({first.detail}): requests waiting on it time out"
                               f"{'' if up else ' and the service is impacted'}{others}",
                               evidence, first.name)
        elif dep.on_outage == "outage" and up:
            verdict = _verdict(DEPENDENCY_FAILURE,
                               f"dependency failure: {first.name} does not answer ({first.detail}); the service "
                               f"cannot work without it, though its replicas still report ready{others}",
                               evidence, first.name)
        elif up:
            verdict = _verdict(DEPENDENCY_DEGRADED,
                               f"dependency degraded: {first.name} does not answer ({first.detail}) but every "
                               f"replica is still ready — the service runs degraded{others}",
                               evidence, first.name)
        else:
            survives = "" if dep.on_outage == "outage" else " although its profile says it survives its loss"
            verdict = _verdict(DEPENDENCY_FAILURE,
                               f"dependency failure: {first.name} does not answer ({first.detail}) and the service "
                               f"is impacted{survives}{others}",
                               evidence, first.name)
        if hung:  # the replicas' probes time out too: they may hang on it, or hang themselves
            verdict.confidence = 0.7
            verdict.alternatives = [(REPLICAS_HANGING, 0.3)]
            verdict.evidence += [line for _, line in hung]
        return verdict

    if hung:
        names = ", ".join(r.name for r, _ in hung)
        evidence = [*(replica_line(r) for r, _ in hung), *(line for _, line in hung), *service,
                    *_api_lines(ev)]
        return _verdict(REPLICAS_HANGING,
                        f"replicas hanging: {names} running but not answering (their probes time out; connections "
                        "are accepted, never answered)", evidence, confidence=0.9)

    failing = failing_replicas(ev)
    kind, changes = episode(recent_changes(ev, recent_s, bounce_s), bounce_s)
    crash_logs = _log_lines(ev)

    if kind == "deployment" and (failing or restarted):
        rev = changes[-1].revision
        on_it = [r for r in [*failing, *(r for r in restarted if r not in failing)] if rev and _runs(r, rev)]
        if rev is not None and on_it:
            return _verdict(FAILED_DEPLOYMENT,
                            f"failed deployment: revision {rev.number} ({rev.version}) was rolled out "
                            f"{ago(now - rev.created_at)} ago and {len(on_it)}/{len(ev.replicas)} of its replicas "
                            f"crash or are not ready",
                            [changes[-1].line, *(replica_line(r) for r in on_it), *service, *crash_logs])

    if kind == "deployment" and api_down and not failing:
        rev = changes[-1].revision
        if rev is not None:
            shown = ", ".join(f"{a.endpoint} {a.status or 'no answer'}" for a in ev.api[:4])
            return _verdict(FAILED_DEPLOYMENT,
                            f"failed deployment: revision {rev.number} ({rev.version}) was rolled out "
                            f"{ago(now - rev.created_at)} ago; its replicas pass their probes but every API endpoint "
                            f"fails ({shown})",
                            [changes[-1].line, f"API through the load balancer: {shown}", *service, *crash_logs])

    if kind == "command" and failing:
        change = changes[-1]
        return _verdict(FAILED_DEPLOYMENT,
                        f"failed deployment: replicas were set to run another command {ago(now - change.at)} ago, "
                        f"outside the rollout history, and {len(failing)}/{len(ev.replicas)} replicas crash or are "
                        "not ready on it",
                        [change.line, *(replica_line(r) for r in failing), *service, *crash_logs])

    if kind == "config" and failing and picked_up(changes, failing) and not served_on(ev, changes, failing, bounce_s):
        return _verdict(CONFIGURATION_PROBLEM,
                        f"configuration problem: the configuration changed {ago(now - changes[0].at)} ago and "
                        f"{len(failing)}/{len(ev.replicas)} replicas fail on it",
                        [*(c.line for c in changes[:4]), *(replica_line(r) for r in failing), *service, *crash_logs])

    if up and api_timing_out(ev) and kind not in ("deployment", "command"):
        return _verdict(REPLICAS_HANGING,
                        "replicas hanging: every replica reports ready, yet every API call through the load balancer "
                        "times out (a replica or the path to it accepts and never answers)",
                        [*service, *_api_lines(ev), *crash_logs], confidence=0.6,
                        alternatives=[(UNKNOWN, 0.4)])

    if all_replicas_down(ev):
        if kind == "kill":
            cause = f"replicas were killed {ago(now - changes[-1].at)} ago"
        elif kind in ("deployment", "config", "restart"):
            cause = f"the latest change ({changes[-1].line}) does not explain it"
        else:
            cause = f"no change in the last {ago(recent_s)}"
        return _verdict(ALL_REPLICAS_DOWN,
                        f"all replicas down with no recent deployment or configuration change: {cause}",
                        [*(replica_line(r) for r in ev.replicas), *service, *(c.line for c in changes[-3:]),
                         *crash_logs])

    lb = ev.load_balancer
    if lb is None or lb.state != "up":
        partial = "the load balancer is " + ("not answering" if lb else "unknown")
    elif failing:
        partial = f"{len(failing)}/{len(ev.replicas)} replicas not ready"
    elif out := [e for e in ev.endpoints if not e.ready]:
        partial = (f"{len(out)}/{len(ev.endpoints)} endpoints out of the load balancer's rotation "
                   f"({', '.join(f'{e.name} {e.state}'.strip() for e in out)})")
    elif api_down:
        partial = "every API endpoint fails through the load balancer"
    else:
        partial = "the service is impacted"
    return _verdict(UNKNOWN, f"unknown: {partial}, and no recent change or failing dependency explains it",
                    [*(replica_line(r) for r in failing), *service, *(c.line for c in changes[-3:]), *crash_logs,
                     *(f"{k}: {v}" for k, v in ev.errors.items())])


def picked_up(changes: list[Change], failing: list[Replica]) -> bool:
    """Whether the failing replicas can be running the configuration change of a ``config`` episode. A service reads
    its configuration when it starts, so a change explains replicas only once something started them on it: the
    rollout or the kills/restarts of the episode, or a failing replica that started after the change was written
    (or restarted since, or whose start the platform does not say). A change written after every failing replica
    started - while the replicas were already failing, or long before they were killed - is not what they run."""
    if len(changes) > 1:  # the change, then what picked it up
        return True
    written = changes[0].at - 1.0  # the platform's stamps are whole seconds
    return any(r.started_at is None or r.restarts or r.started_at >= written for r in failing)


def served_on(ev: Evidence, changes: list[Change], failing: list[Replica], bounce_s: float = BOUNCE_S) -> list[Replica]:
    """Replicas that picked up the configuration change of a ``config`` episode and serve on it, clearing it of the
    ``failing`` replicas' failure. A configuration breaks a replica when it starts on it - it crashes, or never gets
    ready - so replicas that started on it (after it was written: a service reads its configuration when it
    starts), never restarted since, Running and ready now, show that it lets a replica start and serve. They clear
    it of failing replicas that merely are not ready (Running, never restarted: nothing crashed); of crashing ones
    once they have served on it ``bounce_s`` (a release may die seconds after it got ready), as ``kubectl get pods``
    shows an on-call engineer (AGE, 0 RESTARTS, 1/1 READY beside the failing pod). A change to one replica's files
    is served on by that replica only."""
    if not changes:
        return []
    change = changes[0]  # the write (or the rollout of a new configuration hash); then what picked it up
    subject = change.subject.split("/")[1] if change.subject.startswith("file/") else None
    written = change.at - 1.0  # the platform's stamps are whole seconds
    crashed = any(r.restarts or r.phase != "Running" for r in failing)
    since = ev.collected_at - bounce_s if crashed else ev.collected_at
    return [r for r in ev.replicas
            if (subject is None or r.name == subject) and r.ready and r.phase == "Running" and not r.restarts
            and r.started_at is not None and written <= r.started_at <= since]


def _runs(replica: Replica, rev: Revision) -> bool:
    """Whether a replica runs that revision (by number, or by version when the target has no numbers)."""
    return replica.revision == rev.number or (replica.revision is None and replica.version == rev.version)


def _verdict(kind: str, summary: str, evidence: list[str], dependency: str | None = None, *,
             confidence: float = 1.0, alternatives: list[tuple[str, float]] | None = None) -> Verdict:
    return Verdict(kind, summary, evidence, dependency, list(ACTIONS[kind]), confidence=confidence,
                   alternatives=list(alternatives or []))


def _api_lines(ev: Evidence) -> list[str]:
    if not ev.api:
        return []
    shown = ", ".join(f"{a.endpoint} {a.status or 'no answer'}" for a in ev.api[:4])
    return [f"API through the load balancer: {shown}"]
