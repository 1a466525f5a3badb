"""Verdicts from the outside: the diagnosis, the symptoms and the evidence they read never look at gameday's own
marks (its ledger, the labels, annotations and events it writes as a fault's author, a process state only its own
SIGSTOP produces). An outage caused by hand carries none of them, and must get the same verdict."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from gameday import reasons
from gameday.targets.kubernetes import policies
from gameday.targets.kubernetes import target as kube_target
from gameday.targets.kubernetes.target import KubernetesTarget
from gameday.targets.local.target import LocalTarget

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ROOT / "gameday" / "targets"
# what decides: every verdict and symptom, and the converters of what the targets report
DECIDING = [*sorted((ROOT / "gameday" / "diagnose").glob("*.py")), ROOT / "gameday" / "symptoms.py",
            TARGETS / "kubernetes" / "convert.py"]
# the targets' observations the diagnosis collects (the rest of those classes act, and may write marks)
OBSERVING = [LocalTarget.replicas, LocalTarget._phase, LocalTarget._replica_ready, LocalTarget._probe_readiness,
             LocalTarget.endpoints,
             LocalTarget.load_balancer, LocalTarget.history, LocalTarget.events, LocalTarget.config_changes,
             LocalTarget._drift, LocalTarget.logs, KubernetesTarget.replicas, KubernetesTarget.endpoints,
             KubernetesTarget.load_balancer, KubernetesTarget.history, KubernetesTarget.events,
             KubernetesTarget.config_changes, KubernetesTarget.logs]
# a reason gameday records that the platform records too, in its own words, whoever did it: supervisor's log says
# "terminated by SIGKILL; not expected" for any kill -9. The rules read it only from the platform's events.
ALSO_THE_PLATFORMS = {"KILLED"}


def written_reasons() -> set[str]:
    """Every ``reasons.X`` gameday passes to an event it writes (``event_log.record``, ``_record``)."""
    found: set[str] = set()
    for path in TARGETS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("record", "_record"):
                for arg in node.args:
                    if isinstance(arg, ast.Attribute) and getattr(arg.value, "id", "") == "reasons":
                        found.add(arg.attr)
    return found


def forbidden() -> dict[str, re.Pattern[str]]:
    """What reading one of gameday's marks looks like in source."""
    marks = {}
    for name in sorted(written_reasons() - ALSO_THE_PLATFORMS):
        value = getattr(reasons, name)
        marks[f"reasons.{name}"] = re.compile(rf"\breasons\.{name}\b|[\"']{re.escape(value)}[\"']")
    marks["a gameday.io/ label or annotation"] = re.compile(r"gameday\.io/")
    marks["the freeze label"] = re.compile(rf"\bFROZEN_LABEL\b|{re.escape(policies.FROZEN_LABEL)}")
    marks["gameday's annotations"] = re.compile(r"\b(REPLICAS_BEFORE_STOP|CONFIG_CAUSE)\b")
    marks["the ledger"] = re.compile(r"(?i)\bledger\b")
    marks["the stopped process state"] = re.compile(r"process_state_letter|/proc/\d*|[\"']T[\"']|\bFrozen\b")
    return marks


def test_gameday_writes_the_reasons_this_test_forbids():
    """The scan finds the marks it must (it would pass vacuously otherwise)."""
    assert {"FROZEN", "CONFIG_CHANGED", "DEPENDENCY_STOPPED", "DEPENDENCY_HUNG"} <= written_reasons()
    assert kube_target.REPLICAS_BEFORE_STOP.startswith("gameday.io/")


@pytest.mark.parametrize("path", DECIDING, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_verdict_reads_gamedays_own_marks(path: Path):
    text = path.read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    code = re.sub(r'"""(.*?)"""', '""', code, flags=re.S)  # docstrings may name what is not read
    hits = [f"{what}: {m.group(0)!r}" for what, rx in forbidden().items() for m in [rx.search(code)] if m]
    assert not hits, f"{path.relative_to(ROOT)} reads gameday's own marks: {hits}"


@pytest.mark.parametrize("method", OBSERVING, ids=lambda m: m.__qualname__)
def test_no_observation_reads_gamedays_own_marks(method):
    code = re.sub(r'"""(.*?)"""', '""', inspect.getsource(method), flags=re.S)
    hits = [f"{what}: {m.group(0)!r}" for what, rx in forbidden().items() for m in [rx.search(code)] if m]
    assert not hits, f"{method.__qualname__} reads gameday's own marks: {hits}"


# step 3 on Kubernetes: whether the service's pods can reach a dependency, from every NetworkPolicy of the namespace
DEPENDENCY_CHECKS = [KubernetesTarget.check_dependency, KubernetesTarget.dependency_states,
                     KubernetesTarget._network_cut, KubernetesTarget._dependency_pods, KubernetesTarget._pod_peers,
                     KubernetesTarget._namespace_labels, KubernetesTarget._service_address,
                     policies.connection_allowed, policies._selecting, policies._peer_matches, policies._port_matches,
                     policies._in_block, policies._types, policies.selector_matches]
# what recognising gameday's own policies looks like: their names, their labels, their builders
OWN_POLICIES = re.compile(r"\b(hang_policy\w*|freeze_policy\w*|MANAGED_BY|FAULT_LABEL)\b|managed-by"
                          r"|gameday-(hang|freeze)")


@pytest.mark.parametrize("method", DEPENDENCY_CHECKS, ids=lambda m: m.__qualname__)
def test_no_dependency_check_recognises_gamedays_own_policies(method):
    code = re.sub(r'"""(.*?)"""', '""', inspect.getsource(method), flags=re.S)
    hits = [f"{what}: {m.group(0)!r}" for what, rx in [*forbidden().items(), ("gameday's policies", OWN_POLICIES)]
            for m in [rx.search(code)] if m]
    assert not hits, f"{method.__qualname__} recognises gameday's own hand: {hits}"
