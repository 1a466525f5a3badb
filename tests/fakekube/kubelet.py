"""Simulated kubelet (+ scheduler): pods go Pending -> Running, containers become ready or not
according to pluggable *behaviour rules*, crash-loop, restart, log, and terminate.

Part 1 is the generic machinery (rule protocol, env resolution, pod status, crash loops, logs).
Part 2 holds the built-in generic rule (images tagged ``*-broken`` crash-loop).
Part 3 holds the rules of the ecommerce scenario (``app=ecommerce-backend``), kept apart so that
they can be switched off or replaced.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .api import CONFIGMAPS, DEPLOYMENTS, NETPOLS, PODS, SERVICES, STATEFULSETS, Api
from .defaults import IpAllocator
from .events import NODE_NAME, EventRecorder
from .logs import LogStore
from .rules import RuleSet
from .selectors import map_selector_matches, selector_object_matches
from .store import Obj, jcopy
from .timefmt import now, rfc3339

NODE_IP = "10.0.0.10"

# =====================================================================================================
# Part 1: generic machinery
# =====================================================================================================


@dataclass(frozen=True)
class Verdict:
    """What a rule says about a pod right now.

    ``ready=False`` makes every container of the pod not ready (a failing readiness probe);
    ``crashing`` names containers that exit at once and crash-loop; ``message`` explains a failure
    (it becomes the ``Unhealthy`` event and pod condition message); ``logs`` are lines the
    application prints while in this state (repeated every ``KubeletConfig.log_repeat`` seconds).
    """

    ready: bool = True
    crashing: frozenset[str] = frozenset()
    message: str = ""
    logs: tuple[str, ...] = ()


@dataclass
class PodContext:
    """What a rule may look at: the pod, its env as resolved at container start, and the cluster."""

    pod: Obj
    env: dict[str, dict[str, str]]  # container name -> env snapshot taken when the container started
    api: Api

    @property
    def namespace(self) -> str:
        return self.pod["metadata"]["namespace"]

    @property
    def labels(self) -> dict[str, str]:
        return self.pod["metadata"].get("labels") or {}

    def configmaps(self) -> dict[str, Obj]:
        """ConfigMaps of the pod's namespace, by name (live; read-only)."""
        return {c["metadata"]["name"]: c for c in self.api.store.view(CONFIGMAPS, self.namespace)}

    def service(self, name: str) -> Obj | None:
        return self.api.store.get(SERVICES, self.namespace, name)

    def ready_pods_of_service(self, name: str) -> list[Obj]:
        """Ready, non-terminating pods behind a Service (what its endpoints would list)."""
        svc = self.service(name)
        if svc is None:
            return []
        selector = svc["spec"].get("selector")
        return [
            p
            for p in self.api.store.view(PODS, self.namespace)
            if map_selector_matches(selector, p["metadata"].get("labels"))
            and "deletionTimestamp" not in p["metadata"]
            and pod_is_ready(p)
        ]

    def workload(self, name: str) -> Obj | None:
        """The StatefulSet or Deployment called ``name`` in the pod's namespace."""
        return self.api.store.get(STATEFULSETS, self.namespace, name) or self.api.store.get(
            DEPLOYMENTS, self.namespace, name
        )

    def network_policies(self) -> list[Obj]:
        """NetworkPolicies of the pod's namespace (read-only)."""
        return self.api.store.view(NETPOLS, self.namespace)


Rule = Callable[[PodContext], Verdict | None]
#: ``(pod, container, env) -> lines`` printed when a container starts
StartLogger = Callable[[Obj, Obj, dict[str, str]], list[str]]


@dataclass
class KubeletConfig:
    """Timings of the simulation (seconds); the defaults keep tests fast."""

    start_delay: float = 0.0  # scheduled -> Running
    crash_backoff: float = 0.25  # first back-off of a crash-looping container (doubles)
    crash_backoff_max: float = 2.0
    log_repeat: float = 1.0  # repeat interval of failure log lines
    termination_delay: float = 0.0  # how long a gracefully deleted pod stays Terminating


@dataclass
class _PodState:
    scheduled_at: float
    started_at: float | None = None
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    next_crash: dict[str, float] = field(default_factory=dict)
    backoff: dict[str, float] = field(default_factory=dict)
    message: str | None = None
    last_log: float = 0.0
    terminating_since: float | None = None


