"""The fault registry: faults found by walking the package, typed parameters refused before the ledger is
touched, each fault's own outage flag and expected verdict, and experiments that do not apply skipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gameday import faults
from gameday.chaos import runner
from gameday.chaos.catalogue import catalogue
from gameday.config import Settings, get_settings
from gameday.errors import UsageError
from gameday.ledger import Ledger
from gameday.profile import KubernetesToxiproxy
from gameday.profile import load as load_profile
from tests.chaos_support import env_for, gameday_chaos, one_line
from tests.diagnose_fakes import PROFILE, FakeTarget

ROOT = Path(__file__).resolve().parents[1]
NOT_FAULTS = ("__init__", "base", "network", "postgres")  # the network / PostgreSQL-session faults' common parts
FAULT_MODULES = sorted(p.stem for p in [*(ROOT / "gameday" / "faults").glob("*.py"),  # and the runbook packages'
                                        *(ROOT / "runbooks").glob("*/faults/*.py")] if p.stem not in NOT_FAULTS)

# a service without Kafka, with Redis critical, and no local section (so no known-bad release or configuration)
SMALL_PROFILE = """\
service: {name: small-shop}
dependencies:
  - {name: postgres, kind: postgres, on_outage: outage}
  - {name: redis, kind: redis, on_outage: outage}
endpoints:
  - {name: home, path: /}
