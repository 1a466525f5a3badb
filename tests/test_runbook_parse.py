"""Reading the runbook: sections, items, commands with their comments and continuations; kubectl command lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday.errors import UsageError
from gameday.runbook.kubectl import NotKubectl, dependency_check, fill, parse, read_only_args, variables
from gameday.runbook.parse import default_runbook_path, log_patterns, parse_runbook, parse_text

SHIPPED = parse_runbook(default_runbook_path())


def test_the_shipped_runbook_is_the_teams():
    assert SHIPPED.title == "Runbook: Service Outage"
    # the team's copy lives in shared/, beside the repository (when it is there)
    for shared in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")):
        team = shared / "runbooks" / "service-outage.md"
        if team.exists():
            assert team.read_text() == default_runbook_path().read_text()


def test_sections_are_recognised():
    for name in ("symptoms", "detection", "diagnosis", "resolution", "verification", "prevention", "escalation"):
        assert SHIPPED.has_section(name), name
    assert [ln.text for ln in SHIPPED.section("symptoms")] == [
        "Service health check 失敗", "Load balancer 回傳 503/504 錯誤", "所有 API endpoints 回傳錯誤", "零成功請求",
    ]


def test_commands_carry_their_comment_step_and_line():
    commands = SHIPPED.commands("diagnosis")
    assert len(commands) == 8
    pods = commands[0]
    assert (pods.text, pods.comment, pods.line) == (
        "kubectl get pods -n production -l app=ecommerce-backend", "Check pod status", 28)
    assert pods.subsection == "步驟 1：檢查 Service 狀態"
    assert pods.where == "Diagnosis › 步驟 1：檢查 Service 狀態"


def test_continuation_lines_are_joined():
    pg = SHIPPED.commands("diagnosis")[5]
    assert pg.text == "kubectl exec -it ${POD_NAME} -n production -- pg_isready -h ${DB_HOST} -p 5432"
    assert pg.line == 51


def test_comment_only_blocks_are_notes_and_checklists_are_checks():
    notes = [ln for ln in SHIPPED.lines if ln.kind == "note"]
    assert [n.line for n in notes] == [70, 107]
    assert notes[1].subsection == "根本原因修復 › 如果由相依服務失敗造成"
    assert {ln.kind for ln in SHIPPED.section("verification")} == {"check"}


def test_log_patterns_come_from_detection():
    assert log_patterns(SHIPPED) == ["Connection refused", "service unavailable"]
    assert log_patterns(None) == ["Connection refused", "service unavailable"]
    custom = parse_text("## Detection\n\n- **Log Patterns**：OOMKilled, `deadlock`\n")
    assert log_patterns(custom) == ["OOMKilled", "deadlock"]


def test_a_missing_or_non_runbook_file_is_one_clear_error(tmp_path):
    with pytest.raises(UsageError, match="runbook not found"):
        parse_runbook(tmp_path / "nope.md")
    (tmp_path / "x.md").write_text("just text\n")
    with pytest.raises(UsageError, match="not a runbook"):
        parse_runbook(tmp_path / "x.md")


def test_kubectl_parsing():
    get = parse("kubectl get pods -n production -l app=ecommerce-backend")
    assert (get.verb, get.resource, get.namespace, get.selector, get.mutating) == (
        "get", "pods", "production", "app=ecommerce-backend", False)
    hist = parse("kubectl rollout history deployment/ecommerce-backend -n production")
    assert (hist.verb, hist.subverb, hist.resource, hist.name, hist.mutating) == (
        "rollout", "history", "deployments", "ecommerce-backend", False)
    undo = parse("kubectl rollout undo deployment/ecommerce-backend -n production")
    assert undo.mutating
    events = parse("kubectl get events -n production --sort-by='.lastTimestamp' | head -20")
    assert events.pipe == [["head", "-20"]]
    assert read_only_args(events) == ["get", "events", "-n", "production", "--sort-by=.lastTimestamp"]
    logs = parse("kubectl logs -f deployment/ecommerce-backend -n production --tail=100")
    assert (logs.follow, logs.resource, logs.name, logs.filename) == (True, "deployments", "ecommerce-backend", None)
    assert "-f" not in read_only_args(logs)
    ex = parse("kubectl exec -it pod-1 -n production -- pg_isready -h db -p 5432")
    assert (ex.interactive, ex.name, ex.mutating) == (True, "pod-1", True)
    assert ex.remote == ["pg_isready", "-h", "db", "-p", "5432"]
    assert read_only_args(ex) == ["exec", "pod-1", "-n", "production"]
    apply = parse("kubectl apply -f previous-config.yaml")
    assert (apply.filename, apply.mutating) == ("previous-config.yaml", True)
    svc = parse("kubectl get svc ecommerce-backend -n production")
    assert (svc.resource, svc.name) == ("services", "ecommerce-backend")
    with pytest.raises(NotKubectl):
        parse("curl http://example.invalid")


def test_an_exec_of_a_check_program_names_its_dependency_kind_and_address():
    def found(text: str) -> tuple[str, str] | None:
        hit = dependency_check(parse(text))
        return (hit[0].kind, hit[1]) if hit else None

    exec_ = "kubectl exec -it pod-1 -n production -- "
    assert found(exec_ + "pg_isready -h db -p 5432") == ("postgres", "db")
    assert found(exec_ + "/usr/bin/psql -h db -c 'select 1'") == ("postgres", "db")
    assert found(exec_ + "redis-cli ping") == ("redis", "")
    assert found(exec_ + "kafka-broker-api-versions.sh --bootstrap-server=k:9092") == ("kafka", "k:9092")
    assert found(exec_ + "cat /etc/hosts") is None
    assert found("kubectl get pods -n production") is None


def test_variables_are_found_and_filled():
    text = "kubectl exec -it ${POD_NAME} -- pg_isready -h ${DB_HOST} -h $DB_HOST"
    assert variables(text) == ["POD_NAME", "DB_HOST"]
    assert fill(text, {"POD_NAME": "p"}) == "kubectl exec -it p -- pg_isready -h ${DB_HOST} -h $DB_HOST"
