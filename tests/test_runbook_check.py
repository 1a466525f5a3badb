"""``gameday runbook-check``: each command working, drifted or broken — on a fake local target and a fake kubectl."""

from __future__ import annotations

import json

import pytest
import typer
import yaml
from typer.testing import CliRunner

from gameday.config import Settings
from gameday.runbook.check import BROKEN, DRIFT, NOT_RUN, OK, SKIPPED, check_runbook, target_variables
from gameday.runbook.cli import register
from gameday.runbook.kube_check import KubectlChecker
from gameday.runbook.local_check import LocalChecker
from gameday.runbook.parse import default_runbook_path, parse_runbook, parse_text
from gameday.targets.model import DependencyCheck, Replica
from tests.diagnose_fakes import FakeTarget

SETTINGS = Settings()
SHIPPED = parse_runbook(default_runbook_path())

BROKEN_RUNBOOK = """# Runbook: Service Outage (drifted copy)

## Diagnosis

```bash
# Check pod status
kubectl get pods -n production -l app=wrong

# Check recent deployments
kubectl rollout history deployment/ecommerce-api -n production

# Check load balancer
kubectl get svc ecommerce-backend -n staging

# Check service endpoints
kubectl get endpoints ecommerce-backend -n production

# Check database connectivity
kubectl exec -it ${POD_NAME} -n production -- \\
  pg_isready -h ${DB_HOST} -p 5432

# Check the cache
kubectl exec -it ${POD_NAME} -n production -- redis-cli -h ${CACHE_HOST} ping
```

## Resolution

```bash
kubectl rollout undo deployment/ecommerce-api -n production
kubectl rollout restart deployment/ecommerce-backend -n production
```
"""


def statuses(report) -> list[tuple[int, str]]:
    return [(r.line, r.status) for r in report.results]


# --- local target ---------------------------------------------------------------------------------
def test_the_shipped_runbook_works_on_a_healthy_local_target():
    target = FakeTarget()
    report = check_runbook(SHIPPED, target, SETTINGS, LocalChecker(target, SETTINGS))
    assert report.failing == []
    by_line = {r.line: r for r in report.results}
    assert [by_line[n].status for n in (28, 31, 34, 41, 44, 51, 55, 59, 78)] == [OK] * 9
    assert by_line[28].ran == "target.replicas()"
    assert by_line[51].ran.startswith("target.check_dependency('postgres')")
    assert [by_line[n].status for n in (84, 93, 100, 101)] == [NOT_RUN] * 4
    assert "local equivalent: gameday rollout undo" in by_line[93].detail
    assert [by_line[n].status for n in (70, 107)] == [SKIPPED] * 2
    assert report.variables["POD_NAME"] == "replica-0"
    assert target.actions == []


def test_a_drifted_runbook_is_reported_line_by_line():
    target = FakeTarget()
    report = check_runbook(parse_text(BROKEN_RUNBOOK, "broken.md"), target, SETTINGS, LocalChecker(target, SETTINGS))
    assert statuses(report) == [
        (7, DRIFT),  # label app=wrong
        (10, DRIFT),  # deployment ecommerce-api
        (13, DRIFT),  # namespace staging
        (16, OK),
        (19, OK),
        (23, BROKEN),  # ${CACHE_HOST}: no value
        (29, DRIFT),  # rollout undo of deployment ecommerce-api: not run, but its name is wrong
        (30, NOT_RUN),
    ]
    details = {r.line: r.detail for r in report.results}
    assert "label selector 'app=wrong' matches 0 pods" in details[7]
    assert "deployment 'ecommerce-api' does not exist" in details[10]
    assert "namespace 'staging' does not exist" in details[13]
    assert "${CACHE_HOST}" in details[23]
    assert target.actions == []


def test_a_target_with_no_pods_makes_get_pods_drift():
    target = FakeTarget()
    target.replica_list = []
    report = check_runbook(SHIPPED, target, SETTINGS, LocalChecker(target, SETTINGS))
    pods = next(r for r in report.results if r.line == 28)
    assert (pods.status, pods.detail) == (DRIFT, "0 pods")
    pg = next(r for r in report.results if r.line == 51)
    assert pg.status == BROKEN and "the target has no replicas" in pg.detail


def test_a_hard_coded_host_that_is_not_the_targets_is_drift():
    book = parse_text("## Diagnosis\n\n```bash\nkubectl exec -it ${POD_NAME} -n production -- "
                      "pg_isready -h old-db.internal -p 5432\n```\n")
    target = FakeTarget()
    (result,) = check_runbook(book, target, SETTINGS, LocalChecker(target, SETTINGS)).results
    assert result.status == DRIFT
    assert "-h old-db.internal is not the target's DB_HOST (10.0.0.5)" in result.detail


