"""``Target.dependency_admin`` on the kubernetes target: no superuser session to a dependency, said in one line; the
runbook faults that need one are refused before anything changes (nothing in the ledger, nothing in the cluster)."""
# ruff: noqa: F811  (pytest fixtures imported from driver_support are redefined as test arguments)

from __future__ import annotations

from pathlib import Path

import pytest

from gameday import faults
from gameday.ledger import Ledger
from gameday.targets.kubernetes.target import KubernetesTarget
from gameday.targets.model import NotApplicableError, UnknownDependencyError

from .conftest import KubeTarget
from .driver_support import k8s_settings, snapshot, target  # noqa: F401 (fixtures)

pytestmark = pytest.mark.kubernetes


def test_no_superuser_session_on_a_cluster_and_its_faults_change_nothing(target: KubernetesTarget, kube: KubeTarget,
                                                                         tmp_path: Path) -> None:
    with pytest.raises(NotApplicableError, match="opens no superuser session"):
        target.dependency_admin("postgres")
    with pytest.raises(UnknownDependencyError, match="expected one of postgres"):
        target.dependency_admin("no-such-dependency")
    before = snapshot(kube)
    ledger = Ledger(tmp_path / "ledger.json")
    for name in ("exhaust-connections", "rotate-credentials"):
        with pytest.raises(NotApplicableError):
            faults.inject(target, ledger, name, {"dependency": "postgres"})
    assert ledger.entries() == []
    assert snapshot(kube) == before
