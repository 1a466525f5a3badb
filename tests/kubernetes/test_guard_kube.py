"""The Kubernetes halt record (a ConfigMap) and game-day lock (a Lease) in the target namespace, against the fake API
server, so that operators on other machines see them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gameday.config import Settings
from gameday.guard import halt, lock
from gameday.guard.gate import admit
from gameday.guard.records import KubeRecords
from gameday.ledger import Ledger

from .conftest import KubeTarget
from .driver_support import settings_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.kubernetes


@pytest.fixture
def settings(kube: KubeTarget, tmp_path: Path) -> Settings:
    """Settings selecting the fake cluster (allowlisted)."""
    return settings_for(kube, tmp_path / "state")


def _configmap(kube: KubeTarget, name: str) -> dict | None:
    try:
        cm = kube.core().read_namespaced_config_map(f"gameday-{name}", kube.namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return json.loads(cm.data["record"])


def _lease(kube: KubeTarget, name: str) -> dict | None:
    """The holder a Lease ``gameday-<name>`` names (its annotation), None when there is none."""
    try:
        lease = client.CoordinationV1Api(kube.client()).read_namespaced_lease(f"gameday-{name}", kube.namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return json.loads(lease.metadata.annotations["gameday.io/holder"])


def test_the_lock_is_a_lease_that_a_second_game_day_sees(kube: KubeTarget, settings: Settings):
    records = KubeRecords(settings)
    held = lock.GameDayLock(records, command="gameday run postgres-down").acquire()
    try:
        seen = _lease(kube, "lock")
        assert seen["pid"] == os.getpid() and seen["command"] == "gameday run postgres-down"
        # the same record, held by a process on another machine: refused, naming it
        records.swap(lock.LOCK, seen, {**seen, "host": "operator-laptop", "pid": 4242})
        with pytest.raises(lock.Locked, match=r"another game day holds this target \(Lease gameday-lock in namespace "
                                              r"production\): pid 4242 on operator-laptop since "):
            lock.GameDayLock(records).acquire()
    finally:
        held.release()
        records.swap(lock.LOCK, records.read(lock.LOCK), None)
    assert _lease(kube, "lock") is None


def test_a_dead_holders_lock_lease_is_taken_over(kube: KubeTarget, settings: Settings):
    dead = subprocess.Popen(["/usr/local/bin/gameday"], executable="/bin/true")
    dead.wait()
    records = KubeRecords(settings)
    assert records.create(lock.LOCK, {"pid": dead.pid, "host": socket.gethostname(), "since": time.time()})
    taken = lock.GameDayLock(records).acquire()
    assert taken.note.startswith(f"took over the lock of a game day that died: pid {dead.pid} ")
    assert _lease(kube, "lock")["pid"] == os.getpid()
    taken.release()
    assert _lease(kube, "lock") is None


def test_halt_writes_a_configmap_every_injection_refuses_until_resume(kube: KubeTarget, settings: Settings,
                                                                      tmp_path: Path):
    records = KubeRecords(settings)
    result = halt.halt(records, Ledger(tmp_path / "ledger.json"), reason="staging migration")
    try:
        record = _configmap(kube, "halt")
        assert record["reason"] == "staging migration" and record == result.record
        with pytest.raises(halt.Halted, match=r"target halted by .* staging migration"):
            admit(settings)
        env = {**os.environ, "TARGET": "kubernetes", "KUBECONFIG": kube.kubeconfig, "CONTEXT": kube.context,
               "NAMESPACE": kube.namespace, "GAMEDAY_STATE_DIR": str(tmp_path / "state"),
               "GAMEDAY_SAFETY__ALLOWED_CONTEXTS": json.dumps([kube.context]),
               "GAMEDAY_SAFETY__ALLOW_PRODUCTION": "true"}
        refused = subprocess.run([sys.executable, "-m", "gameday.cli", "inject", "kill-replicas"], cwd=ROOT,
                                 env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 5 and "staging migration" in refused.stderr, refused.stderr
        resumed = subprocess.run([sys.executable, "-m", "gameday.cli", "resume"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=60)
        assert "resumed: lifted the halt" in resumed.stdout, resumed.stderr
    finally:
        halt.resume(records)
    assert _configmap(kube, "halt") is None
    admit(settings)  # allowed again
