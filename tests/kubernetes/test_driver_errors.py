"""A bad or missing kubeconfig, an unknown context, an API server that does not answer, a missing
deployment: one clear line (a TargetError in-process, one stderr line and a non-zero exit from the CLI)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gameday.config import KubernetesSettings, Settings
from gameday.errors import UsageError
from gameday.targets.kubernetes.target import KubernetesTarget
from gameday.targets.model import TargetError
from tests.fakekube import write_kubeconfig
from tests.local_profiles import ecommerce

from .conftest import KubeTarget
from .driver_support import gameday_cli, kube_flags

pytestmark = pytest.mark.kubernetes


def driver(kubeconfig: str | None, context: str | None = None, namespace: str = "production",
           profile: Path | None = None) -> KubernetesTarget:
    return KubernetesTarget(Settings(target="kubernetes", profile=profile, kubernetes=KubernetesSettings(
        kubeconfig=kubeconfig, context=context, namespace=namespace)))


def kube_profile(folder: Path, **names: str) -> Path:
    """The reference profile with other names in its kubernetes section."""
    return ecommerce(folder, lambda data: data["kubernetes"].update(names))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_line(exc: pytest.ExceptionInfo[TargetError]) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text, text
    return text


@pytest.fixture
def bad_configs(tmp_path: Path) -> dict[str, Path]:
    """Kubeconfigs that are broken in different ways."""
    not_yaml = tmp_path / "not-yaml"
    not_yaml.write_text("clusters: [unclosed\n")
    empty = tmp_path / "empty"
    empty.write_text("")
    no_context = tmp_path / "no-context"
    no_context.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    down = write_kubeconfig(f"http://127.0.0.1:{closed_port()}", tmp_path / "down", context="fake-kube")
    return {"not-yaml": not_yaml, "empty": empty, "no-context": no_context, "down": down}


def test_missing_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(TargetError) as exc:
        driver(str(tmp_path / "nowhere")).reachable()
    assert one_line(exc).startswith(f"kubeconfig not found: {tmp_path / 'nowhere'}")


def test_malformed_kubeconfigs(bad_configs: dict[str, Path]) -> None:
    for name in ("not-yaml", "empty"):
        with pytest.raises(TargetError) as exc:
            driver(str(bad_configs[name])).reachable()
        assert one_line(exc).startswith(f"bad kubeconfig {bad_configs[name]}"), name
    with pytest.raises(TargetError) as exc:
        driver(str(bad_configs["no-context"])).reachable()
    assert "no current-context" in one_line(exc)


def test_unknown_context(kube: KubeTarget) -> None:
    with pytest.raises(TargetError) as exc:
        driver(kube.kubeconfig, "nope").reachable()
    text = one_line(exc)
    assert text.startswith(f"context 'nope' not found in kubeconfig {kube.kubeconfig} (contexts: ")
    assert kube.context in text


def test_api_server_down(bad_configs: dict[str, Path]) -> None:
    with pytest.raises(TargetError) as exc:
        driver(str(bad_configs["down"]), "fake-kube").reachable()
    text = one_line(exc)
    assert text.startswith("cannot reach the API server http://127.0.0.1:") and "(context fake-kube)" in text


def test_missing_deployment(kube: KubeTarget, tmp_path: Path) -> None:
    with pytest.raises(TargetError) as exc:
        driver(kube.kubeconfig, kube.context, profile=kube_profile(tmp_path, deployment="no-such-app")).reachable()
    assert one_line(exc) == (f"deployment 'no-such-app' not found in namespace '{kube.namespace}' "
                             f"(context {kube.context})")


def test_the_current_context_is_used_when_none_is_configured(kube: KubeTarget) -> None:
    target = driver(kube.kubeconfig, None, kube.namespace)
    target.reachable()
    assert target.identity()["context"] == kube.context


def test_bad_label_selector_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="label_selector"):
        KubernetesTarget(Settings(target="kubernetes", profile=kube_profile(tmp_path, label_selector="app in (x)")))


def test_a_profile_without_a_kubernetes_section_is_one_line(tmp_path: Path) -> None:
    profile = ecommerce(tmp_path, lambda data: data.pop("kubernetes"))
    with pytest.raises(UsageError, match="has no kubernetes section") as exc:
        KubernetesTarget(Settings(target="kubernetes", profile=profile))
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("case", ["missing", "not-yaml", "unknown-context", "down"])
def test_the_cli_says_one_line_and_exits_non_zero(case: str, kube: KubeTarget, bad_configs: dict[str, Path],
                                                  tmp_path: Path) -> None:
    flags = {
        "missing": ["--kubeconfig", str(tmp_path / "nowhere")],
        "not-yaml": ["--kubeconfig", str(bad_configs["not-yaml"])],
        "unknown-context": ["--kubeconfig", kube.kubeconfig, "--context", "nope"],
        "down": ["--kubeconfig", str(bad_configs["down"])],
    }[case]
    expected = {"missing": "kubeconfig not found", "not-yaml": "bad kubeconfig",
                "unknown-context": "context 'nope' not found", "down": "cannot reach the API server"}[case]
    for command in (["status"], ["inject", "kill-replicas", "--allow-production"]):
        done = gameday_cli("--target", "kubernetes", *flags, *command, state_dir=tmp_path / "state")
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        # a mutating command judges a named context against the allowlist before it reads anything
        wanted = "not in the allowlist" if case == "unknown-context" and command[0] == "inject" else expected
        assert len(lines) == 1 and lines[0].startswith("gameday: ") and wanted in lines[0], done.stderr
    assert not (tmp_path / "state" / "ledger.json").exists() or \
        (tmp_path / "state" / "ledger.json").read_text().strip() == "[]"


def test_the_cli_status_on_the_cluster(kube: KubeTarget, tmp_path: Path) -> None:
    done = gameday_cli(*kube_flags(kube), "status", "--json", state_dir=tmp_path / "state")
    assert done.returncode == 0, done.stderr
    import json

    data = json.loads(done.stdout)
    assert data["target"] == "kubernetes" and len(data["replicas"]) == 3
    assert data["load_balancer"]["state"] == "up"
    assert data["components"][0]["name"] == "api-server" and data["components"][0]["state"].startswith("up")
