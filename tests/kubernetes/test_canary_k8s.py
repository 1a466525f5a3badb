"""The Kubernetes canary against the fake API server: the canary Deployment behind the same Service, sized by
replica ratio, promotion as the primary's next revision, rollback and undo leaving the primary's revision; and whole
canaries judged from each pod's own counters read through the pod proxy, with the load sent through the Service
proxy (the fake's pods answer HTTP: a ``-slow`` image 150 ms later, a rule can make one fail every call)."""
# ruff: noqa: F811  (pytest fixtures imported from driver_support are redefined as test arguments)

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gameday.canary.run import Plan, run_canary
from gameday.canary.scenarios import load as load_scenarios
from gameday.canary.scenarios import run_scenarios
from gameday.config import KubernetesSettings, Settings
from gameday.errors import UsageError
from gameday.ledger import Ledger
from gameday.profile import DEFAULT_PROFILE
from gameday.runbook.package import find
from gameday.targets.kubernetes.canary import PRIMARY_REPLICAS, TRACK, KubernetesCanary
from gameday.targets.kubernetes.target import KubernetesTarget
from gameday.targets.model import TargetError

from ..fakekube import FakeKube
from ..fakekube.apps import Answer
from ..helpers import interrupt_when
from .conftest import BACKEND, KubeTarget, wait_for
from .driver_support import gameday_cli, k8s_settings, kube_flags, target, wait_backend_ok  # noqa: F401 (fixtures)

pytestmark = pytest.mark.kubernetes
CANARY = f"{BACKEND}-canary"
ALLOW = {"GAMEDAY_SAFETY__ALLOW_PRODUCTION": "true"}  # the fake's namespace is production


@pytest.fixture
def canary(target: KubernetesTarget, kube: KubeTarget) -> Iterator[KubernetesCanary]:
    driver = target.canary()
    assert isinstance(driver, KubernetesCanary)
    try:
        yield driver
    finally:
        target.canary().undo({"primary_replicas": 3}, timeout=30)  # whatever the test left
        wait_backend_ok(kube)


def deployments(kube: KubeTarget) -> dict[str, object]:
    return {d.metadata.name: d for d in kube.apps().list_namespaced_deployment(kube.namespace).items}


def service_backends(kube: KubeTarget) -> set[str]:
    endpoints = kube.core().read_namespaced_endpoints(BACKEND, kube.namespace)
    return {a.target_ref.name for s in endpoints.subsets or [] for a in s.addresses or []}


def revisions(target: KubernetesTarget) -> list[tuple[int, str, str | None]]:
    """The primary's revisions by number, version and pod-template hash. Not their dates: a revision brought back by
    an undo is dated by the controller's last write to its ReplicaSet (``managedFields``), and scaling the primary
    for the canary is such a write, on a real cluster too (measured in a clean-clone run, after an earlier test's
    undo); the canary must add no revision, which these say."""
    return [(r.number, r.version, r.config_hash) for r in target.history()]


def test_canary_deployment_behind_the_same_service_sized_by_ratio(target: KubernetesTarget, kube: KubeTarget,
                                                                  canary: KubernetesCanary) -> None:
    history = target.history()
    before = revisions(target)
    good = target.profile.local.releases[0]  # type: ignore[union-attr]
    canary.begin(good, "gameday canary test")
    pods = canary.set_canary_replicas(1, timeout=30)
    assert len(pods) == 1
    found = deployments(kube)
    primary, created = found[BACKEND], found[CANARY]
    assert created.spec.replicas == 1 and primary.spec.replicas == 2  # 1/3 of the pods: 1/3 of the traffic
    assert created.metadata.annotations[PRIMARY_REPLICAS] == "3"
    assert created.spec.selector.match_labels == {"app": BACKEND, TRACK: "canary"}
    assert created.spec.template.metadata.labels["app"] == BACKEND  # selected by the Service
    assert created.spec.template.spec.containers[0].image.endswith(f":{good}")
    assert primary.spec.template.spec.containers[0].image != created.spec.template.spec.containers[0].image
    wait_for(lambda: pods[0] in service_backends(kube), 15, message="the canary pod behind the Service")
    # the primary's ReplicaSets keep their own pods: its rollout history is untouched
    assert revisions(target) == before

    canary.set_canary_replicas(2, timeout=30)
    wait_for(lambda: deployments(kube)[BACKEND].spec.replicas == 1, 5, message="primary at 1/3")
    assert len(canary.served_new()) == 2

    back = canary.rollback(timeout=30)
    assert back.number == history[-1].number and back.version == history[-1].version
    assert CANARY not in deployments(kube)
    assert deployments(kube)[BACKEND].spec.replicas == 3
    assert revisions(target) == before