def pod_is_ready(pod: Obj) -> bool:
    """The pod's Ready condition."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _container_id(pod_uid: str, name: str, restarts: int) -> str:
    return "containerd://" + hashlib.sha256(f"{pod_uid}/{name}/{restarts}".encode()).hexdigest()


def _image_id(image: str) -> str:
    repo = image.split("@", 1)[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    full = repo if "/" in repo else f"docker.io/library/{repo}"
    return f"{full}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


class ConfigError(Exception):
    """A container cannot be configured (``CreateContainerConfigError``)."""


def resolve_env(
    container: Obj, pod: Obj, configmaps: dict[str, Obj], secrets: dict[str, Obj]
) -> dict[str, str]:
    """Resolve ``env`` and ``envFrom`` the way the kubelet does at container start."""
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        for ref_key, store in (("configMapRef", configmaps), ("secretRef", secrets)):
            ref = src.get(ref_key)
            if not ref:
                continue
            obj = store.get(ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                kind = "configmap" if ref_key == "configMapRef" else "secret"
                raise ConfigError(f'{kind} "{ref.get("name")}" not found')
            for k, v in (obj.get("data") or {}).items():
                env[prefix + k] = v
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = item.get("value") or ""
            continue
        source = item.get("valueFrom") or {}
        if "configMapKeyRef" in source or "secretKeyRef" in source:
            is_cm = "configMapKeyRef" in source
            ref = source["configMapKeyRef" if is_cm else "secretKeyRef"]
            obj = (configmaps if is_cm else secrets).get(ref.get("name", ""))
            value = (obj or {}).get("data", {}).get(ref.get("key", "")) if obj else None
            if value is None:
                if ref.get("optional"):
                    continue
                kind = "configmap" if is_cm else "secret"
                where = f"{pod['metadata']['namespace']}/{ref.get('name')}"
                what = (
                    f'{kind} "{ref.get("name")}" not found'
                    if obj is None
                    else f"couldn't find key {ref.get('key')} in {kind} {where}"
                )
                raise ConfigError(what)
            env[item["name"]] = value
        elif "fieldRef" in source:
            path = source["fieldRef"].get("fieldPath", "")
            values = {
                "metadata.name": pod["metadata"]["name"],
                "metadata.namespace": pod["metadata"]["namespace"],
                "spec.nodeName": NODE_NAME,
                "status.podIP": (pod.get("status") or {}).get("podIP", ""),
            }
            env[item["name"]] = values.get(path, "")
        else:
            env[item["name"]] = ""
    return env


class Kubelet:
    """Drives every pod's status; call :meth:`sync` periodically (the controller loop does)."""

    def __init__(
        self, api: Api, recorder: EventRecorder, logs: LogStore, config: KubeletConfig | None = None
    ):
        self.api = api
        self.recorder = recorder
        self.logs = logs
        self.config = config or KubeletConfig()
        self.pod_ips = IpAllocator("10.244", first=2)
        self._rules: RuleSet[Rule] = RuleSet()
        self._start_loggers: RuleSet[StartLogger] = RuleSet()
        self._states: dict[str, _PodState] = {}
        self._lock = threading.RLock()
        api.on_pod_removed.append(self._forget)

    # -- rules -----------------------------------------------------------------------------------------
    def add_rule(self, rule: Rule, name: str | None = None) -> Callable[[], None]:
        """Register a behaviour rule; returns a function that removes it again."""
        return self._rules.add(rule, name or getattr(rule, "__name__", "rule"))

    def add_readiness_check(
        self,
        fn: Callable[[Obj, dict[str, Obj]], bool],
        name: str | None = None,
        message: str = "HTTP probe failed with statuscode: 503",
    ) -> Callable[[], None]:
        """Register ``fn(pod, configmaps) -> ready``; evaluated live on every sync."""

        def rule(ctx: PodContext) -> Verdict | None:
            return None if fn(ctx.pod, ctx.configmaps()) else Verdict(ready=False, message=message)

        return self.add_rule(rule, name or getattr(fn, "__name__", "readiness-check"))

    def add_start_logger(self, fn: StartLogger) -> Callable[[], None]:
        """Register ``fn(pod, container, env) -> lines`` printed when a container starts."""
        return self._start_loggers.add(fn, getattr(fn, "__name__", "start-logger"))

    def rule_names(self) -> list[str]:
        return self._rules.names()

    def evaluate(self, ctx: PodContext) -> Verdict:
        """Combine every rule: ready only if all agree, crashing containers and messages add up."""
        ready, crashing, messages, lines = True, set(), [], []
        for rule in self._rules.items():
            verdict = rule(ctx)
            if verdict is None:
                continue
            ready = ready and verdict.ready
            crashing |= set(verdict.crashing)
            if verdict.message:
                messages.append(verdict.message)
            lines.extend(verdict.logs)
        return Verdict(
            ready=ready, crashing=frozenset(crashing), message="; ".join(messages), logs=tuple(lines)
        )

    # -- logs ------------------------------------------------------------------------------------------
    def append_log(self, namespace: str, pod: str, line: str, container: str | None = None) -> None:
        """Append a line to a pod's container log (first container by default)."""
        if container is None:
            obj = self.api.get(PODS, namespace, pod)
            container = obj["spec"]["containers"][0]["name"]
        self.logs.append(namespace, pod, container, line)

    def _forget(self, pod: Obj) -> None:
        with self._lock:
            state = self._states.pop(pod["metadata"]["uid"], None)
        if state is not None and state.started_at is not None and state.terminating_since is None:
            # force-deleted (grace period 0): the kubelet still stops the containers it runs, and says so
            for c in pod["spec"]["containers"]:
                self._event(pod, "Killing", f"Stopping container {c['name']}", container=c["name"])
        self.logs.forget(pod["metadata"]["namespace"], pod["metadata"]["name"])

    # -- the loop --------------------------------------------------------------------------------------
    def sync(self) -> None:
        """One pass over every pod; each pod moves at most one lifecycle step per pass."""
        t = now()
        with self.api.store.lock:
            for pod in self.api.store.view(PODS):
                current = self.api.store.peek(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
                if current is not None:
                    self._sync_pod(jcopy(current), t)

    def _state(self, pod: Obj, t: float) -> _PodState:
        uid = pod["metadata"]["uid"]
        with self._lock:
            if uid not in self._states:
                self._states[uid] = _PodState(scheduled_at=t)
            return self._states[uid]

    def _write(self, pod: Obj) -> None:
        self.api.update(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], pod, internal=True)

    def _event(
        self,
        pod: Obj,
        reason: str,
        message: str,
        *,
        type: str = "Normal",
        container: str | None = None,
        component: str = "kubelet",
    ) -> None:
        field_path = f"spec.containers{{{container}}}" if container else None
        self.recorder.record(pod, reason, message, type=type, component=component, field_path=field_path)

    def _sync_pod(self, pod: Obj, t: float) -> None:
        meta = pod["metadata"]
        state = self._state(pod, t)
        if "deletionTimestamp" in meta:
            self._terminate(pod, state, t)
        elif not pod["spec"].get("nodeName"):
            self._schedule(pod, state, t)
        elif state.started_at is None:
            if t >= state.scheduled_at + self.config.start_delay:
                self._start(pod, state, t)
        else:
            self._run(pod, state, t)

    def _terminate(self, pod: Obj, state: _PodState, t: float) -> None:
        if state.terminating_since is None:
            state.terminating_since = t
            for c in pod["spec"]["containers"]:
                if state.started_at is not None:
                    self._event(pod, "Killing", f"Stopping container {c['name']}", container=c["name"])
        if t >= state.terminating_since + self.config.termination_delay:
            self.api.remove(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])

    def _schedule(self, pod: Obj, state: _PodState, t: float) -> None:
        pod["spec"]["nodeName"] = NODE_NAME
        state.scheduled_at = t
        status = pod.setdefault("status", {})
        status["phase"] = "Pending"
        status["conditions"] = [self._cond("PodScheduled", True, t)]
        self._write(pod)
        meta = pod["metadata"]
        self._event(
            pod,
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {NODE_NAME}",
            component="default-scheduler",
        )
        # the kubelet now reports ContainerCreating
        pod = self.api.store.get(PODS, meta["namespace"], meta["name"]) or pod
        status = pod["status"]
        status.update(hostIP=NODE_IP, hostIPs=[{"ip": NODE_IP}], startTime=rfc3339(t))
        status["conditions"] = self._conditions(
            t,
            scheduled=True,
            initialized=True,
            ready=False,
            sandbox=False,
            pod=pod,
            not_ready=[c["name"] for c in pod["spec"]["containers"]],
        )
        status["containerStatuses"] = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {"waiting": {"reason": "ContainerCreating"}},
            }
            for c in pod["spec"]["containers"]
        ]
        self._write(pod)

    @staticmethod
    def _cond(ctype: str, ok: bool, t: float, reason: str | None = None, message: str | None = None) -> Obj:
        cond: Obj = {"type": ctype, "status": "True" if ok else "False", "lastTransitionTime": rfc3339(t)}
        if reason:
            cond["reason"] = reason
        if message:
            cond["message"] = message
        return cond

    def _conditions(
        self,
        t: float,
        *,
        scheduled: bool,
        initialized: bool,
        ready: bool,
        sandbox: bool,
        pod: Obj,
        not_ready: list[str],
    ) -> list[Obj]:
        old = {c["type"]: c for c in (pod.get("status") or {}).get("conditions") or []}

        def cond(ctype: str, ok: bool, reason: str | None = None, message: str | None = None) -> Obj:
            new = self._cond(ctype, ok, t, reason, message)
            prev = old.get(ctype)
            if prev is not None and prev.get("status") == new["status"]:
                new["lastTransitionTime"] = prev.get("lastTransitionTime", new["lastTransitionTime"])
            return new

        msg = f"containers with unready status: [{' '.join(not_ready)}]" if not_ready else None
        return [
            cond("PodReadyToStartContainers", sandbox),
            cond("Initialized", initialized),
            cond("Ready", ready, None if ready else "ContainersNotReady", msg),
            cond("ContainersReady", ready, None if ready else "ContainersNotReady", msg),
            cond("PodScheduled", scheduled),
        ]

    def _start(self, pod: Obj, state: _PodState, t: float) -> None:
        meta = pod["metadata"]
        ns = meta["namespace"]
        configmaps = {c["metadata"]["name"]: c for c in self.api.store.view(CONFIGMAPS, ns)}
        from .resources import BY_KEY

        secrets = {s["metadata"]["name"]: s for s in self.api.store.view(BY_KEY[("", "secrets")], ns)}
        env: dict[str, dict[str, str]] = {}
        for c in pod["spec"]["containers"]:
            try:
                env[c["name"]] = resolve_env(c, pod, configmaps, secrets)
            except ConfigError as exc:
                self._config_error(pod, c["name"], str(exc), t)
                return
        state.env = env
        state.started_at = t
        status = pod["status"]
        status["phase"] = "Running"
        status.pop("reason", None)
        status.pop("message", None)
        if not status.get("podIP"):
            ip = self.pod_ips.allocate()
            status["podIP"] = ip
            status["podIPs"] = [{"ip": ip}]
        status["containerStatuses"] = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": _image_id(c.get("image", "")),
                "containerID": _container_id(meta["uid"], c["name"], 0),
                "ready": False,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": rfc3339(t)}},
            }
            for c in pod["spec"]["containers"]
        ]
        for c in pod["spec"]["containers"]:
            self._event(
                pod,
                "Pulled",
                f'Container image "{c.get("image")}" already present on machine',
                container=c["name"],
            )
            self._event(pod, "Created", f"Created container: {c['name']}", container=c["name"])
            self._event(pod, "Started", f"Started container {c['name']}", container=c["name"])
            self.logs.append(ns, meta["name"], c["name"], f"{c['name']} starting (image {c.get('image')})", t)
            for logger in self._start_loggers.items():
                for line in logger(pod, c, env[c["name"]]):
                    self.logs.append(ns, meta["name"], c["name"], line, t)
        self._apply_verdict(pod, state, t, first=True)

    def _config_error(self, pod: Obj, container: str, message: str, t: float) -> None:
        status = pod["status"]
        for cs in status.get("containerStatuses") or []:
            if cs["name"] == container:
                if (cs.get("state") or {}).get("waiting", {}).get("reason") == "CreateContainerConfigError":
                    return
                cs["state"] = {"waiting": {"reason": "CreateContainerConfigError", "message": message}}
        self._write(pod)
        self._event(pod, "Failed", f"Error: {message}", type="Warning", container=container)

    def _run(self, pod: Obj, state: _PodState, t: float) -> None:
        self._apply_verdict(pod, state, t, first=False)

    def _apply_verdict(self, pod: Obj, state: _PodState, t: float, *, first: bool) -> None:
        meta = pod["metadata"]
        ns, name = meta["namespace"], meta["name"]
        verdict = self.evaluate(PodContext(pod=pod, env=state.env, api=self.api))
        status = pod["status"]
        before = repr(status)
        not_ready: list[str] = []
        for cs in status["containerStatuses"]:
            cname = cs["name"]
            if cname in verdict.crashing:
                self._crash_step(pod, cs, state, t, first)
                not_ready.append(cname)
                continue
            if "running" not in (cs.get("state") or {}):
                # a container that stopped crashing (e.g. its image was fixed in place) starts again
                cs["state"] = {"running": {"startedAt": rfc3339(t)}}
                cs["started"] = True
                cs["restartCount"] = cs.get("restartCount", 0) + 1
                state.next_crash.pop(cname, None)
                state.backoff.pop(cname, None)
            cs["ready"] = verdict.ready
            if not verdict.ready:
                not_ready.append(cname)
        ready = not not_ready
        status["conditions"] = self._conditions(
            t, scheduled=True, initialized=True, ready=ready, sandbox=True, pod=pod, not_ready=not_ready
        )
        failure = None if verdict.ready else (verdict.message or "readiness probe failed")
        if failure != state.message:
            if failure is not None:
                for cs in status["containerStatuses"]:
                    if cs["name"] not in verdict.crashing:
                        self._event(
                            pod,
                            "Unhealthy",
                            f"Readiness probe failed: {failure}",
                            type="Warning",
                            container=cs["name"],
                        )
            state.message = failure
        if verdict.logs and (first or t - state.last_log >= self.config.log_repeat or repr(status) != before):
            main = pod["spec"]["containers"][0]["name"]
            for line in verdict.logs:
                if main not in verdict.crashing:
                    self.logs.append(ns, name, main, line, t)
            state.last_log = t
        if repr(status) != before:
            self._write(pod)

    def _crash_step(self, pod: Obj, cs: Obj, state: _PodState, t: float, first: bool) -> None:
        meta = pod["metadata"]
        cname = cs["name"]
        due = state.next_crash.get(cname)
        if due is not None and t < due:
            return
        image = cs.get("image", "")
        restarts = cs.get("restartCount", 0)
        if due is not None:  # the back-off expired: the container is started again and crashes again
            restarts += 1
            self.logs.restart(meta["namespace"], meta["name"], cname)
            self.logs.append(meta["namespace"], meta["name"], cname, f"{cname} starting (image {image})", t)
            self._event(
                pod, "Pulled", f'Container image "{image}" already present on machine', container=cname
            )
            self._event(pod, "Started", f"Started container {cname}", container=cname)
        for line in crash_log_lines(cname, image):
            self.logs.append(meta["namespace"], meta["name"], cname, line, t)
        backoff = min(
            state.backoff.get(cname, self.config.crash_backoff / 2) * 2, self.config.crash_backoff_max
        )
        state.backoff[cname] = backoff
        state.next_crash[cname] = t + backoff
        started = (cs.get("state") or {}).get("running", {}).get("startedAt") or rfc3339(t)
        cs.update(
            ready=False,
            started=False,
            restartCount=restarts,
            containerID=_container_id(meta["uid"], cname, restarts),
            lastState={
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": started,
                    "finishedAt": rfc3339(t),
                    "containerID": _container_id(meta["uid"], cname, restarts),
                }
            },
            state={
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {_fmt_backoff(backoff)} restarting failed "
                    f"container={cname} pod={meta['name']}_{meta['namespace']}"
                    f"({meta['uid']})",
                }
            },
        )
        self._event(
            pod,
            "BackOff",
            f"Back-off restarting failed container {cname} in pod "
            f"{meta['name']}_{meta['namespace']}({meta['uid']})",
            type="Warning",
            container=cname,
        )


