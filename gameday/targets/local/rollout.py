"""Rollout history and configuration of the local target, kept like a Deployment and its ConfigMap.

A revision is a pod template: the release version plus a restart stamp (``kubectl rollout restart``
changes the template's ``restartedAt`` annotation). The configuration is live data, like a
ConfigMap: replicas read it when they start, and ``rollout undo`` does not change it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

from gameday.state import StateDir, read_json, write_json_atomic
from gameday.targets.local.service import Service
from gameday.targets.model import Revision, TargetError

PODS_FILE = ("rollout", "pods.json")  # which revision (and version) each replica runs, and since when


@dataclass
class RevisionRecord:
    """A stored revision: its template and bookkeeping."""

    number: int
    version: str
    restarted_at: float | None
    change_cause: str
    created_at: float
    history: list[int] = field(default_factory=list)  # earlier numbers of a reused template

    @property
    def template(self) -> tuple[str, float | None]:
        """What makes two revisions the same pod template."""
        return (self.version, self.restarted_at)

    def public(self, config_hash: str = "") -> Revision:
        """The target-neutral view."""
        return Revision(self.number, self.version, self.change_cause, self.created_at, config_hash)


def config_hash(data: dict[str, str]) -> str:
    """A short stable hash of a configuration."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]


class RolloutStore:
    """Revisions and live configuration, in the state directory."""

    def __init__(self, state: StateDir) -> None:
        self._revisions = state.path("rollout", "revisions.json")
        self._config = state.path("rollout", "config.json")

    def reset(self, version: str, config: dict[str, str]) -> RevisionRecord:
        """A fresh history: revision 1 of ``version`` with ``config``."""
        first = RevisionRecord(1, version, None, f"initial deploy of {version}", time.time())
        self._save([first])
        self.set_config(config)
        return first

    def revisions(self) -> list[RevisionRecord]:
        """Oldest first."""
        return [RevisionRecord(**r) for r in read_json(self._revisions, [])]

    def current(self) -> RevisionRecord:
        """The newest revision."""
        revisions = self.revisions()
        if not revisions:
            raise TargetError("the local stack has no rollout history: start it with 'gameday up'")
        return max(revisions, key=lambda r: r.number)

    def config(self) -> dict[str, str]:
        """The live configuration."""
        return dict(read_json(self._config, {}))

    def set_config(self, data: dict[str, str]) -> None:
        """Replace the live configuration."""
        write_json_atomic(self._config, {k: str(v) for k, v in data.items()})

    def record(self, version: str, restarted_at: float | None, cause: str) -> RevisionRecord:
        """Add the template as the newest revision; an existing identical template is reused (max+1)."""
        revisions = self.revisions()
        top = max((r.number for r in revisions), default=0)
        for rec in revisions:
            if rec.template == (version, restarted_at):
                if rec.number == top:
                    return rec
                rec.history.append(rec.number)
                rec.number = top + 1
                rec.change_cause = cause or rec.change_cause
                rec.created_at = time.time()
                self._save(revisions)
                return rec
        new = RevisionRecord(top + 1, version, restarted_at, cause, time.time())
        self._save([*revisions, new])
        return new

    def find(self, number: int | None) -> RevisionRecord:
        """A given revision, or the previous one (kubectl: the second-highest number)."""
        ordered = sorted(self.revisions(), key=lambda r: r.number)
        if number is None:
            if len(ordered) < 2:
                raise TargetError("no previous revision to roll back to")
            return ordered[-2]
        for rec in ordered:
            if rec.number == number:
                return rec
        raise TargetError(f"unable to find specified revision {number} in history")

    def _save(self, revisions: list[RevisionRecord]) -> None:
        write_json_atomic(self._revisions, [r.__dict__ for r in sorted(revisions, key=lambda r: r.number)])


def prepare_replicas(service: Service, names: list[str], revisions: dict[str, RevisionRecord],
                     config: dict[str, str], restarted: bool = False) -> None:
    """Render each replica for its next start (the live ``config``, its revision's release) and record its pod.

    ``restarted``: the replica is being replaced now (a rollout), so its pod is new even at the same revision.
    """
    path = service.state.path(*PODS_FILE)
    pods = read_json(path, {})
    now = time.time()
    for name in names:
        rev = revisions[name]
        if restarted or name not in pods or pods[name].get("revision") != rev.number:
            pods[name] = {"revision": rev.number, "version": rev.version, "created_at": now}
        service.write_replica(name, rev.version, config)
    write_json_atomic(path, pods)
