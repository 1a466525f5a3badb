"""The canary on the local target: replicas switched one at a time to the new release behind HAProxy.

The new release is recorded as the newest revision of the rollout history when the canary begins (like ``kubectl
set image`` on a paused rollout); a step switches one more replica to it the way a rollout replaces a replica
(out of the load balancer, restarted on the new revision, back in once ready). Each side is measured from HAProxy's
request log, by server, plus its per-server retry counter and the replicas' process exits seen by supervisor
(each one a failure of its side, and a restart: a canary that restarts more than the primary is rolled back). A
rollback is ``rollout undo``'s history semantics (the previous template recorded again as the newest revision,
"rollback to revision N") applied to the replicas that do not run it: the primary keeps serving untouched.
:meth:`undo` finds the previous template by its content, so it works from any process after any interruption.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from typing import Any

from gameday import interrupts, reasons
from gameday.state import read_json
from gameday.targets import probes
from gameday.targets.canary import CanaryDriver, Served, Window
from gameday.targets.local.components import LB_SETTLE_S
from gameday.targets.local.core import LocalCore
from gameday.targets.local.requestlog import Request, RequestLog, served, switched_away
from gameday.targets.local.rollout import PODS_FILE, RevisionRecord, prepare_replicas
from gameday.targets.model import Revision, TargetError

UP_STATES = ("RUNNING", "STARTING")  # supervisor's states of a process that is up (STARTING: for its startsecs)


class LocalCanary(CanaryDriver):
    """A canary of the local stack's replicas."""

    def __init__(self, target: LocalCore) -> None:
        self.target = target
        self.previous: RevisionRecord | None = None
        self.new: RevisionRecord | None = None
        self.canary: list[str] = []
        self._ever: list[str] = []
        self._log: RequestLog | None = None
        self._requests: list[Request] = []
        self._entered: dict[str, float] = {}  # replica -> when it was let back into the load balancer
        self._pids: dict[str, int] = {}  # replica -> the pid it ran when last seen (0: not running)
        self._crashes: dict[str, int] = {}  # replica -> exits seen since the window began

    # --- what is there -------------------------------------------------------------------------------
    def replica_count(self) -> int:
        return len(self.target.replica_names)

    def ready_timeout(self) -> float:
        return self.target.start_budget().per_replica_s

    def known_versions(self) -> set[str]:
        local = self.target.profile.local
        known = {r.version for r in self.target.rollout.revisions()}
        if local is not None:
            known |= {local.release, *local.releases}
            known |= {r.version for r in (local.bad_release, local.slow_release) if r is not None}
        return known

    def in_progress(self) -> str | None:
        return None  # the local stack keeps no canary object: the ledger entry is the record

    def _pods(self) -> dict[str, dict[str, Any]]:
        return read_json(self.target.state.path(*PODS_FILE), {})

    # --- the canary ----------------------------------------------------------------------------------
    def saved(self) -> dict[str, Any]:
        current = self.target.rollout.current()
        return {"revision": current.number, "version": current.version, "restarted_at": current.restarted_at}

    def begin(self, version: str, cause: str) -> Revision:
        self.previous = self.target.rollout.current()
        self.new = self.target.rollout.record(version, None, cause)
        self.target.event_log.record(
            "Normal", reasons.SCALING_REPLICA_SET, self.target._object("deployment"),
            f"Canary of revision {self.new.number} ({version}) begins; revision {self.previous.number} "
            f"({self.previous.version}) keeps serving")
        self._log = RequestLog(self.target.state.logs / "load-balancer.log", f"{self.target.profile.service.name}-lb")
        return self.new.public()

    def set_canary_replicas(self, count: int, timeout: float) -> list[str]:
        assert self.new is not None and self.previous is not None, "begin() first"
        names = self.target.replica_names
        if not 1 <= count <= len(names):
            raise TargetError(f"a canary of {count} replicas: the service runs {len(names)}")
        wanted = names[:count]
        for name in wanted:
            if name not in self.canary:
                if name not in self._ever:
                    self._ever.append(name)
                self.canary.append(name)
                self._switch(name, self.new, timeout)
        return list(self.canary)

    def _switch(self, name: str, rev: RevisionRecord, timeout: float) -> None:
        """Replace one replica by one of ``rev``, the way a rollout does, and wait until HAProxy sends it traffic."""
        t = self.target
        t.event_log.record("Normal", reasons.SCALING_REPLICA_SET, t._object("deployment"),
                           f"Replica {name} replaced by revision {rev.number} ({rev.version})")
        self._lb(name, "maint")
        t.supervisor.replace(name)  # a new pod: its crash loop counts from zero
        prepare_replicas(t.service, [name], {name: rev}, t.rollout.config(), restarted=True)
        t.supervisor.start(name)
        self._await_ready(name, rev, timeout)
        # back into the load balancer only once seen ready: a release that dies at its first request must not
        # die before anyone saw it ready. Its health check lets traffic in within a check interval.
        self._entered[name] = time.time()
        self._pids[name] = (self._pids_now() or {}).get(name, 0)  # restarted by us, not crashed
        self._admit(name)

    def _await_ready(self, name: str, rev: RevisionRecord, timeout: float) -> None:
        """Until the replica's own readiness endpoint answers 200 (TargetError after ``timeout``)."""
        t = self.target
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{t.port(name)}{t.profile.service.readiness_path}"
        while probes.http_status(url, timeout=0.5) != 200:
            if time.monotonic() > deadline:
                self._lb(name, "ready")  # its health checks keep it out while it is not ready
                raise TargetError(f"replica {name} on revision {rev.number} ({rev.version}) did not get ready "
                                  f"within {timeout:.0f}s")
            interrupts.pause(0.05)  # poll (a safe point)

    def _admit(self, name: str) -> None:
        """Into the load balancer's rotation; wait (a little) until its health check has it UP."""
        self._lb(name, "ready")
        settle = time.monotonic() + LB_SETTLE_S
        while not self._lb_up(name) and time.monotonic() < settle:
            interrupts.pause(0.05)  # poll (a safe point)

    def _lb(self, name: str, state: str) -> None:
        with contextlib.suppress(TargetError):  # the load balancer is down: nothing to drain, nothing sends traffic
            self.target.lb_runtime.set_state(name, state)

    def _lb_up(self, name: str) -> bool:
        try:
            return any(s.name == name and s.up for s in self.target.lb_runtime.servers())
        except TargetError:
            return False

    def _switched_away(self) -> dict[str, int]:
        runtime = self.target.lb_runtime
        try:
            return switched_away(runtime.command("show stat"), runtime.backend)
        except TargetError:
            return {}  # the load balancer is down: the log says what it served until then

    def _pids_now(self) -> dict[str, int] | None:
        """Each replica's pid as supervisor reports it (0: not running); None when the stack does not answer."""
        try:
            infos = self.target.supervisor.processes()
        except TargetError:
            return None
        return {name: int((infos.get(name) or {}).get("pid") or 0) for name in self.target.replica_names}

    def _count_crashes(self) -> None:
        """A replica whose process exited since it was last seen crashed: supervisor restarts it, and the request
        that killed it may have been answered by another replica after HAProxy's retry without any counter of
        HAProxy's saying so. One exit is one failure of its side (as a container restart is on a cluster)."""
        pids = self._pids_now()
        if pids is None:
            return  # the stack is down: the log and the counters say what was served until then
        for name, pid in pids.items():
            known = self._pids.setdefault(name, pid)
            if known and pid != known:  # exited (0 while backing off) or restarted between two looks
                self._crashes[name] = self._crashes.get(name, 0) + 1
            self._pids[name] = pid

    def mark(self) -> Window:
        if self._log is not None:
            self._log.read_new()  # what was logged until now belongs to earlier windows
        self._requests = []
        self._pids = self._pids_now() or {}
        self._crashes = {}
        return Window(time.time(), self._switched_away())

    def served(self, since: Window) -> tuple[Served, Served]:
        assert self._log is not None, "begin() first"
        self._requests += self._log.read_new()
        self._count_crashes()
        window = [r for r in self._requests if r.at >= since.at]
        now, before = self._switched_away(), since.position or {}

        def side(names: list[str]) -> Served:
            restarts = sum(self._crashes.get(n, 0) for n in names)
            away = sum(max(0, now.get(n, 0) - before.get(n, 0)) for n in names) + restarts
            out = replace(served(window, names, away), restarts=restarts)
            if away and out.first_at is None:  # every attempt went elsewhere: the first came once it was let in
                entered = [self._entered[n] for n in names if self._entered.get(n, 0) >= since.at]
                out = replace(out, first_at=min(entered, default=None))
            return out

        return side(self.canary), side([n for n in self.target.replica_names if n not in self.canary])

    def served_new(self) -> list[str]:
        return list(self._ever)

    # --- the end ---------------------------------------------------------------------------------------
    def promote(self, timeout: float) -> Revision:
        assert self.new is not None, "begin() first"
        for name in self.target.replica_names:
            if name not in self.canary:
                self._ever.append(name)
                self.canary.append(name)
                self._switch(name, self.new, timeout)
        self.target.event_log.record("Normal", reasons.SCALING_REPLICA_SET, self.target._object("deployment"),
                                     f"Canary promoted: every replica runs revision {self.new.number} "
                                     f"({self.new.version})")
        return self.new.public()

    def rollback(self, timeout: float) -> Revision:
        assert self.previous is not None, "begin() first"
        rev = self._restore(self.previous.version, self.previous.restarted_at, self.previous.number, timeout)
        self.canary = []
        return rev

    def undo(self, saved: dict[str, Any], timeout: float) -> Revision | None:
        return self._restore(str(saved["version"]), saved.get("restarted_at"), int(saved["revision"]), timeout)

    def _restore(self, version: str, restarted_at: float | None, number: int, timeout: float) -> Revision:
        """``rollout undo`` to the template (version, restart stamp), switching only the replicas not running it.

        A replica whose process is not up (running, or starting) is switched too, whatever its pod record says: a
        switch interrupted while supervisor was stopping it has not recorded its new pod yet, and would stay stopped.
        """
        t = self.target
        template = (version, restarted_at)
        match = [r for r in t.rollout.revisions() if r.template == template]
        if not match:
            raise TargetError(f"revision {number} ({version}) is no longer in the rollout history")
        if t.rollout.current().template != template:
            rev = t.rollout.record(version, restarted_at, f"rollback to revision {match[0].number}")
            t.event_log.record("Normal", reasons.DEPLOYMENT_ROLLBACK, t._object("deployment"),
                               f"Rolled back to revision {match[0].number} ({version})")
        else:
            rev = t.rollout.current()
        numbers = {rev.number, *rev.history}
        pods = self._pods()
        running = {n for n, info in t.supervisor.processes().items() if info.get("statename") in UP_STATES}
        for name in t.replica_names:
            if pods.get(name, {}).get("revision") not in numbers or name not in running:
                self._switch(name, rev, timeout)
                continue
            if pods[name]["revision"] != rev.number:  # same template, renumbered: the same pod, relabelled
                prepare_replicas(t.service, [name], {name: rev}, t.rollout.config())
            # a switch interrupted before its end may have left it starting (supervisor's RUNNING comes after its
            # start seconds, not once the service is ready) and out of the rotation: done once it serves again
            self._await_ready(name, rev, timeout)
            self._admit(name)
        return rev.public()


class LocalCanaries(LocalCore):
    """The local target's canary part."""

    def canary(self) -> CanaryDriver:
        """Replicas switched one at a time to the new release behind HAProxy, measured from its request log."""
        return LocalCanary(self)
