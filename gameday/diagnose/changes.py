"""Recent changes, the runbook's step 2: rollouts, configuration writes, commands set by hand and replicas killed or
replaced, read from the platform's records (never from gameday's own), and the episode they make up."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from gameday import reasons
from gameday.diagnose.evidence import Evidence
from gameday.diagnose.lines import ago, config_line, event_line
from gameday.targets.model import Event, Replica, Revision

RECENT_S = 1800.0  # a change older than this is not "recent"
BOUNCE_S = 30.0  # a configuration change and the replica kills/restarts that pick it up
GAMEDAY_SOURCE = "gameday"  # the source of the events gameday writes: not evidence


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


def served_rollout(ev: Evidence, rev: Revision, failing: list[Replica], bounce_s: float = BOUNCE_S) -> list[Replica]:
    """Replicas that show a rollout finished and lets its replicas start and serve, clearing it of ``failing``
    replicas that merely went unready later (a dependency restarted under them, say): the rollout finished (every
    replica runs ``rev``: a rolling update stuck half-way leaves some on the previous one), and replicas that started
    on it (after it was rolled out), never restarted, Running and ready now, have served on it ``bounce_s`` or more.
    Only while no failing replica crashed (a restart, a phase other than Running): a release that dies some time
    after it got ready is the rollout's, whoever served beside it. A young rollout is never cleared: its replicas have
    not served on it long enough to prove anything."""
    if not failing or any(r.restarts or r.phase != "Running" for r in failing):
        return []
    if not ev.replicas or not all(runs_revision(r, rev) for r in ev.replicas):
        return []
    rolled = rev.created_at - 1.0  # the platform's stamps are whole seconds
    since = ev.collected_at - bounce_s
    return [r for r in ev.replicas if r.ready and r.phase == "Running" and not r.restarts
            and r.started_at is not None and rolled <= r.started_at <= since]


def runs_revision(replica: Replica, rev: Revision) -> bool:
    """Whether a replica runs that revision (by number, or by version when the target has no numbers)."""
    return replica.revision == rev.number or (replica.revision is None and replica.version == rev.version)

