"""``gameday diagnose``: verdict, the runbook's resolution as this target's command, text and JSON; read-only."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
import typer
from typer.testing import CliRunner

from gameday.diagnose import diagnose, load_runbook
from gameday.diagnose.cli import register
from gameday.targets.model import ConfigChange, DependencyCheck, Revision, TargetError
from tests.diagnose_fakes import PROFILE, FakeTarget, KubeLikeTarget

RUNBOOK = load_runbook()


def broken_release(target: FakeTarget) -> FakeTarget:
    """The fake after a bad release: revision 2, every replica crash-looping on it."""
    target.revisions.append(Revision(2, "1.5.0-broken", "deploy 1.5.0-broken", time.time() - 20))
    target.replica_list = [replace(r, phase="CrashLoopBackOff", ready=False, restarts=3, revision=2,
                                   version="1.5.0-broken") for r in target.replica_list]
    target.endpoint_list = [replace(e, ready=False, state="DOWN") for e in target.endpoint_list]
    return target


def test_the_shipped_runbook_is_found():
    assert RUNBOOK is not None and RUNBOOK.has_section("resolution")


def test_healthy_target_needs_no_resolution():
    result = diagnose(FakeTarget(), PROFILE, RUNBOOK)
    assert result.verdict.key == "no-outage"
    assert result.resolution.commands == []


@pytest.mark.parametrize(
    ("target", "command"),
    [
        (FakeTarget(), "gameday rollout undo"),
        (KubeLikeTarget(), "kubectl rollout undo deployment/ecommerce-backend -n production"),
    ],
)
def test_failed_deployment_names_the_runbooks_rollback_as_this_targets_command(target, command):
    result = diagnose(broken_release(target), PROFILE, RUNBOOK)
    assert result.verdict.key == "failed-deployment"
    assert result.resolution.runbook_step == "Resolution › 根本原因修復 › 如果由失敗的 deployment 造成"
    assert result.resolution.runbook_commands == ["kubectl rollout undo deployment/ecommerce-backend -n production"]
    assert result.resolution.commands == [command]
    assert target.actions == []


def test_dependency_failure_points_at_the_dependency_and_its_check():
    target = FakeTarget()
    target.checks["postgres"] = DependencyCheck("postgres", False, 2.0, "no response", "pg_isready -h db -p 5432")
    result = diagnose(target, PROFILE, RUNBOOK)
    assert result.verdict.key == "dependency-failure:postgres"
    assert "PostgreSQL" in result.resolution.steps[0]
    assert result.resolution.commands == ["pg_isready -h db -p 5432"]
    assert "相依服務" in result.resolution.runbook_step


@pytest.mark.parametrize(
    ("target", "commands"),
    [
        (FakeTarget(), ["gameday rollout restart"]),  # the local CLI has no config restore: only the restart
        (KubeLikeTarget(), ["kubectl restore config deployment/ecommerce-backend -n production",
                            "kubectl rollout restart deployment/ecommerce-backend -n production"]),
    ],
)
def test_configuration_problem_restores_then_restarts(target, commands):
    now = time.time()
    target.config_change_list.append(ConfigChange(now - 5, "configmap/ecommerce-backend-config", "config",
                                                  "configmap/ecommerce-backend-config written by kubectl-edit"))
    target.replica_list = [replace(r, ready=False, restarts=1) for r in target.replica_list]
    result = diagnose(target, PROFILE, RUNBOOK)
    assert result.verdict.key == "configuration-problem"
    assert result.resolution.runbook_commands == [
        "kubectl apply -f previous-config.yaml",
        "kubectl rollout restart deployment/ecommerce-backend -n production",
    ]
    assert result.resolution.commands == commands


def app_with(target, monkeypatch) -> typer.Typer:
    monkeypatch.setattr("gameday.diagnose.cli.get_target", lambda settings=None: target)
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """gameday (test)"""

    return app


def test_cli_prints_the_verdict_and_the_command(monkeypatch):
    result = CliRunner().invoke(app_with(broken_release(FakeTarget()), monkeypatch), ["diagnose"])
    assert result.exit_code == 0, result.output
    assert "VERDICT: failed deployment" in result.output
    assert "run: gameday rollout undo" in result.output
    assert "step 3 — dependencies:" in result.output


def test_cli_json_is_machine_readable(monkeypatch):
    result = CliRunner().invoke(app_with(FakeTarget(), monkeypatch), ["diagnose", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["verdict"]["key"] == "no-outage"
    assert [c["name"] for c in data["evidence"]["dependencies"]] == ["postgres", "redis", "kafka"]
    assert data["duration_s"] < 10


def test_cli_on_a_target_that_is_not_running_is_one_error(monkeypatch):
    target = FakeTarget()
    target.failures["replicas"] = TargetError("local stack is not running; run 'gameday up'")
    result = CliRunner().invoke(app_with(target, monkeypatch), ["diagnose"])
    assert result.exit_code != 0
    assert isinstance(result.exception, TargetError)
    assert "local stack is not running" in str(result.exception)


def test_a_release_that_answers_500_to_every_call_is_a_failed_deployment():
    target = FakeTarget()
    target.revisions.append(Revision(2, "1.5.0-bad", "deploy 1.5.0-bad", time.time() - 20))
    target.replica_list = [replace(r, revision=2, version="1.5.0-bad") for r in target.replica_list]
    target.api.status = 500  # every probe passes; every real request fails
    result = diagnose(target, PROFILE, RUNBOOK)
    assert result.verdict.key == "failed-deployment", result.verdict.summary
    assert result.resolution.commands and "undo" in result.resolution.commands[0]
    assert all(not a.failed for a in diagnose(FakeTarget(), PROFILE, RUNBOOK).evidence.api)