"""


@pytest.fixture
def small_profile(tmp_path: Path) -> Path:
    path = tmp_path / "small-shop.yaml"
    path.write_text(SMALL_PROFILE)
    return path


# --- the registry -----------------------------------------------------------------------------------------
def test_every_module_of_the_package_registers_its_fault() -> None:
    assert sorted(name.replace("-", "_") for name in faults.FAULTS) == FAULT_MODULES
    for name, fault in faults.FAULTS.items():
        module = type(fault).__module__  # gameday/faults/<name>.py, or a runbook package's faults/<name>.py
        assert module.rpartition(".")[2] == name.replace("-", "_")
        assert module.startswith("gameday.faults.") or module.startswith("gameday.runbooks.")
        assert fault.description and fault.parameters() is not None


def test_a_new_fault_module_is_found_by_walking_the_package(tmp_path: Path) -> None:
    # a fault made of existing target operations: one module (and, in a runbook, its experiment)
    (tmp_path / "drain_replicas.py").write_text('''
from gameday.faults.base import ReplicaFault


class DrainReplicas(ReplicaFault):
    """Replicas stopped gracefully."""

    name = "drain-replicas"
    description = "stop replicas gracefully"

    def expected_verdict(self, params, profile, target_kind=None):
        return "all-replicas-down"

    def inject(self, target, params):
        target.terminate_replicas(params.get("replicas"))

    def undo(self, target, params, saved):
        target.start_replicas(params.get("replicas"))
''')
    faults.__path__.append(str(tmp_path))
    try:
        assert "drain-replicas" in faults.discover()
        drain = faults.get_fault("drain-replicas")
        assert drain.validate({"replicas": "replica-0"}) == {"replicas": ["replica-0"]}
        assert drain.outage({}, PROFILE) and drain.expected_verdict({}, PROFILE) == "all-replicas-down"
    finally:
        faults.__path__.remove(str(tmp_path))
        faults.FAULTS.pop("drain-replicas", None)
        sys.modules.pop("gameday.faults.drain_replicas", None)


def test_an_unknown_fault_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown fault 'explode': expected one of bad-config, bad-release"):
        faults.get_fault("explode")


# --- typed parameters, checked before the ledger is written -------------------------------------------------
@pytest.mark.parametrize(("fault", "params", "words"), [
    ("kill-replicas", {"replicas": "replica-9"}, "replicas: no replica 'replica-9': expected one of replica-0"),
    ("freeze-replicas", {"replicas": "../../etc"}, "replicas: '../../etc' is not a replica name"),
    ("bad-release", {"version": {"a": 1}}, "version: Input should be a valid string (got {'a': 1})"),
    ("bad-release", {"version": "1.5.0/../x"}, "version: String should match pattern"),
    ("stop-dependency", {}, "dependency is required: one of postgres, redis, kafka (-p dependency=NAME)"),
    ("hang-dependency", {"dependency": "mysql"}, "ecommerce-backend has no dependency 'mysql'"),
    ("kill-replicas", {"rounds": 1000}, "rounds: Input should be less than or equal to 100"),
    ("bad-config", {"changes": ["DB_HOST"]}, "changes: Input should be a valid dictionary"),
])
def test_bad_parameters_are_refused_before_anything_is_written(tmp_path: Path, fault: str, params: dict[str, Any],
                                                               words: str) -> None:
    target, ledger = FakeTarget(), Ledger(tmp_path / "ledger.json")
    with pytest.raises(UsageError) as err:
        faults.inject(target, ledger, fault, params, PROFILE)
    assert words in str(err.value) and str(err.value).startswith(f"fault {fault}: ")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "ledger.json").exists() and ledger.empty()  # nothing for 'abort' to clear
    assert target.actions == []  # and nothing touched


def test_a_dependency_the_target_cannot_act_on_is_refused(tmp_path: Path) -> None:
    external = PROFILE.model_copy(update={"dependencies": [
        d.model_copy(update={"address": "10.0.0.9:6379"}) if d.name == "redis" else d for d in PROFILE.dependencies]})
    with pytest.raises(UsageError, match=r"the local target cannot act on 'redis' \(external\)"):
        faults.inject(FakeTarget(), Ledger(tmp_path / "ledger.json"), "stop-dependency", {"dependency": "redis"},
                      external)


def test_parameters_are_normalised() -> None:
    kill = faults.get_fault("kill-replicas")
    assert kill.validate({"replicas": "replica-0, replica-1", "rounds": "3"}) == {
        "replicas": ["replica-0", "replica-1"], "rounds": 3, "interval": 0.5}
    assert faults.get_fault("bad-release").validate({"version": 2}) == {"version": "2"}  # -p version=2 is JSON 2
    assert faults.get_fault("bad-release").validate({}) == {}


# --- what each fault should do: from the fault and the profile -----------------------------------------------
def test_outage_and_expected_verdict_follow_the_profile(small_profile: Path) -> None:
    small = load_profile(small_profile)
    stop = faults.get_fault("stop-dependency")
    assert stop.expected_verdict({"dependency": "redis"}, PROFILE) == "dependency-degraded:redis"
    assert not stop.outage({"dependency": "redis"}, PROFILE)
    assert stop.expected_verdict({"dependency": "redis"}, small) == "dependency-failure:redis"
    assert stop.outage({"dependency": "redis"}, small)
    assert faults.get_fault("hang-dependency").expected_verdict({"dependency": "postgres"}, PROFILE) == \
        "dependency-hang:postgres"
    kill = faults.get_fault("kill-replicas")
    assert kill.outage({}, PROFILE) and not kill.outage({"replicas": ["replica-0"]}, PROFILE, ["replica-0", "r-1"])
    assert {n: f.expected_verdict({"dependency": "postgres"}, PROFILE) for n, f in faults.FAULTS.items()} == {
        "kill-replicas": "all-replicas-down", "freeze-replicas": "replicas-hanging",
        "bad-release": "failed-deployment", "bad-config": "configuration-problem",
        "stop-dependency": "dependency-failure:postgres", "hang-dependency": "dependency-hang:postgres",
        "dependency-blackhole": "dependency-hang:postgres", "dependency-partition": "dependency-failure:postgres",
        "dependency-latency": "no-outage", "dependency-flaky": "no-outage", "dependency-bandwidth": "no-outage",
        "exhaust-connections": "connections-exhausted:postgres", "rotate-credentials": "authentication-failed:postgres",
        "restart-dependency": "no-outage"}


def test_a_cut_that_drops_packets_on_a_cluster_is_expected_to_be_diagnosed_a_hang() -> None:
    """On Kubernetes, a NetworkPolicy (a shared dependency's stop) and a Chaos Mesh partition drop packets, as real
    network plugins do: the service's side sees a hang. A Toxiproxy proxy disabled, or a dependency scaled to zero
    (no endpoints: refused), still fails fast."""
    stop, cut = faults.get_fault("stop-dependency"), faults.get_fault("dependency-partition")
    shared = PROFILE.model_copy(update={"dependencies": [
        d.model_copy(update={"owned": False}) if d.name == "postgres" else d for d in PROFILE.dependencies]})
    owned = PROFILE.model_copy(update={"dependencies": [
        d.model_copy(update={"owned": True}) if d.name == "postgres" else d for d in PROFILE.dependencies]})
    postgres = {"dependency": "postgres"}
    assert stop.expected_verdict(postgres, shared, "kubernetes") == "dependency-hang:postgres"
    assert stop.expected_verdict(postgres, owned, "kubernetes") == "dependency-failure:postgres"
    assert stop.expected_verdict(postgres, shared, "local") == "dependency-failure:postgres"
    assert cut.expected_verdict(postgres, PROFILE, "kubernetes") == "dependency-hang:postgres"  # Chaos Mesh
    assert cut.expected_verdict(postgres, PROFILE, "local") == "dependency-failure:postgres"  # the fault proxy
    kube = PROFILE.kubernetes or load_profile().kubernetes
    proxied = PROFILE.model_copy(update={"kubernetes": kube.model_copy(update={
        "toxiproxy": KubernetesToxiproxy(proxies={"postgres": "postgres"})})})
    assert cut.expected_verdict(postgres, proxied, "kubernetes") == "dependency-failure:postgres"
    # a dependency the service survives is degraded whichever way it is lost
    assert cut.expected_verdict({"dependency": "redis"}, PROFILE, "kubernetes") == "dependency-degraded:redis"


# --- experiments that do not apply are skipped, with the reason ------------------------------------------
def test_the_catalogue_skips_what_the_profile_does_not_have(small_profile: Path) -> None:
    entries = {e.name: e for e in catalogue(None, load_profile(small_profile), "local")}
    assert entries["kafka-down"].skip == "small-shop has no kafka dependency"
    assert entries["failed-deployment"].skip == "small-shop names no known-bad release (local.bad_release)"
    assert entries["redis-down"].skip is None and entries["redis-down"].expects_outage
    assert entries["redis-down"].expected_verdict == "dependency-failure:redis"
    assert entries["postgres-down"].skip is None


def test_chaos_run_skips_an_experiment_that_does_not_apply_touching_nothing(small_profile: Path,
                                                                           tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", reports_dir=tmp_path / "reports", profile=small_profile)
    result = runner.run("kafka-down", settings=settings)
    assert result.skipped and result.ok and result.exit_code == 0
    assert result.line() == "SKIPPED kafka-down: small-shop has no kafka dependency"
    assert not (tmp_path / "state").exists() and not (tmp_path / "reports").exists()  # no target, no journal
    assert get_settings() is not settings  # the caller's settings are back


def test_gameday_chaos_run_of_a_skipped_experiment_exits_0(small_profile: Path, tmp_path: Path) -> None:
    result = gameday_chaos("run", "kafka-down", state_dir=tmp_path / "state", cwd=tmp_path,
                           GAMEDAY_PROFILE=str(small_profile))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "SKIPPED kafka-down: small-shop has no kafka dependency"


# --- the same defects through the CLI, on the running local stack -------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("args", "words"), [
    (["kill-replicas", "-p", "replicas=replica-9"], "no replica 'replica-9'"),
    (["freeze-replicas", "-p", "replicas=../../etc"], "'../../etc' is not a replica name"),
    (["bad-release", "-p", 'version={"a":1}'], "version: Input should be a valid string"),
    (["stop-dependency"], "dependency is required: one of postgres, redis, kafka"),
])
def test_gameday_inject_refuses_bad_parameters_and_leaves_the_ledger_empty(healthy: Any, tmp_path: Path,
                                                                           args: list[str], words: str) -> None:
    result = subprocess.run([sys.executable, "-m", "gameday.cli", "inject", *args], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path, env=env_for(healthy.state.root))
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in one_line(result.stderr)
    assert Ledger(healthy.state.ledger).empty()
    revisions = healthy.history()
    assert revisions[-1].version != {"a": 1} and all(isinstance(r.version, str) for r in revisions)


def test_a_partial_network_fault_accepts_no_outage_or_its_dependency_degraded_and_others_only_their_own() -> None:
    from tests.diagnose_fakes import PROFILE

    for name in ("dependency-latency", "dependency-flaky", "dependency-bandwidth"):
        fault = faults.get_fault(name)
        params = fault.validate({"dependency": "redis"}, context=faults.FaultContext(PROFILE, "local"))
        assert fault.expected_verdict(params, PROFILE, "local") == "no-outage", name
        assert fault.also_accepted(params, PROFILE, "local") == ("dependency-degraded:redis",), name
    kill = faults.get_fault("kill-replicas")
    params = kill.validate({}, context=faults.FaultContext(PROFILE, "local"))
    assert kill.also_accepted(params, PROFILE, "local") == ()
    entries = {e.name: e for e in catalogue(["dependency-latency", "all-pods-down"], PROFILE, "local")}
    assert entries["dependency-latency"].also_accepted == ("dependency-degraded:redis",)
    assert entries["all-pods-down"].also_accepted == ()