def test_promotion_is_the_primarys_next_revision(target: KubernetesTarget, kube: KubeTarget,
                                                 canary: KubernetesCanary) -> None:
    before = target.current_revision()
    assert before is not None
    good = target.profile.local.releases[0]  # type: ignore[union-attr]
    canary.begin(good, "gameday canary test")
    canary.set_canary_replicas(1, timeout=30)
    after = canary.promote(timeout=30)
    assert (after.number, after.version) == (before.number + 1, good)
    assert CANARY not in deployments(kube)
    assert deployments(kube)[BACKEND].spec.replicas == 3
    assert target.wait_healthy(timeout=30)
    target.rollout_undo(wait=True, timeout=30)  # back to the baseline image for the other tests


def test_a_crash_looping_canary_stops_the_step_and_undo_from_another_process_restores(
        target: KubernetesTarget, kube: KubeTarget, canary: KubernetesCanary, k8s_settings) -> None:
    before = revisions(target)
    saved = canary.saved()
    canary.begin(target.bad_release(), "gameday canary test")
    with pytest.raises(TargetError, match="CrashLoopBackOff"):
        canary.set_canary_replicas(1, timeout=30)
    assert target.canary().in_progress() is not None  # what a second canary would be refused by
    KubernetesTarget(k8s_settings).canary().undo(saved, timeout=30)  # as 'gameday abort' would
    assert CANARY not in deployments(kube)
    assert deployments(kube)[BACKEND].spec.replicas == 3
    assert revisions(target) == before  # no revision added, the same current one (see revisions: not its date)


def test_a_promotion_interrupted_after_its_image_change_is_undone_from_the_ledger_entry(
        target: KubernetesTarget, kube: KubeTarget, canary: KubernetesCanary, k8s_settings) -> None:
    before, image = target.current_revision(), image_of(kube)
    assert before is not None
    saved = canary.saved()  # what the ledger entry holds, written before the canary's first change
    good = target.profile.local.releases[0]  # type: ignore[union-attr]
    canary.begin(good, "gameday canary test")
    canary.set_canary_replicas(1, timeout=30)
    target.deploy(good, cause="gameday canary promoted", wait=False)  # promotion's first change; then the signal
    KubernetesTarget(k8s_settings).canary().undo(saved, timeout=30)  # as 'gameday abort' would
    assert image_of(kube) == image  # the primary back on its image, not only at its size
    assert CANARY not in deployments(kube)
    assert deployments(kube)[BACKEND].spec.replicas == 3
    assert target.current_revision().version == before.version  # type: ignore[union-attr]


# --- whole canaries, judged from the pods' own counters ----------------------------------------------------------
@pytest.fixture
def measured(target: KubernetesTarget, kube: KubeTarget, k8s_settings: Settings, requires_fake: FakeKube
             ) -> Iterator[KubernetesTarget]:
    """A target whose load goes through the API server's Service proxy to the fake's answering pods (``target``
    puts back whatever the test left)."""
    url = f"{requires_fake.url}/api/v1/namespaces/{kube.namespace}/services/{BACKEND}:80/proxy"
    settings = k8s_settings.model_copy(update={"kubernetes": KubernetesSettings(
        **{**k8s_settings.kubernetes.model_dump(), "base_url": url})})
    driver = KubernetesTarget(settings)
    try:
        yield driver
    finally:
        driver.client.close()
        wait_backend_ok(kube)


PLAN = {"users": 4, "step_timeout_s": 30.0, "ready_timeout_s": 30.0}


def image_of(kube: KubeTarget) -> str:
    return deployments(kube)[BACKEND].spec.template.spec.containers[0].image  # type: ignore[attr-defined]


def test_the_runbooks_canary_scenarios_decide_right_on_a_cluster(measured: KubernetesTarget, kube: KubeTarget,
                                                                 tmp_path: Path) -> None:
    """bad (crash-looping image): rolled back at step 1, one pod at most; slow (150 ms later): rolled back by
    latency with errors fine; good: promoted to every replica, then put back by the scenario runner."""
    ledger = Ledger(tmp_path / "ledger.json")
    before = image_of(kube)
    results = run_scenarios(load_scenarios(find("service-outage").folder), measured, measured.profile, ledger)
    for result in results:
        assert result.passed, (result.scenario.name, result.problems, result.report and result.report.to_dict())
    by_release = {r.scenario.release: r.report for r in results}
    slow, good = by_release["slow"], by_release["good"]
    assert slow is not None and good is not None
    first = slow.steps[0].verdict
    assert first is not None and first.checks["latency"] == "worse" and first.checks["errors"] != "worse"
    assert first.canary["successes_timed"] >= 20 and first.primary["successes_timed"] >= 20  # both sides, per pod
    assert first.median_shift_ms is not None and 100 <= first.median_shift_ms <= 250  # 150 ms, within a bucket
    assert good.after is not None and good.after["version"] == measured.profile.local.releases[0]  # type: ignore
    assert all(s.verdict is not None and s.verdict.canary["requests"] > 0 for s in good.steps)
    assert image_of(kube) == before and CANARY not in deployments(kube)
    assert ledger.empty()


