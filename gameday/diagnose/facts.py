"""Facts about the service the rules are made of: up, down, failing, hung, crash-looping since a rollout."""

from __future__ import annotations

import re

from gameday import reasons
from gameday.diagnose.changes import episode, platform_events, recent_changes, runs_revision
from gameday.diagnose.evidence import Evidence, check_timed_out
from gameday.diagnose.lines import dependency_words, event_line
from gameday.profile import Dependency, Profile
from gameday.targets.model import DependencyCheck, Event, Replica

__all__ = [
    "all_replicas_down", "api_timing_out", "check_timed_out", "failing_replicas", "flaky", "fully_up",
    "hung_replicas", "logged_dependency", "probe_timeouts", "restarted_since_rollout",
]

# a probe or check that got no answer in time, as HAProxy (L7TOUT, L4TOUT) and the kubelet word it
_TIMED_OUT = re.compile(r"(?i)\b(L[47]TOUT|timeout|timed out|deadline exceeded)")


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
    return [r for r in ev.replicas if r.restarts > 0 and runs_revision(r, rev) and r.name not in killed
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


def flaky(ev: Evidence, check: DependencyCheck) -> bool:
    """A dependency that answered some attempts of its check and failed others: intermittent, not down."""
    answered, tried = ev.answered(check.name)
    return 0 < answered < tried




def logged_dependency(ev: Evidence, profile: Profile, replicas: set[str]) -> tuple[Dependency, int] | None:
    """The dependency that the log lines of ``replicas`` (those matching the runbook's patterns) name as timing out
    most, with how many lines do, among the dependencies every check of which answered: the service's word on what
    its failing calls wait on when the dependency is slow rather than down ("503 service unavailable (redis: timed
    out after 0.3s)"). A line that names it without a timeout (a replica starting, "not checked yet") says nothing
    of its speed. None when no such line names one; a tie goes to the profile's order."""
    answered = [d for d in profile.dependencies
                if (checks := [c for c in ev.dependencies if c.name == d.name]) and all(c.ok for c in checks)]
    timing_out = [m.line.lower() for m in ev.log_matches if m.replica in replicas and _TIMED_OUT.search(m.line)]
    counts = [(d, sum(1 for line in timing_out if any(w in line for w in dependency_words(d)))) for d in answered]
    named = [(d, n) for d, n in counts if n]
    return max(named, key=lambda item: item[1]) if named else None