def test_a_failing_dependency_check_is_a_working_command_that_reports_the_failure():
    target = FakeTarget()
    target.checks["redis"] = DependencyCheck("redis", False, 0.01, "Connection refused", "redis-cli ping")
    report = check_runbook(SHIPPED, target, SETTINGS, LocalChecker(target, SETTINGS))
    redis = next(r for r in report.results if r.line == 55)
    assert redis.status == OK and "redis NOT OK" in redis.detail


def test_variables_come_from_the_target():
    values, missing = target_variables(FakeTarget())
    assert values == {"POD_NAME": "replica-0", "DB_HOST": "10.0.0.5", "REDIS_HOST": "10.0.0.6",
                      "KAFKA_BOOTSTRAP": "10.0.0.7:9092"}
    assert missing == {}


# --- kubernetes (a fake kubectl) --------------------------------------------------------------------
class FakeKubectl:
    """Answers like kubectl against a cluster with deployment/service ecommerce-backend in production."""

    def __init__(self, can_i: str = "yes") -> None:
        self.calls: list[list[str]] = []
        self.can_i = can_i

    def __call__(self, args: list[str], timeout: float) -> tuple[int, str, str]:
        self.calls.append(args)
        args = args[:-5]  # --kubeconfig F --context C --request-timeout=10s
        ns = args[args.index("-n") + 1] if "-n" in args else "default"
        if args[:2] == ["auth", "can-i"]:
            return (0 if self.can_i == "yes" else 1), self.can_i + "\n", ""
        if ns != "production":
            return 0, "", f"No resources found in {ns} namespace.\n"
        if args[0] == "get" and args[1] == "pods":
            selector = args[args.index("-l") + 1] if "-l" in args else ""
            if selector not in ("", "app=ecommerce-backend"):
                return 0, "", "No resources found in production namespace.\n"
            return 0, "NAME READY STATUS\necommerce-backend-abc 1/1 Running\n", ""
        names = [a for a in args if "/" in a and not a.startswith("-")]
        for name in names:
            if name.split("/", 1)[1] not in ("ecommerce-backend", "ecommerce-backend-abc"):
                kind = name.split("/", 1)[0]
                return 1, "", f'Error from server (NotFound): {kind} "{name.split("/", 1)[1]}" not found\n'
        return 0, "NAME X\nrow 1\n", ""


def kube_settings() -> Settings:
    return SETTINGS.model_copy(update={"target": "kubernetes", "kubernetes": SETTINGS.kubernetes.model_copy(
        update={"kubeconfig": "/tmp/kubeconfig-test", "context": "fake-kube"})})


def test_kubernetes_runs_read_only_commands_with_kubectl_and_never_mutating_ones():
    runner = FakeKubectl()
    checker = KubectlChecker(kube_settings(), runner=runner)
    target = FakeTarget(kind="kubernetes")
    target.replica_list = [Replica("ecommerce-backend-abc", "Running", True, 0)]
    report = check_runbook(SHIPPED, target, kube_settings(), checker)
    by_line = {r.line: r for r in report.results}
    assert report.failing == []
    assert by_line[28].status == OK
    assert by_line[28].ran == "kubectl get pods -n production -l app=ecommerce-backend"
    assert by_line[44].ran == "kubectl get events -n production --sort-by=.lastTimestamp"
    assert by_line[78].ran == "kubectl logs deployment/ecommerce-backend -n production --tail=100"
    assert by_line[51].status == NOT_RUN and "pod ecommerce-backend-abc exists; exec allowed" in by_line[51].detail
    assert by_line[93].status == NOT_RUN and "deployments/ecommerce-backend exists" in by_line[93].detail
    # every call names the cluster, and none is mutating
    assert all(c[-5:-1] == ["--kubeconfig", "/tmp/kubeconfig-test", "--context", "fake-kube"] for c in runner.calls)
    verbs = {tuple(c[:2]) for c in runner.calls}
    assert not any(v[0] in ("apply", "delete", "patch", "exec") or v == ("rollout", "undo") for v in verbs)


def test_kubernetes_drift_is_what_the_api_server_says():
    report = check_runbook(parse_text(BROKEN_RUNBOOK, "broken.md"), FakeTarget(kind="kubernetes"), kube_settings(),
                           KubectlChecker(kube_settings(), runner=FakeKubectl()))
    assert statuses(report)[:3] == [(7, DRIFT), (10, DRIFT), (13, DRIFT)]
    details = {r.line: r.detail for r in report.results}
    assert details[7] == "No resources found in production namespace."
    assert details[10] == 'Error from server (NotFound): deployment "ecommerce-api" not found'
    assert statuses(report)[6] == (29, DRIFT)


