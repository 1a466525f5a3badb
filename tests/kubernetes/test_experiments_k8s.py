"""The experiments and the smoke verification with the kubernetes target selected, against the fake API.

What runs and what does not, honestly: the fake API has no pods that answer HTTP, so every activity
that needs the service's HTTP answers through its URL (the steady-state probes health/smoke/load, the
Symptoms probe, degraded-but-serving, events-delivered; the smoke's items 2-6) cannot run here and is
skipped with that reason. Everything else of each experiment runs exactly as its JSON says, through
gameday's chaostoolkit extension (gameday.chaos.actions/probes): the fault through the ledger, the
runbook's diagnosis probes (status, logs, history, events, dependency checks), the resolution (rollout
undo, restore config, rollout restart through chaostoolkit-kubernetes, start dependency, thaw), the wait
until healthy, and the rollbacks; then the ledger must be empty and the cluster back to its baseline.
The full runner (``gameday.chaos.runner.run``) is run once too: with no service answering, its steady
state fails first and nothing is injected.
"""

# ruff: noqa: F811  (pytest fixtures imported from driver_support are redefined as test arguments)
from __future__ import annotations

import importlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gameday.chaos import lint
from gameday.chaos.probes import ProbeFailed
from gameday.config import Settings, get_settings, use_settings
from gameday.context import RunContext
from gameday.ledger import Ledger
from gameday.state import StateDir
from gameday.targets.kubernetes.target import KubernetesTarget

from .conftest import KubeTarget, wait_for
from .driver_support import (  # noqa: F401 (fixtures)
    backend_ok,
    gameday_policies,
    k8s_settings,
    snapshot,
    target,
    wait_backend_ok,
)

pytestmark = pytest.mark.kubernetes

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments" / "service-outage").glob("*.json"))
# activities that need the service's HTTP answers (its URL is not reachable: the fake runs no service)
HTTP_LEVEL = {
    "health_checks_pass", "smoke_endpoints_answer", "load_within_slo", "outage_symptoms_observed",
    "degraded_but_serving", "events_delivered", "dependency_loss_observed",
    "breaker_fails_fast", "retries_absorb_resets", "fallback_as_promised", "recovers_within_slo",  # promises
    "steady_state",  # the runbook's steady state: mostly HTTP checks
}
SKIP_REASON = "needs the service's HTTP answers; the fake API runs no service"


@pytest.fixture
def chaos_env(target: KubernetesTarget) -> Iterator[None]:
    """chaostoolkit-kubernetes (the experiments' rollout restart) installs the configuration it loads as the
    client's global default (gameday.chaos.kube points it at settings.kubernetes.kubeconfig): restored after."""
    saved = client.Configuration._default
    try:
        yield
    finally:
        client.Configuration._default = saved


