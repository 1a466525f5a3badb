"""The local target's rollouts: revisions recorded in the rollout store (:mod:`.rollout`), each rolled out one
replica at a time, out of the load balancer while it restarts (``kubectl rollout restart/undo``, ``set image``).
"""

from __future__ import annotations

import contextlib
import time

from gameday import interrupts, reasons
from gameday.targets.local import starts
from gameday.targets.local.replicas import LocalReplicas
from gameday.targets.local.rollout import RevisionRecord, config_hash, prepare_replicas
from gameday.targets.model import Revision, TargetError


class LocalRollouts(LocalReplicas):
    """The rollout history and what changes it."""

    def history(self) -> list[Revision]:
        digest = config_hash(self.rollout.config())
        return [r.public(digest if r.number == self.rollout.current().number else "") for r in self.rollout.revisions()]

    def _roll(self, rev: RevisionRecord, timeout: float | None, wait: bool) -> Revision:
        """Rolling replacement, one replica at a time, taken out of the load balancer while it restarts. The
        deadline is the whole rollout's (default: the start budget times the replicas); when it passes, the
        ``ProgressDeadlineExceeded`` event names it and what each replica was doing."""
        self.event_log.record(
            "Normal", reasons.SCALING_REPLICA_SET, self._object("deployment"),
            f"Rolling out revision {rev.number} ({rev.version}): {rev.change_cause}",
        )
        config = self.rollout.config()
        service = self.service
        names = self.replica_names
        budget = self.start_budget()
        limit = timeout if timeout is not None else budget.rollout_s(len(names))
        how = f" ({budget.explain(len(names))})" if timeout is None else ""
        deadline = time.monotonic() + limit
        for i, name in enumerate(names):
            self._lb_state(name, "maint")
            self.supervisor.replace(name)  # a new pod: its crash loop counts from zero
            prepare_replicas(service, [name], {name: rev}, config, restarted=True)
            self.supervisor.start(name)
            started = time.monotonic()
            self._lb_state(name, "ready")
            if not wait:
                continue
            while not self._replica_ready(name):
                if time.monotonic() > deadline:
                    doing = starts.rollout_progress(names, i, rev.version, time.monotonic() - started)
                    self.event_log.record(
                        "Warning", reasons.PROGRESS_DEADLINE_EXCEEDED, self._object("deployment"),
                        f"rollout of {rev.version} (revision {rev.number}) not done within {limit:.0f} s{how}: "
                        f"{doing}",
                    )
                    return rev.public()
                interrupts.pause(0.1)  # poll (a safe point)
        for program, process, replica in service.process_programs(names):
            if replica is None:  # a scheduler runs the new release too, once its replicas do (theirs went with them)
                self.supervisor.replace(program)
                service.write_process(process, None, rev.version, config)
                self.supervisor.start(program)
        return rev.public()

    def _lb_state(self, name: str, state: str) -> None:
        with contextlib.suppress(TargetError):  # the load balancer is down: nothing to drain
            self.lb_runtime.set_state(name, state)

    def rollout_restart(self, wait: bool = True, timeout: float | None = None) -> Revision:
        self._require_running()
        current = self.rollout.current()
        rev = self.rollout.record(current.version, time.time(), "kubectl rollout restart")
        return self._roll(rev, timeout, wait)

    def rollout_undo(self, to_revision: int | None = None, wait: bool = True,
                     timeout: float | None = None) -> Revision:
        self._require_running()
        target = self.rollout.find(to_revision)
        current = self.rollout.current()
        if target.template == current.template:
            self.event_log.record("Normal", reasons.ROLLBACK_SKIPPED, self._object("deployment"),
                                  f"revision {target.number} already matches the current template")
            return current.public()
        rev = self.rollout.record(target.version, target.restarted_at, f"rollback to revision {target.number}")
        self.event_log.record("Normal", reasons.DEPLOYMENT_ROLLBACK, self._object("deployment"),
                              f"Rolled back to revision {target.number} ({target.version})")
        return self._roll(rev, timeout, wait)

    def deploy(self, version: str, cause: str = "", wait: bool = True, timeout: float | None = None) -> Revision:
        self._require_running()
        name = self.profile.service.name
        rev = self.rollout.record(version, None, cause or f"kubectl set image {name}={version}")
        return self._roll(rev, timeout, wait)