def test_kubernetes_exec_that_is_not_allowed_is_broken():
    target = FakeTarget(kind="kubernetes")
    target.replica_list = [Replica("ecommerce-backend-abc", "Running", True, 0)]
    report = check_runbook(SHIPPED, target, kube_settings(), KubectlChecker(kube_settings(), runner=FakeKubectl("no")))
    assert next(r for r in report.results if r.line == 51).status == BROKEN


def test_kubernetes_without_kubectl_is_broken_not_a_crash(monkeypatch):
    monkeypatch.setattr("gameday.runbook.kube_check.kubectl_binary", lambda: None)
    report = check_runbook(SHIPPED, FakeTarget(kind="kubernetes"), kube_settings(), KubectlChecker(kube_settings()))
    first = report.results[0]
    assert first.status == BROKEN and "kubectl not found" in first.detail


# --- the command ----------------------------------------------------------------------------------
@pytest.fixture
def app(monkeypatch) -> typer.Typer:
    monkeypatch.setattr("gameday.runbook.cli.get_target", lambda settings=None: FakeTarget())
    app = typer.Typer()
    register(app)
    return app


def test_cli_reports_drift_with_exit_1(app, tmp_path):
    path = tmp_path / "broken.md"
    path.write_text(BROKEN_RUNBOOK)
    result = CliRunner().invoke(app, ["runbook-check", str(path)])
    assert result.exit_code == 1, result.output
    assert "L7    DRIFT    kubectl get pods -n production -l app=wrong" in result.output
    assert "the runbook has drifted from the target" in result.output


def test_cli_json_of_the_shipped_runbook(app):
    result = CliRunner().invoke(app, ["runbook-check", str(default_runbook_path()), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True
    assert data["counts"] == {"ok": 9, "drift": 0, "broken": 0, "not-run": 4, "skipped": 2}


def test_cli_runbook_without_commands_is_one_error(app, tmp_path):
    path = tmp_path / "empty.md"
    path.write_text("## Symptoms\n\n- slow\n")
    result = CliRunner().invoke(app, ["runbook-check", str(path)])
    assert result.exit_code != 0
    assert "no commands found" in str(result.exception)


def test_a_check_program_runs_the_check_of_the_profiles_dependency_of_its_kind(tmp_path):
    """Another service: its Redis is called ``sessions`` and configured as SESSION_HOST; it has no Kafka."""
    path = tmp_path / "gameday.yaml"
    path.write_text(yaml.safe_dump({
        "service": {"name": "ticket-office"},
        "local": {"command": ["true"], "config": {"SESSION_HOST": "{sessions.host}", "DB_URL": "{db.dsn}"}},
        "kubernetes": {"deployment": "ticket-office", "label_selector": "app=ticket-office",
                       "service": "ticket-office"},
        "dependencies": [{"name": "db", "kind": "postgres"}, {"name": "sessions", "kind": "redis"}],
        "endpoints": [{"name": "events", "path": "/v2/events"}],
    }))
    settings = Settings(profile=path)
    target = FakeTarget(profile=settings.service)
    target.configuration = {"SESSION_HOST": "10.0.0.9", "DB_URL": "postgresql://app@10.0.0.8:5432/app"}
    exec_ = "kubectl exec -it replica-0 -n production -- "
    book = parse_text("## Diagnosis\n\n```bash\n" + "\n".join([
        exec_ + "redis-cli -h 10.0.0.9 ping",
        exec_ + "redis-cli -h 10.0.0.1 ping",
        exec_ + "kafka-broker-api-versions --bootstrap-server 10.0.0.7:9092",
        exec_ + "pg_isready -h 10.0.0.8 -p 5432",
    ]) + "\n```\n")
    results = check_runbook(book, target, settings, LocalChecker(target, settings)).results
    assert [r.status for r in results] == [OK, DRIFT, DRIFT, OK]
    assert results[0].ran.startswith("target.check_dependency('sessions')")
    assert "-h 10.0.0.1 is not the target's SESSION_HOST (10.0.0.9)" in results[1].detail
    assert results[2].detail == "ticket-office has no Kafka dependency (kafka)"
    assert results[3].ran.startswith("target.check_dependency('db')")
    assert [c for c in target.calls if c.startswith("check:")] == ["check:sessions", "check:db"]