def activities(experiment: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(phase, activity) for the steady state, the method and the rollbacks, in order."""
    steady = experiment.get("steady-state-hypothesis", {}).get("probes", [])
    return ([("steady-state", a) for a in steady] + [("method", a) for a in experiment.get("method", [])]
            + [("rollbacks", a) for a in experiment.get("rollbacks", [])])


def call(activity: dict[str, Any]) -> Any:
    """The activity as chaostoolkit calls it: the test's settings handed down in its configuration."""
    provider = activity["provider"]
    func = getattr(importlib.import_module(provider["module"]), provider["func"])
    return func(**provider.get("arguments", {}), configuration=RunContext.from_settings(get_settings()).configuration())


def run_target_level(experiment: dict[str, Any]) -> list[str]:
    """Run every activity that does not need HTTP; return one line per activity (ran / skipped)."""
    report = []
    for phase, activity in activities(experiment):
        provider = activity.get("provider", {})
        name = f"{phase}: {activity['name']} ({provider.get('func')})"
        if provider.get("type") != "python" or not str(provider.get("module", "")).startswith("gameday."):
            report.append(f"skipped {name}: not a gameday python activity")
            continue
        if provider["func"] in HTTP_LEVEL:
            report.append(f"skipped {name}: {SKIP_REASON}")
            continue
        if provider["func"] == "wait_until_healthy":
            # its target-level half (every replica ready, the rollout complete); the /readyz half needs HTTP
            target = RunContext.from_settings(get_settings()).target
            assert target.wait_healthy(float(provider.get("arguments", {}).get("timeout", 60))), name
            report.append(f"ran {name}: target.wait_healthy only; its /readyz part skipped: {SKIP_REASON}")
            continue
        if provider["func"] == "check_dependencies":
            # the skipped HTTP probe before it would have given the workload time to stop
            result = wait_for(lambda a=activity: _quietly(a), 15, message=f"{activity['name']} as expected")
        else:
            result = call(activity)
        tolerance = activity.get("tolerance")
        if isinstance(tolerance, dict) and tolerance.get("type") == "jsonpath" and tolerance.get("path") == "$.ok":
            assert result["ok"] is tolerance["expect"], (name, result)
        report.append(f"ran {name}")
    return report


def _quietly(activity: dict[str, Any]) -> Any:
    try:
        return call(activity)
    except ProbeFailed:
        return None


def test_every_experiment_is_covered() -> None:
    assert len(EXPERIMENTS) >= 7, "experiments/service-outage/ is incomplete"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_target_level_parts_on_the_kubernetes_target(path: Path, target: KubernetesTarget,
                                                                kube: KubeTarget, k8s_settings: Settings,
                                                                chaos_env: None) -> None:
    experiment = lint.load(path)  # as chaostoolkit runs it: its runbook's steady state and rollbacks filled in
    before = snapshot(kube)
    book = Ledger(StateDir(k8s_settings.state_dir).ensure().ledger)
    report = run_target_level(experiment)
    ran = [line for line in report if line.startswith("ran method")]
    assert any("inject_fault" in line for line in ran), report
    assert any("wait_until_healthy" in line for line in ran), report
    assert book.empty(), [e.describe() for e in book.entries()]  # the rollbacks undid the fault
    assert gameday_policies(kube) == []
    wait_backend_ok(kube)
    after = snapshot(kube)
    assert after["config"] == before["config"] and after["dependencies"] == before["dependencies"]
    image = before["deployment"][3]["spec"]["containers"][0]["image"]
    assert after["deployment"][3]["spec"]["containers"][0]["image"] == image
    print(f"\n{path.stem}:\n  " + "\n  ".join(report))  # what ran, shown with pytest -s / -rA


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_runner_refuses_to_inject_when_the_service_does_not_answer(target: KubernetesTarget,
                                                                        kube: KubeTarget, k8s_settings: Settings,
                                                                        tmp_path: Path) -> None:
    from gameday.chaos import runner

    settings = k8s_settings.model_copy(update={
        "reports_dir": tmp_path / "reports",
        "kubernetes": k8s_settings.kubernetes.model_copy(update={"base_url": f"http://127.0.0.1:{closed_port()}"}),
    })
    use_settings(settings)
    before = snapshot(kube)
    result = runner.run("postgres-down", journal_path=tmp_path / "journal.json", settings=settings)
    assert not result.ok and result.left_in_ledger == []
    assert result.journal["steady_states"]["before"]["steady_state_met"] is False
    assert not [a for a in result.journal.get("run", []) if a["activity"]["name"].startswith("inject")]
    assert Ledger(StateDir(settings.state_dir).ensure().ledger).empty()
    assert snapshot(kube) == before


# -- the smoke verification ----------------------------------------------------------------------------

def test_smoke_items_that_need_no_http_on_the_kubernetes_target(target: KubernetesTarget, kube: KubeTarget,
                                                                k8s_settings: Settings) -> None:
    from gameday.verify.checklist import ITEMS, check_item

    pods = check_item("pods-running", target, settings=k8s_settings)
    assert pods.passed, pods
    assert pods.measured["replicas"] == 3 and pods.measured["running_ready"] == 3
    target.deploy(target.bad_release(), cause="smoke test: bad release", wait=True, timeout=20)
    wait_for(lambda: not check_item("pods-running", target, settings=k8s_settings).passed, 20,
             message="the checklist seeing the crash loop")
    failed = check_item("pods-running", target, settings=k8s_settings)
    assert "CrashLoopBackOff" in failed.explanation, failed
    target.rollout_undo(wait=True, timeout=30)
    assert target.wait_healthy(timeout=30)
    assert check_item("pods-running", target, settings=k8s_settings).passed
    skipped = sorted(set(ITEMS) - {"pods-running"})
    print(f"\nsmoke items skipped on the fake ({SKIP_REASON}): {', '.join(skipped)}")


def test_smoke_through_its_entry_point_fails_cleanly_without_a_service(target: KubernetesTarget,
                                                                       k8s_settings: Settings,
                                                                       tmp_path: Path) -> None:
    from gameday.verify.smoke import run_smoke

    settings = k8s_settings.model_copy(update={
        "kubernetes": k8s_settings.kubernetes.model_copy(update={"base_url": f"http://127.0.0.1:{closed_port()}"}),
    })
    driver = KubernetesTarget(settings)
    report = run_smoke(driver, settings, users=1, max_load_s=3.0, out_dir=tmp_path / "smoke")
    assert not report.passed and report.exit_code != 0
    verdicts = {v.item: v for v in report.attempts[0].verdicts}
    assert verdicts["pods-running"].passed  # the target-level item, from the fake
    assert not verdicts["health-checks"].passed  # nothing answers at the base URL
