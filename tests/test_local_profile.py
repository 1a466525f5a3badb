"""The local target runs whatever service the profile describes: placeholders, files, releases, setup (no stack)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gameday.config import KubernetesSettings, Settings
from gameday.errors import UsageError
from gameday.profile import load as load_profile
from gameday.state import StateDir
from gameday.targets.kubernetes.cluster import cluster
from gameday.targets.local import monitoring
from gameday.targets.local import service as service_mod
from gameday.targets.local.password import SECRET_FILE, save_password
from gameday.targets.local.service import Service
from gameday.targets.model import NotApplicableError, TargetError, serving_checks
from tests.local_profiles import ecommerce, ticket_office

PASSWORD = "pw-never-shown-7f3a"
PORTS = {"postgres": 15432, "redis": 16379, "kafka": 19092, "replica-0": 18000, "replica-1": 18001}


def _service(profile_path: Path | None, tmp_path: Path, password: str = "") -> Service:
    state = StateDir(tmp_path / "state").ensure()
    return Service(load_profile(profile_path), state, dict(PORTS), sys.executable, password)


def _spec(service: Service, replica: str) -> dict[str, Any]:
    return json.loads(service.spec_path(replica).read_text())


def test_reference_service_renders_as_before(tmp_path: Path) -> None:
    service = _service(None, tmp_path)
    config = service.live_config()
    assert config == {"DB_HOST": "127.0.0.1", "DB_PORT": "15432", "DB_NAME": "app", "DB_USER": "app",
                      "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "16379", "KAFKA_BOOTSTRAP": "127.0.0.1:19092",
                      "POSTGRES_GRACE_SECONDS": "4.0"}
    service.write_replica("replica-0", "1.4.2", config)
    service.write_replica("replica-1", "1.4.2", config)
    first, second = _spec(service, "replica-0"), _spec(service, "replica-1")
    assert first["command"] == [sys.executable, "-m", "sut.ecommerce_backend", "--config",
                                str(service.replica_dir("replica-0") / "service.json")]
    assert first["environment"] == {"HTTP_PORT": "18000", "POD_NAME": "replica-0", "PYTHONUNBUFFERED": "1"}
    assert second["environment"]["HTTP_PORT"] == "18001" and second["environment"]["POD_NAME"] == "replica-1"
    assert Path(first["directory"]) == Path(__file__).resolve().parents[1]
    written = json.loads((service.replica_dir("replica-1") / "service.json").read_text())
    assert written == {**config, "APP_VERSION": "1.4.2"}


def test_a_release_changes_only_the_replicas_of_its_version(tmp_path: Path) -> None:
    def bad(data: dict[str, Any]) -> None:
        data["local"]["bad_release"] = {"version": "9.9.9-bad", "environment": {"CRASH": "1"},
                                        "command": ["{python}", "-c", "raise SystemExit('{version}')"]}

    service = _service(ecommerce(tmp_path, bad), tmp_path)
    config = service.live_config()
    service.write_replica("replica-0", "9.9.9-bad", config)
    service.write_replica("replica-1", "1.4.2", config)
    broken, good = _spec(service, "replica-0"), _spec(service, "replica-1")
    assert broken["command"] == [sys.executable, "-c", "raise SystemExit('9.9.9-bad')"]
    assert broken["environment"]["CRASH"] == "1"
    assert good["command"][1:3] == ["-m", "sut.ecommerce_backend"] and "CRASH" not in good["environment"]
    assert service_mod.bad_release(service.profile) == "9.9.9-bad"


def test_text_file_setup_and_password_stay_out_of_the_live_configuration(tmp_path: Path) -> None:
    service = _service(ticket_office(tmp_path), tmp_path, password=PASSWORD)
    config = service.live_config()
    assert config == {"DATABASE_HOST": "127.0.0.1"}
    service.write_replica("replica-1", "2.0.0", {**config, **service_mod.broken_config(service.profile)})
    toml = (service.replica_dir("replica-1") / "ticket-office.toml").read_text()
    assert 'port = 18001\ninstance = "replica-1"' in toml
    assert f"postgresql://tickets:{PASSWORD}@127.0.0.2:15432/tickets" in toml  # the bad config, rendered
    assert 'url = "redis://127.0.0.1:16379/0"' in toml and 'version = "2.0.0"' in toml
    for path in service.replica_dir("replica-1").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path  # they hold the password
    assert _spec(service, "replica-1")["command"][-1] == str(service.replica_dir("replica-1") / "ticket-office.toml")


def test_a_secret_in_the_configuration_is_kept_as_a_placeholder(tmp_path: Path) -> None:
    path = ticket_office(tmp_path, config={"DATABASE_HOST": "{postgres.host}", "DSN": "{postgres.dsn}", "RAW": "{{x}}"},
                         environment_from_config=True)
    service = _service(path, tmp_path, password=PASSWORD)
    config = service.live_config()
    assert config == {"DATABASE_HOST": "127.0.0.1", "DSN": "{postgres.dsn}", "RAW": "{{x}}"}
    env = service.render_replica("replica-0", "2.0.0", config).environment
    assert env["DSN"] == f"postgresql://tickets:{PASSWORD}@127.0.0.1:15432/tickets"
    assert env["RAW"] == "{x}"


def test_env_files_and_a_missing_placeholder(tmp_path: Path) -> None:
    def env_file(data: dict[str, Any]) -> None:
        data["local"]["files"] = [{"name": "service", "format": "env", "values": {"GREETING": "a b"}}]

    service = _service(ecommerce(tmp_path, env_file), tmp_path)
    config = service.live_config()
    service.write_replica("replica-0", "1.4.2", config)
    lines = (service.replica_dir("replica-0") / "service.env").read_text().splitlines()
    assert "DB_PORT=15432" in lines and 'GREETING="a b"' in lines
    with pytest.raises(TargetError, match=r"^local.config.DB_HOST: placeholder \{nowhere.host\} has no value"):
        service.write_replica("replica-0", "1.4.2", {**config, "DB_HOST": "{nowhere.host}"})


def test_external_dependency_is_addressed_not_run(tmp_path: Path) -> None:
    def external(data: dict[str, Any]) -> None:
        data["dependencies"][2]["address"] = "127.0.0.9:29092"

    service = _service(ecommerce(tmp_path, external), tmp_path)
    assert service_mod.runnable(service.profile) == ["postgres", "redis"]
    assert service.live_config()["KAFKA_BOOTSTRAP"] == "127.0.0.9:29092"

    def http_without_address(data: dict[str, Any]) -> None:
        data["dependencies"].append({"name": "payments", "kind": "http"})

    with pytest.raises(TargetError, match=r"'payments' \(http\) has no address"):
        service_mod.runnable(load_profile(ecommerce(tmp_path, http_without_address)))

    def named_like_a_program(data: dict[str, Any]) -> None:
        data["dependencies"][1]["name"] = "prometheus"
        data["endpoints"][3]["needs"] = ["postgres", "prometheus"]
        data["journeys"][0]["needs"] = ["postgres", "prometheus"]
        data["local"]["config"]["REDIS_HOST"] = "{prometheus.host}"
        data["local"]["config"]["REDIS_PORT"] = "{prometheus.port}"
        data["kubernetes"]["workloads"] = {}

    with pytest.raises(TargetError, match="'prometheus': the local target names one of its own programs so"):
        service_mod.runnable(load_profile(ecommerce(tmp_path, named_like_a_program)))


def test_faults_that_do_not_apply_say_so(tmp_path: Path) -> None:
    def none(data: dict[str, Any]) -> None:
        del data["local"]["bad_release"], data["local"]["bad_config"]

    profile = load_profile(ecommerce(tmp_path, none))
    with pytest.raises(NotApplicableError, match=r"no local\.bad_release"):
        service_mod.bad_release(profile)
    with pytest.raises(NotApplicableError, match=r"no local\.bad_config"):
        service_mod.broken_config(profile)


def test_password_comes_from_the_environment_then_the_state_dir(tmp_path: Path, monkeypatch) -> None:
    profile = load_profile(ticket_office(tmp_path, password_env="GAMEDAY_T_TEST_PW"))
    state = StateDir(tmp_path / "state").ensure()
    monkeypatch.delenv("GAMEDAY_T_TEST_PW", raising=False)
    with pytest.raises(TargetError, match="GAMEDAY_T_TEST_PW is not set"):
        service_mod.database_password(profile, state)
    monkeypatch.setenv("GAMEDAY_T_TEST_PW", PASSWORD)
    save_password(state, service_mod.database_password(profile, state))
    monkeypatch.delenv("GAMEDAY_T_TEST_PW")
    assert service_mod.database_password(profile, state) == PASSWORD  # a later process, without the variable
    assert stat.S_IMODE(state.path(*SECRET_FILE).stat().st_mode) == 0o600


def test_setup_failure_is_one_line_without_the_password(tmp_path: Path) -> None:
    fails = [["{python}", "-c", "import sys; print('connecting with {database.password}'); sys.exit(3)"]]
    service = _service(ticket_office(tmp_path, setup=fails), tmp_path, password=PASSWORD)
    with pytest.raises(TargetError) as caught:
        service.run_setup(service.live_config(), {}, timeout=20)
    message = str(caught.value)
    assert "\n" not in message and PASSWORD not in message
    assert message.startswith("setup command 1 ({python} -c ") and "failed with exit 3: connecting with ***" in message
    assert PASSWORD not in (service.state.logs / "setup.log").read_text()


def test_launcher_runs_the_spec_in_place(tmp_path: Path) -> None:
    service = _service(None, tmp_path)
    program = service.launcher("replica-0")
    missing = subprocess.run(program, capture_output=True, text=True, timeout=20, check=False)
    assert missing.returncode == 127 and missing.stderr.count("\n") == 1  # no spec yet: one line
    service.spec_path("replica-0").parent.mkdir(parents=True, exist_ok=True)
    service.spec_path("replica-0").write_text(json.dumps({
        "command": [sys.executable, "-c", "import os; print(os.getcwd(), os.environ['X'], os.getpid())"],
        "environment": {"X": "from-spec"}, "directory": str(tmp_path)}))
    started = subprocess.Popen(program, stdout=subprocess.PIPE, text=True)
    out, _ = started.communicate(timeout=20)
    assert started.returncode == 0
    assert out.split() == [str(tmp_path), "from-spec", str(started.pid)]  # exec'd: the same process


def test_serving_checks_and_probes_come_from_the_profile(tmp_path: Path) -> None:
    reference = load_profile()
    assert serving_checks(reference) == [("/healthz", 200), ("/api/products", 200)]
    assert monitoring.probe_paths(reference) == ["/api/products", "/healthz"]
    other = load_profile(ticket_office(tmp_path))
    assert serving_checks(other) == [("/_status/alive", 200), ("/v2/events", 200)]
    assert monitoring.probe_paths(other) == ["/v2/events", "/v2/events/evt-1", "/_status/alive"]

    def everything(data: dict[str, Any]) -> None:
        data["detection"]["probes"] = [e["name"] for e in data["endpoints"]]

    # the 404 check and the cart (it needs Redis, which ecommerce-backend survives without) are not probed
    assert monitoring.probe_paths(load_profile(ecommerce(tmp_path, everything))) == [
        "/api/products", "/api/products/1", "/healthz"]


def test_cluster_names_come_from_the_profile(tmp_path: Path) -> None:
    names = cluster(Settings(target="kubernetes", kubernetes=KubernetesSettings(context="fake-kube")))
    assert (names.namespace, names.deployment, names.label_selector, names.configmap) == (
        "production", "ecommerce-backend", "app=ecommerce-backend", "ecommerce-backend-config")
    assert names.workload("postgres") == "postgres" and names.bad_config == {"DB_HOST": "postgres-typo"}
    user = cluster(Settings(kubernetes=KubernetesSettings(namespace="staging", base_url="http://127.0.0.1:1")))
    assert (user.namespace, user.base_url) == ("staging", "http://127.0.0.1:1")
    no_kube = Settings(target="kubernetes", profile=ticket_office(tmp_path))
    with pytest.raises(UsageError, match="has no kubernetes section") as caught:
        cluster(no_kube)
    assert "\n" not in str(caught.value)


def test_reserved_environment_never_leaks_into_the_spec(tmp_path: Path) -> None:
    service = _service(None, tmp_path)
    service.write_replica("replica-0", "1.4.2", service.live_config())
    assert "GAMEDAY_STACK" not in _spec(service, "replica-0")["environment"]
    assert os.environ.get("GAMEDAY_T_TEST_PW") is None