def _fmt_backoff(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"


def crash_log_lines(container: str, image: str) -> list[str]:
    """What a crashing container prints before it exits."""
    return [f"FATAL {container} crashed: unrecoverable error during startup (image {image}); exit status 1"]


# =====================================================================================================
# Part 2: generic built-in rules
# =====================================================================================================


def image_tag(image: str) -> str:
    """The tag of an image reference ('' when there is none)."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def broken_image_rule(ctx: PodContext) -> Verdict | None:
    """Any container whose image tag ends in ``-broken`` crash-loops."""
    broken = frozenset(
        c["name"] for c in ctx.pod["spec"]["containers"] if image_tag(c.get("image", "")).endswith("-broken")
    )
    if not broken:
        return None
    return Verdict(ready=False, crashing=broken, message="container crashed")


#: the label gameday's freeze fault puts on a pod (with a NetworkPolicy denying its ingress); the simulation
#: treats it as what it stands for, a frozen process: only the simulation reads it, never what gameday diagnoses
GAMEDAY_FROZEN_LABEL = "gameday.io/frozen"


def probe_timeout_message(pod: Obj) -> str:
    """What a real kubelet writes when an HTTP readiness probe gets no answer within its timeoutSeconds."""
    ip = (pod.get("status") or {}).get("podIP", "")
    container = pod["spec"]["containers"][0]
    port = next((p.get("containerPort") for p in container.get("ports") or []), 8000)
    path = ((container.get("readinessProbe") or {}).get("httpGet") or {}).get("path", "/readyz")
    return f'Get "http://{ip}:{port}{path}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'


class FrozenPods:
    """Containers whose process is frozen (``kill -STOP 1`` in the container, a deadlock, a stuck GC): the process
    runs and its socket accepts connections, but nothing answers, so every readiness probe times out.

    A pod is frozen by :meth:`freeze` (what a test does "by hand": the fake cannot exec into containers) or by
    carrying gameday's freeze label."""

    def __init__(self) -> None:
        self._uids: set[str] = set()
        self._lock = threading.Lock()

    def freeze(self, pod: Obj) -> None:
        with self._lock:
            self._uids.add(pod["metadata"]["uid"])

    def thaw(self, pod: Obj) -> None:
        with self._lock:
            self._uids.discard(pod["metadata"]["uid"])

    def is_frozen(self, pod: Obj) -> bool:
        labels = pod["metadata"].get("labels") or {}
        with self._lock:
            return pod["metadata"]["uid"] in self._uids or labels.get(GAMEDAY_FROZEN_LABEL) == "true"

    def rule(self, ctx: PodContext) -> Verdict | None:
        """A frozen container: not ready, its probe timing out; it prints nothing while frozen."""
        if not self.is_frozen(ctx.pod):
            return None
        return Verdict(ready=False, message=probe_timeout_message(ctx.pod))


GENERIC_RULES: tuple[tuple[str, Rule], ...] = (("broken-image", broken_image_rule),)


# =====================================================================================================
# Part 3: the ecommerce scenario (pods labelled app=ecommerce-backend)
# =====================================================================================================


@dataclass(frozen=True)
class EcommerceRules:
    """Readiness of ``app=ecommerce-backend`` pods depends on their config and on postgres.

    * config (as resolved when the container started, so a ConfigMap fix needs a restart):
      ``DB_HOST`` must name the postgres Service (``postgres`` or its FQDN), else not ready;
    * dependency (live): the postgres Service must have a ready pod (scaling the postgres
      StatefulSet/Deployment to 0 makes the backend not ready);
    * network (live): a NetworkPolicy selecting the pod that restricts Egress without allowing
      postgres:5432 makes the backend not ready. As on a network plugin that enforces policies (Calico, Cilium),
      the denied packets are dropped, not refused: the backend's connection times out, and its log says only that
      (an application cannot know which policy, or that any policy, dropped its packets).
    """

    app: str = "ecommerce-backend"
    postgres_service: str = "postgres"
    postgres_port: int = 5432

    def applies(self, ctx: PodContext) -> bool:
        return ctx.labels.get("app") == self.app

    def _host_is_postgres(self, host: str, namespace: str) -> bool:
        host = host.split(":", 1)[0].rstrip(".")
        svc = self.postgres_service
        return host in (
            svc,
            f"{svc}.{namespace}",
            f"{svc}.{namespace}.svc",
            f"{svc}.{namespace}.svc.cluster.local",
        )

    def config_rule(self, ctx: PodContext) -> Verdict | None:
        if not self.applies(ctx):
            return None
        env = next(iter(ctx.env.values()), {})
        host = env.get("DB_HOST")
        if host is None:
            return Verdict(
                ready=False,
                message="HTTP probe failed with statuscode: 503",
                logs=("ERROR DB_HOST is not set; cannot connect to the database",),
            )
        if not self._host_is_postgres(host, ctx.namespace):
            exists = ctx.service(host.split(":", 1)[0].split(".", 1)[0]) is not None
            why = (
                f'connection to server at "{host}", port {self.postgres_port} failed: Connection refused'
                if exists
                else f'could not translate host name "{host}" to address: Name or service not known'
            )
            return Verdict(
                ready=False,
                message="HTTP probe failed with statuscode: 503",
                logs=(f"ERROR postgres: {why}",),
            )
        return None

    def dependency_rule(self, ctx: PodContext) -> Verdict | None:
        if not self.applies(ctx):
            return None
        if ctx.ready_pods_of_service(self.postgres_service):
            return None
        return Verdict(
            ready=False,
            message="HTTP probe failed with statuscode: 503",
            logs=(f"ERROR postgres: Connection refused ({self.postgres_service}:{self.postgres_port})",),
        )

    def network_rule(self, ctx: PodContext) -> Verdict | None:
        if not self.applies(ctx):
            return None
        postgres_pods = ctx.ready_pods_of_service(self.postgres_service)
        isolating = [  # policies add up: egress is denied only when none of those selecting the pod allows it
            np for np in ctx.network_policies()
            if "Egress" in ((np.get("spec") or {}).get("policyTypes") or [])
            and selector_object_matches((np.get("spec") or {}).get("podSelector"), ctx.labels)
        ]
        if isolating and not any(
            _egress_allows(np["spec"].get("egress") or [], postgres_pods, self.postgres_port) for np in isolating
        ):
            address = ((ctx.service(self.postgres_service) or {}).get("spec") or {}).get("clusterIP", "")
            return Verdict(  # its readiness checks postgres with a timeout shorter than the probe's: a 503
                ready=False,
                message="HTTP probe failed with statuscode: 503",
                logs=(
                    f'ERROR postgres: connection to server at "{self.postgres_service}" ({address}), '
                    f"port {self.postgres_port} failed: timeout expired",
                ),
            )
        return None

    def start_lines(self, pod: Obj, container: Obj, env: dict[str, str]) -> list[str]:
        """What the backend prints when it starts."""
        if (pod["metadata"].get("labels") or {}).get("app") != self.app:
            return []
        return ecommerce_start_lines(pod, env)

    def rules(self) -> Iterable[tuple[str, Rule]]:
        return (
            ("ecommerce-config", self.config_rule),
            ("ecommerce-postgres", self.dependency_rule),
            ("ecommerce-network", self.network_rule),
        )


def _egress_allows(rules: list[Obj], targets: list[Obj], port: int) -> bool:
    for rule in rules:
        ports = rule.get("ports") or []
        if ports and not any(p.get("port") in (port, str(port)) for p in ports):
            continue
        peers = rule.get("to") or []
        if not peers:
            return True
        for peer in peers:
            if "ipBlock" in peer:
                return True
            if "podSelector" in peer and any(
                selector_object_matches(peer["podSelector"], t["metadata"].get("labels")) for t in targets
            ):
                return True
            if "namespaceSelector" in peer and "podSelector" not in peer:
                return True
    return False


def ecommerce_start_lines(pod: Obj, env: dict[str, str]) -> list[str]:
    """What an ecommerce backend prints when it starts."""
    version = env.get("APP_VERSION") or image_tag(pod["spec"]["containers"][0].get("image", ""))
    return [
        f"INFO ecommerce-backend {version} starting",
        f"INFO config: DB_HOST={env.get('DB_HOST')} REDIS_HOST={env.get('REDIS_HOST')} "
        f"KAFKA_BOOTSTRAP={env.get('KAFKA_BOOTSTRAP')}",
        "INFO Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)",
    ]
