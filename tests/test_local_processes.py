"""Processes a profile declares beside its replicas (``local.processes``): validated with the profile, rendered like
the replica's command (its placeholders, files, environment and release), one supervisor program each. No stack:
fast; tests/test_heavy_shop.py runs them on a real stack (shown, restarted by a rollout, killed with the replica).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday.profile import ProfileError
from gameday.profile import load as load_profile
from gameday.state import StateDir
from gameday.targets.local.programs import StackContext, processes, supervisor_config
from gameday.targets.local.service import LAUNCHER, Service
from gameday.targets.model import TargetError
from tests.helpers import runbook_link


def _profile(folder: Path, *procs: dict[str, Any]) -> Path:
    data = {
        "service": {"name": "shop"},
        "local": {"command": ["{python}", "-m", "http.server", "{port}"], "replicas": 2,
                  "environment": {"SITE": "{lb.url}"},
                  "files": [{"name": "ini", "content": "[app]\nversion = {version}\nport = {port}\n"}],
                  "processes": list(procs)},
        "dependencies": [{"name": "redis", "kind": "redis"}],
        "endpoints": [{"name": "home", "path": "/"}],
    }
    path = folder / "gameday.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _service(tmp_path: Path, *procs: dict[str, Any]) -> Service:
    ports = {"load-balancer": 18080, "replica-0": 18000, "replica-1": 18001, "redis": 16379}
    return Service(load_profile(_profile(tmp_path, *procs)), StateDir(tmp_path / "state").ensure(), ports,
                   sys.executable)


WORKER = {"name": "worker", "command": ["{python}", "-c", "import os,sys; print(sys.argv[1:], os.environ['QUEUE'], "
                                        "os.environ['SITE'])", "{replica}", "{port}", "{version}", "{file.ini}"],
          "environment": {"QUEUE": "{redis.url}"}}


def test_a_worker_is_rendered_beside_each_replica_with_its_release_and_runs(tmp_path: Path) -> None:
    service = _service(tmp_path, WORKER, {"name": "scheduler", "per": "service", "command": ["{python}", "-V"]})
    assert [(n, r) for n, _, r in service.process_programs(["replica-0", "replica-1"])] == [
        ("replica-0-worker", "replica-0"), ("replica-1-worker", "replica-1"), ("scheduler", None)]
    service.write_replica("replica-1", "2.0.0", service.live_config())  # a rollout renders its worker with it
    spec = json.loads((service.replica_dir("replica-1") / "worker.json").read_text())
    ini = str(service.replica_dir("replica-1") / "ini")
    assert spec["command"][3:] == ["replica-1", "18001", "2.0.0", ini]
    assert spec["environment"]["QUEUE"] == "redis://127.0.0.1:16379/0" and spec["environment"]["SITE"]
    ran = subprocess.run([sys.executable, "-I", "-S", str(LAUNCHER), str(service.replica_dir("replica-1") /
                          "worker.json")], capture_output=True, text=True, check=False, timeout=30)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("['replica-1', '18001', '2.0.0'") and "http://127.0.0.1:18080" in ran.stdout


def test_each_process_is_a_supervisor_program_of_its_replicas_pod(tmp_path: Path) -> None:
    service = _service(tmp_path, WORKER, {"name": "scheduler", "per": "service", "command": ["{python}", "-V"]})
    ctx = StackContext(service.state, service.ports, ["replica-0", "replica-1"], sys.executable, service,
                       runbook_link(service.profile))
    programs = {p.name: p for p in processes(ctx)}
    assert {n: (p.kind, p.pod, p.port, p.readiness) for n, p in programs.items()} == {
        "replica-0-worker": ("process", "replica-0", 0, "running"),
        "replica-1-worker": ("process", "replica-1", 0, "running"),
        "scheduler": ("process", None, 0, "running")}
    text = supervisor_config(service.state, list(programs.values()))
    assert "[program:replica-0-worker]" in text and "worker.json" in text and "autostart=false" in text


def test_a_scheduler_named_like_a_dependency_is_refused(tmp_path: Path) -> None:
    service = _service(tmp_path, {"name": "redis", "per": "service", "command": ["true"]})
    ctx = StackContext(service.state, service.ports, ["replica-0"], sys.executable, service,
                       runbook_link(service.profile))
    with pytest.raises(TargetError, match=r"local.processes \(redis\): .* rename the process"):
        processes(ctx)


def test_bad_processes_are_refused_with_the_field(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(_profile(tmp_path, {"name": "worker", "command": ["run", "{redis.dsn}"]},
                              {"name": "worker", "command": ["run"]}))
    problems = caught.value.problems
    assert any("local.processes: process names must be distinct" in p for p in problems), problems
    with pytest.raises(ProfileError) as caught:
        load_profile(_profile(tmp_path, {"name": "worker", "command": ["run", "{redis.dsn}"]}))
    assert any("local.processes[0] (worker).command[1]: placeholder {redis.dsn}: a redis offers" in p
               for p in caught.value.problems), caught.value.problems
