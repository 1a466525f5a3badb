"""The runbook's kubectl commands on the local target: each mapped to the equivalent Target call.

Names first: the deployment, service, label selector and namespace a command uses must be the
target's (the profile's ``kubernetes`` section, see :mod:`gameday.targets.kubernetes.cluster`); a wrong one is drift
(``kubectl get pods -l app=wrong`` would list 0 pods). Then the call must succeed and return something.
"""

from __future__ import annotations

from pathlib import Path

from gameday.config import Settings
from gameday.profile import Dependency, Profile
from gameday.runbook.command_check import DRIFT, NOT_RUN, OK, CommandCheck
from gameday.runbook.kubectl import KubectlCommand, dependency_check, parse
from gameday.runbook.parse import RunbookLine
from gameday.targets.base import Target
from gameday.targets.kubernetes.cluster import cluster


def selector_pairs(selector: str) -> set[tuple[str, str]]:
    """``app=a,tier=b`` → {("app", "a"), ("tier", "b")} (``==`` accepted)."""
    pairs = set()
    for part in selector.split(","):
        key, _, value = part.replace("==", "=").partition("=")
        if key.strip():
            pairs.add((key.strip(), value.strip()))
    return pairs


class LocalChecker:
    """Checks kubectl commands against the local target's Target calls."""

    def __init__(self, target: Target, settings: Settings, base_dir: Path | None = None) -> None:
        self.target = target
        self.kube = cluster(settings)
        self.profile = settings.service
        self.base_dir = base_dir or Path.cwd()

    def check(self, line: RunbookLine, rendered: str) -> CommandCheck:
        """The verdict on one command."""
        cmd = parse(rendered)

        def result(status: str, detail: str, ran: str = "") -> CommandCheck:
            return CommandCheck(line.line, line.where, line.text, rendered, status, detail, ran)

        drift = self.name_drift(cmd)
        if drift:
            return result(DRIFT, drift)
        if cmd.verb == "exec":
            return result(*self._exec(cmd))
        if cmd.mutating:
            return result(NOT_RUN, self._mutating_detail(cmd))
        call = {
            ("get", "pods"): self._pods,
            ("describe", "pods"): self._pods,
            ("get", "endpoints"): self._endpoints,
            ("describe", "endpoints"): self._endpoints,
            ("get", "services"): self._service,
            ("describe", "services"): self._service,
            ("get", "events"): self._events,
            ("rollout", "deployments"): self._rollout,
            ("get", "deployments"): self._rollout,
            ("describe", "deployments"): self._rollout,
            ("logs", "deployments"): self._logs,
            ("logs", "pods"): self._logs,
            ("get", "configmaps"): self._config,
        }.get((cmd.verb, cmd.resource))
        if call is None:
            return result(NOT_RUN, f"no local equivalent of 'kubectl {cmd.verb} {cmd.resource}': not run")
        status, detail, ran = call(cmd)
        return result(status, detail, ran)

    # --- names -------------------------------------------------------------------------------
    def name_drift(self, cmd: KubectlCommand) -> str:
        """Why the names a command uses are not the target's, or "" when they are."""
        kube = self.kube
        if cmd.namespace is not None and cmd.namespace != kube.namespace:
            return f"namespace {cmd.namespace!r} does not exist on the target (it uses {kube.namespace!r})"
        expected = {
            "deployments": kube.deployment,
            "services": kube.service,
            "endpoints": kube.service,
            "configmaps": kube.configmap,
        }.get(cmd.resource)
        if expected and cmd.name and cmd.name != expected:
            kind = cmd.resource.rstrip("s")
            return f"{kind} {cmd.name!r} does not exist on the target (it is {expected!r})"
        if cmd.selector is not None and not selector_pairs(cmd.selector) <= selector_pairs(kube.label_selector):
            return f"label selector {cmd.selector!r} matches 0 pods (the target's pods carry {kube.label_selector!r})"
        return ""

    # --- read-only equivalents -----------------------------------------------------------------
    def _pods(self, cmd: KubectlCommand) -> tuple[str, str, str]:
        replicas = self.target.replicas()
        if cmd.name:
            replicas = [r for r in replicas if r.name == cmd.name]
            if not replicas:
                return DRIFT, f"pod {cmd.name!r} does not exist on the target", "target.replicas()"
        if not replicas:
            return DRIFT, "0 pods", "target.replicas()"
        ready = sum(1 for r in replicas if r.ready)
        listing = ", ".join(f"{r.name} {r.phase}" for r in replicas)
        return OK, f"{len(replicas)} pods, {ready} ready: {listing}", "target.replicas()"

    def _endpoints(self, cmd: KubectlCommand) -> tuple[str, str, str]:
        endpoints = self.target.endpoints()
        if not endpoints:
            return DRIFT, "no endpoints", "target.endpoints()"
        ready = sum(1 for e in endpoints if e.ready)
        return OK, f"{len(endpoints)} endpoints, {ready} ready", "target.endpoints()"

    def _service(self, cmd: KubectlCommand) -> tuple[str, str, str]:
        lb = self.target.load_balancer()
        return OK, f"{lb.name} at {lb.url}: {lb.state}, {lb.ready_backends}/{lb.total_backends} backends ready", (
            "target.load_balancer()"
        )

    def _events(self, cmd: KubectlCommand) -> tuple[str, str, str]:
        limit = 20
        for pipe in cmd.pipe:
            if pipe and pipe[0] == "head":
                limit = _head_count(pipe, limit)
        events = self.target.events(limit)
        if not events:
            return DRIFT, "no events", f"target.events({limit})"
        return OK, f"{len(events)} events, latest: {events[-1].reason} {events[-1].object}", f"target.events({limit})"

    def _rollout(self, cmd: KubectlCommand) -> tuple[str, str, str]:
        if cmd.verb == "rollout" and cmd.subverb not in ("history", "status"):
            return NOT_RUN, f"no local equivalent of 'rollout {cmd.subverb}'", ""
        history = self.target.history()
        if not history:
            return DRIFT, "no rollout history", "target.history()"
        latest = history[-1]
        return OK, f"{len(history)} revisions, latest {latest.number} ({latest.version})", "target.history()"

    def _logs(self, cmd: KubectlCommand) -> tuple[str, str, str]:
        tail = 100
        for word in cmd.args:
            if word.startswith("--tail="):
                tail = int(word.split("=", 1)[1] or 100)
        replica = cmd.name if cmd.resource == "pods" else None
        lines = self.target.logs(replica, tail)
        ran = f"target.logs({replica!r}, {tail})"
        if not lines:
            return DRIFT, "no log lines", ran
        follow = " (-f not followed)" if cmd.follow else ""
        return OK, f"{len(lines)} log lines{follow}", ran

    def _config(self, cmd: KubectlCommand) -> tuple[str, str, str]:
        config = self.target.config()
        return (OK if config else DRIFT), f"{len(config)} configuration keys", "target.config()"

    def _exec(self, cmd: KubectlCommand) -> tuple[str, str, str]:
        """``exec POD -- pg_isready ...``: the pod must exist; the check runs as the Target's own, on the profile's
        dependency of that kind, and the address the command names must be the one the service is configured with."""
        replicas = {r.name for r in self.target.replicas()}
        if cmd.name not in replicas:
            return DRIFT, f"pod {cmd.name!r} does not exist on the target", "target.replicas()"
        if not cmd.remote:
            return NOT_RUN, "exec without a command: not run", ""
        found = dependency_check(cmd)
        if found is None:
            return NOT_RUN, f"exec of {cmd.remote[0]!r}: no local equivalent, not run", ""
        kind, given = found
        candidates = [d for d in self.profile.dependencies if d.kind == kind.kind]
        if not candidates:
            return DRIFT, f"{self.profile.service.name} has no {kind.label} dependency ({kind.kind})", ""
        config = self.target.config()
        configured = {d.name: _configured(self.profile, d, kind.address_option[1], config) for d in candidates}
        dep = next((d for d in candidates if given and configured[d.name][1] == given), candidates[0])
        key, wanted = configured[dep.name]
        if given and wanted and given != wanted:
            flag = kind.address_option[0]
            return DRIFT, f"{flag} {given} is not the target's {key} ({wanted})", "target.config()"
        check = self.target.check_dependency(dep.name, timeout=dep.check_timeout_s)
        answer = "OK" if check.ok else "NOT OK"
        detail = f"{dep.name} {answer} in {check.latency_s * 1000:.0f} ms: {check.detail}"
        return OK, detail, f"target.check_dependency({dep.name!r})  # {check.command}"

    def _mutating_detail(self, cmd: KubectlCommand) -> str:
        what = f"{cmd.verb} {cmd.subverb}".strip()
        if cmd.verb == "apply" and cmd.filename:
            path = Path(cmd.filename)
            where = path if path.is_absolute() else self.base_dir / path
            exists = "exists" if where.exists() else "not found (the runbook does not say where it comes from)"
            return f"not run (mutating): {what}; file {cmd.filename} {exists}"
        if cmd.verb == "rollout":
            equivalent = self.target.command_for(what)
            return f"not run (mutating): names match the target; local equivalent: {equivalent}"
        return f"not run (mutating): {what}"


def _configured(profile: Profile, dep: Dependency, attribute: str, config: dict[str, str]) -> tuple[str, str]:
    """(key, value) of the live configuration key the profile fills with ``{<dep>.<attribute>}`` (the service's
    DB_HOST for ``{postgres.host}``); ("", "") when it has none."""
    template = f"{{{dep.name}.{attribute}}}"
    keys = [k for k, v in (profile.local.config if profile.local else {}).items() if v.strip() == template]
    return next(((k, config[k]) for k in keys if k in config), ("", ""))


def _head_count(words: list[str], default: int) -> int:
    for word in words[1:]:
        digits = word.lstrip("-n").lstrip("=")
        if digits.isdigit():
            return int(digits)
    return default
