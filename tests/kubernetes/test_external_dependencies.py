"""An external dependency (the profile gives its ``address``) is checked at that address on the kubernetes target
too, by its kind's own check: not through a workload of the cluster, which runs none for it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from gameday.config import Settings
from gameday.targets.kubernetes.target import KubernetesTarget

from .conftest import KubeTarget
from .driver_support import settings_for

pytestmark = pytest.mark.kubernetes


def test_an_external_dependency_is_checked_at_its_address(kube: KubeTarget, tmp_path: Path) -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            nobody = s.getsockname()[1]
        profile = tmp_path / "gameday.yaml"
        profile.write_text(yaml.safe_dump({
            "service": {"name": "ecommerce-backend"},
            "kubernetes": {"deployment": "ecommerce-backend", "label_selector": "app=ecommerce-backend",
                           "service": "ecommerce-backend"},
            "dependencies": [{"name": "ledger", "kind": "tcp", "address": f"127.0.0.1:{port}"},
                             {"name": "audit", "kind": "tcp", "address": f"127.0.0.1:{nobody}"}],
            "endpoints": [{"name": "products", "path": "/api/products"}],
        }))
        base = settings_for(kube, tmp_path / "state")
        target = KubernetesTarget(Settings(**{**base.model_dump(), "profile": profile}))
        try:
            up = target.check_dependency("ledger", timeout=2.0)
            down = target.check_dependency("audit", timeout=2.0)
        finally:
            target.client.close()
    assert up.ok and up.command == f"nc -z 127.0.0.1 {port}", up
    assert not down.ok and "refused" in down.detail.lower(), down