def test_a_release_failing_every_call_is_rolled_back_by_its_error_rate(measured: KubernetesTarget, kube: KubeTarget,
                                                                      requires_fake: FakeKube, tmp_path: Path) -> None:
    good = measured.profile.local.releases[0]  # type: ignore[union-attr]

    def failing(pod: dict, method: str, path: str, body: bytes) -> Answer | None:
        image = pod["spec"]["containers"][0]["image"]
        if image.endswith(f":{good}") and path.startswith("/api/"):
            return Answer.json({"error": "boom"}, status=500)
        return None

    remove = requires_fake.apps.add_rule(failing, "failing release")
    try:
        ledger = Ledger(tmp_path / "ledger.json")
        report = run_canary(measured, measured.profile, ledger, Plan(good, **PLAN))  # type: ignore[arg-type]
    finally:
        remove()
    assert report.outcome == "rolled back" and report.exit_code == 1, report.to_dict()
    assert len(report.steps) == 1 and len(report.served_new) == 1
    verdict = report.steps[0].verdict
    assert verdict is not None and verdict.checks["errors"] == "worse"
    assert verdict.canary["error_rate"] == 1.0 and verdict.primary["error_rate"] == 0.0
    assert CANARY not in deployments(kube) and deployments(kube)[BACKEND].spec.replicas == 3  # type: ignore
    assert ledger.empty()


def profile_with(tmp_path: Path, **service: object) -> Path:
    data = yaml.safe_load(DEFAULT_PROFILE.read_text())
    data["service"].update(service)
    data["local"]["working_dir"] = str(DEFAULT_PROFILE.parent.parent)
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("service", "message"), [
    ({"metrics": None}, "declares no per-replica metrics"),
    ({"metrics": {"requests": "orders_served_total"}}, "no orders_served_total series"),
], ids=["no-metrics", "no-such-counter"])
def test_a_canary_that_cannot_tell_the_sides_apart_refuses_before_any_change(
        measured: KubernetesTarget, kube: KubeTarget, tmp_path: Path, service: dict, message: str) -> None:
    settings = measured.settings.model_copy(update={"profile": profile_with(tmp_path, **service)})
    driver = KubernetesTarget(settings)
    ledger = Ledger(tmp_path / "ledger.json")
    good = driver.profile.local.releases[0]  # type: ignore[union-attr]
    with pytest.raises(UsageError, match=message):
        run_canary(driver, driver.profile, ledger, Plan(good))
    assert CANARY not in deployments(kube)
    assert ledger.empty()


# --- the command ----------------------------------------------------------------------------------------------
def test_the_command_rolls_back_a_slow_release_and_an_interrupted_canary_leaves_the_primary(
        measured: KubernetesTarget, kube: KubeTarget, requires_fake: FakeKube, tmp_path: Path) -> None:
    """``gameday canary`` on a cluster: a slow release is rolled back (exit 1, JSON report); a SIGINT in the middle
    of a good release's canary rolls it back on the way out (exit 130) and ``gameday abort`` finds nothing left."""
    flags = [*kube_flags(kube), "--base-url", measured.kube.base_url or ""]
    slow = measured.profile.local.slow_release.version  # type: ignore[union-attr]
    done = gameday_cli(*flags, "canary", slow, "--json", "--users", "4", state_dir=tmp_path / "state",
                       env=ALLOW, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["outcome"] == "rolled back" and report["steps"][0]["verdict"]["checks"]["latency"] == "worse"
    assert report["after"]["version"] == image_of(kube).rsplit(":", 1)[1]

    good = measured.profile.local.releases[0]  # type: ignore[union-attr]
    binary = Path(sys.executable).parent / "gameday"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMEDAY_") and k != "KUBECONFIG"}
    env.update({"GAMEDAY_STATE_DIR": str(tmp_path / "state"), **ALLOW})
    # steps wait on an impossible tolerance: the canary keeps measuring until interrupted
    running = subprocess.Popen([str(binary), *flags, "canary", good, "--users", "4", "--step-timeout", "120",
                                "--confidence", "0.999999"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    _, err = interrupt_when(running, lambda: CANARY in deployments(kube)
                            and deployments(kube)[CANARY].spec.replicas == 1, 30,  # type: ignore[attr-defined]
                            "the canary serving", finish_s=60)
    assert running.returncode == 130, err
    assert CANARY not in deployments(kube) and deployments(kube)[BACKEND].spec.replicas == 3  # type: ignore
    abort = gameday_cli(*kube_flags(kube), "abort", state_dir=tmp_path / "state", env=ALLOW)
    assert abort.returncode == 0, abort.stdout + abort.stderr
