"""The chaostoolkit extension without a stack: discovery, experiment checks, Kubernetes delegation, bounded HTTP."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import gameday
from gameday.chaos import actions, discover, lint
from gameday.config import Settings, get_settings
from gameday.context import RunContext
from gameday.errors import SafetyError, UsageError

ROOT = Path(__file__).resolve().parents[1]


def test_discover_lists_every_exported_action_and_probe() -> None:
    found = discover(discover_system=False)
    by_type = {(a["type"], a["name"]) for a in found["activities"]}
    expected = {("action", n) for n in importlib.import_module("gameday.chaos.actions").__all__}
    expected |= {("probe", n) for n in importlib.import_module("gameday.chaos.probes").__all__}
    expected |= {("probe", n) for n in importlib.import_module("gameday.chaos.steady").__all__}
    expected |= {("probe", n) for n in importlib.import_module("gameday.chaos.outcome").__all__}
    # and each runbook package's own actions (gameday.runbooks.<name>.actions)
    expected |= {("action", n) for n in importlib.import_module(
        "gameday.runbooks.database_connection_issues.actions").__all__}
    assert by_type == expected
    assert ("action", "inject_fault") in by_type and ("probe", "outage_symptoms_observed") in by_type
    inject = next(a for a in found["activities"] if a["name"] == "inject_fault")
    assert inject["mod"] == "gameday.chaos.actions"
    assert [arg["name"] for arg in inject["arguments"]] == ["fault", "params"]
    assert found["extension"]["name"] == "gameday" and found["system"] is None


def test_discover_reports_a_down_target_instead_of_failing(tmp_path: Path) -> None:
    system = discover(discover_system=True, settings=Settings(state_dir=tmp_path))["system"]
    assert system["target"] == "local"
    assert "error" in system or system["identity"]["state_dir"] == str(tmp_path)


@pytest.mark.skipif(not hasattr(gameday, "discover"), reason="gameday/__init__.py does not delegate discover() yet")
def test_chaos_discover_gameday_lists_the_activities(tmp_path: Path) -> None:
    out = tmp_path / "discovery.json"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("chaos")), "--no-version-check", "--no-log-file", "discover",
         "--no-install", "--no-system-info", "--discovery-path", str(out), "gameday"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    names = {a["name"] for a in json.loads(out.read_text())["activities"]}
    assert {"inject_fault", "undo_faults", "outage_symptoms_observed"} <= names


# --- experiment checks: bad input is one UsageError line, before anything runs ----------------------
def _experiment(method: list[dict[str, Any]]) -> dict[str, Any]:
    return {"title": "t", "description": "d", "method": method}


def _inject(fault: str, params: Any) -> dict[str, Any]:
    return {"type": "action", "name": "inject", "provider": {
        "type": "python", "module": "gameday.chaos.actions", "func": "inject_fault",
        "arguments": {"fault": fault, "params": params}}}


@pytest.mark.parametrize(("method", "words"), [
    ([_inject("kill-everything", {})], "unknown fault 'kill-everything'"),
    ([_inject("stop-dependency", {})], "dependency is required"),
    ([_inject("kill-replicas", {"rounds": 1000})], "rounds: Input should be less than or equal to 100"),
    ([_inject("kill-replicas", {"colour": "red"})], "unknown parameter 'colour'"),
    ([_inject("kill-replicas", {"replicas": "../../etc"})], "'../../etc' is not a replica name"),
    ([_inject("bad-release", {"version": {"a": 1}})], "version: Input should be a valid string"),
    ([{"type": "action", "name": "start", "provider": {"type": "python", "module": "gameday.chaos.actions",
                                                         "func": "start_dependency", "arguments": {"name": 3}}}],
     "a dependency must be named by a non-empty string, got 3"),
])
def test_vocabulary_errors_name_the_activity_and_the_problem(method: list[dict[str, Any]], words: str) -> None:
    with pytest.raises(UsageError) as err:
        lint.check_vocabulary(_experiment(method), "x.json")
    assert words in str(err.value) and "x.json: activity" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("method", "reason"), [
    ([_inject("stop-dependency", {"dependency": "mysql"})], "ecommerce-backend has no mysql dependency"),
    ([{"type": "action", "name": "start", "provider": {"type": "python", "module": "gameday.chaos.actions",
                                                         "func": "start_dependency", "arguments": {"name": "mongo"}}}],
     "ecommerce-backend has no mongo dependency"),
])
def test_a_dependency_the_profile_does_not_have_makes_the_experiment_not_applicable(
        method: list[dict[str, Any]], reason: str) -> None:
    assert lint.not_applicable(_experiment(method), get_settings().service, "local") == reason


@pytest.mark.parametrize("content", ["{not json", json.dumps({"title": "no method", "description": "d"}), ""])
def test_malformed_experiments_are_one_line(tmp_path: Path, content: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(UsageError) as err:
        lint.load(path)
    assert "malformed experiment" in str(err.value) and "\n" not in str(err.value)


def test_unknown_experiment_names_the_shipped_ones() -> None:
    with pytest.raises(UsageError) as err:
        lint.resolve("no-such-outage", "service-outage")
    assert "all-pods-down" in str(err.value)
    assert lint.resolve("redis-down", "service-outage").name == "redis-down.json"


# --- Kubernetes: chaosk8s's own rollout restart, behind the safety guard --------------------------
class FakeKubeTarget:
    """Just what the rollout-restart action needs of a Kubernetes target."""

    def __init__(self, settings: Settings) -> None:
        self.kube = settings.kubernetes
        self.waited: list[float] = []

    def identity(self) -> dict[str, Any]:
        return {"kind": "kubernetes", "context": self.kube.context, "namespace": self.kube.namespace}

    def wait_healthy(self, timeout: float = 60.0) -> bool:
        self.waited.append(timeout)
        return True

    def rollout_restart(self, wait: bool = True, timeout: float = 60.0) -> Any:
        raise AssertionError("on Kubernetes the restart is chaosk8s's action, not reimplemented")


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    calls: dict[str, Any] = {"rollout": []}

    def configure(context_name: str) -> FakeKubeTarget:
        settings = Settings(target="kubernetes", state_dir=tmp_path, kubernetes={
            "context": context_name, "namespace": "gameday", "kubeconfig": str(tmp_path / "kubeconfig")})
        target = FakeKubeTarget(settings)
        monkeypatch.setattr("gameday.context.get_target", lambda s=None: target)
        calls["target"] = target
        calls["configuration"] = RunContext.from_settings(settings).configuration()  # what the runner hands down
        return target

    def rollout_deployment(name: str | None = None, ns: str = "default", secrets: Any = None) -> None:
        seen = os.environ.get("KUBECONFIG")
        calls["rollout"].append({"name": name, "ns": ns, "secrets": secrets, "KUBECONFIG": seen})

    monkeypatch.setattr("gameday.chaos.kube.rollout_deployment", rollout_deployment)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    calls["configure"] = configure
    yield calls


def test_rollout_restart_on_kubernetes_is_chaosk8s_rollout_deployment(kube: dict[str, Any], tmp_path: Path) -> None:
    target = kube["configure"]("kind-gameday")
    out = actions.rollout_restart(timeout=12, configuration=kube["configuration"])
    assert kube["rollout"] == [{"name": "ecommerce-backend", "ns": "gameday",
                                "secrets": {"KUBERNETES_CONTEXT": "kind-gameday", "KUBERNETES_VERIFY_SSL": "true"},
                                "KUBECONFIG": str(tmp_path / "kubeconfig")}]
    assert target.waited == [12] and out["healthy"] is True
    assert "KUBECONFIG" not in os.environ  # only for the call


def test_nothing_reaches_the_cluster_outside_the_allowlist(kube: dict[str, Any]) -> None:
    kube["configure"]("prod-east")
    with pytest.raises(SafetyError, match="not in the allowlist"):
        actions.rollout_restart(configuration=kube["configuration"])
    assert kube["rollout"] == []


def test_rollout_restart_through_chaosk8s_against_a_fake_api_server(tmp_path: Path) -> None:
    # the whole path for real: gameday's action -> chaosk8s -> the Kubernetes API (tests.fakekube, on loopback)
    from kubernetes.config import kube_config

    from tests.fakekube import FakeKube

    default_location = kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    fake = FakeKube.start()
    try:
        fake.seed_ecommerce("gameday")
        kubeconfig = fake.write_kubeconfig(tmp_path, context="fake-kube", namespace="gameday")
        settings = Settings(target="kubernetes", state_dir=tmp_path / "state", kubernetes={
            "kubeconfig": str(kubeconfig), "context": "fake-kube", "namespace": "gameday"})
        before = fake.get("deployments", "ecommerce-backend", "gameday")["metadata"].get("generation")
        out = actions.rollout_restart(timeout=30, configuration=RunContext.from_settings(settings).configuration())
        deployment = fake.get("deployments", "ecommerce-backend", "gameday")
        annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
        assert "kubectl.kubernetes.io/restartedAt" in annotations
        assert deployment["metadata"]["generation"] > before
        assert out == {"healthy": True, "via": "chaosk8s.deployment.actions.rollout_deployment"}
        assert not fake.errors
        assert default_location == kube_config.KUBE_CONFIG_DEFAULT_LOCATION  # the client's default is put back
    finally:
        fake.stop()
