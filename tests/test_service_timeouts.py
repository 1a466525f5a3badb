"""The load balancer's timeouts and the readiness probe come from the profile, not from what suits our fast reference
services: a replica with one synchronous worker answers its probe only after the pages queued ahead of it, and a
heavy page takes longer than 2 s on a busy machine (issue 20: a real web shop's replicas read "Running, not ready"
and its pages came back as 504s after exactly 2 s)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from gameday.profile import load as load_profile
from gameday.state import StateDir
from gameday.targets.local import components
from gameday.targets.local.programs import StackContext
from gameday.targets.local.service import Service
from tests.helpers import runbook_link

ROOT = Path(__file__).resolve().parents[1]


def _context(tmp_path: Path, local: dict[str, object]) -> StackContext:
    data = yaml.safe_load((ROOT / "profiles" / "ecommerce-backend.yaml").read_text())
    data["local"].update(local, working_dir=str(ROOT))
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "gameday.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    profile = load_profile(path)
    names = ["replica-0", "replica-1", "replica-2"]
    ports = {key: 22000 + i for i, key in enumerate(["load-balancer", "haproxy-metrics", *names])}
    # HAProxy's stats socket path is limited to 107 bytes: a short state directory of its own, as the stack's is
    state = StateDir(Path(tempfile.mkdtemp(prefix="gd-to-"))).ensure()
    return StackContext(state=state, ports=ports, replica_names=names, python=sys.executable,
                        service=Service(profile, state, ports, sys.executable), runbook=runbook_link(profile))


def _haproxy_cfg(ctx: StackContext) -> str:
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed")
    components.haproxy(ctx)  # checks the configuration with `haproxy -c`
    return (ctx.state.subdir("haproxy") / "haproxy.cfg").read_text()


def test_a_heavy_services_timeouts_reach_the_load_balancer(tmp_path: Path) -> None:
    cfg = _haproxy_cfg(_context(tmp_path, {"lb_timeout_s": 12, "readiness": {"timeout_s": 3,
                                                                             "failure_threshold": 4}}))
    assert "timeout server 12000ms" in cfg and "timeout check 3000ms" in cfg and "fall 4 " in cfg, cfg


def test_the_defaults_stay_a_kubelets_and_an_ingress_short_timeout(tmp_path: Path) -> None:
    cfg = _haproxy_cfg(_context(tmp_path, {}))
    assert "timeout server 2000ms" in cfg and "timeout check 1000ms" in cfg and "fall 2 " in cfg, cfg
    assert f"inter {round(components.HAPROXY_CHECK_INTER_S * 1000)}ms " in cfg, cfg  # what the target times by


@pytest.mark.parametrize("local", [{"lb_timeout_s": 0}, {"readiness": {"timeout_s": -1}},
                                   {"readiness": {"failure_threshold": 0}}])
def test_impossible_timeouts_are_refused(tmp_path: Path, local: dict[str, object]) -> None:
    from gameday.profile import ProfileError

    with pytest.raises(ProfileError, match=r"local\.(lb_timeout_s|readiness)"):
        _context(tmp_path, local)


def test_a_slow_platform_gets_longer_to_show_the_symptoms_and_clients_outwait_its_load_balancer(
        tmp_path: Path) -> None:
    """The symptom window grows by the profile's longer timeouts (a hang is a 504 only after ``lb_timeout_s``), and
    gameday's own clients wait beyond the load balancer, so its 504 is what they see; the defaults add nothing."""
    from types import SimpleNamespace

    from gameday.targets.local.target import LocalTarget

    default = SimpleNamespace(profile=_context(tmp_path / "a", {}).service.profile)
    heavy = SimpleNamespace(profile=_context(tmp_path / "b", {"lb_timeout_s": 10, "readiness": {
        "timeout_s": 5, "failure_threshold": 3}}).service.profile)
    assert LocalTarget.symptom_lag_s(default) == 0.0  # type: ignore[arg-type]
    assert LocalTarget.answer_timeout_s(default) == 5.0  # type: ignore[arg-type]
    assert LocalTarget.symptom_lag_s(heavy) == 8.0 + 3 * 5.5 - 3.0  # type: ignore[arg-type]
    assert LocalTarget.answer_timeout_s(heavy) == 13.0  # type: ignore[arg-type]
