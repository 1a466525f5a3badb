"""Experiments state only what differs from their runbook: the steady state and rollbacks come from the package.

chaostoolkit has no include: the experiment declares the ``runbook-defaults`` control, which fills in the runbook's
blocks before chaostoolkit looks for a steady state. These tests run the real ``chaos`` command (no stack needed:
a steady state that cannot be met is what they look for) and gameday's one reader, ``lint.load``.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gameday.chaos import defaults, lint
from gameday.chaos.journal import verdict_from_journal
from gameday.errors import UsageError
from gameday.runbook.package import find
from tests.chaos_support import env_for, gameday_chaos

ROOT = Path(__file__).resolve().parents[1]
CHAOS = str(Path(sys.executable).with_name("chaos"))
SHIPPED = sorted((ROOT / "experiments").glob("*/*.json"))


def _experiment(runbook: str = "service-outage", **extra: Any) -> dict[str, Any]:
    return {"title": "t", "description": "d", "configuration": {"gameday_runbook": runbook},
            "controls": [defaults.CONTROL],
            "method": [{"type": "action", "name": "inject-fault", "provider": {
                "type": "python", "module": "gameday.chaos.actions", "func": "inject_fault",
                "arguments": {"fault": "stop-dependency", "params": {"dependency": "redis"}}}}], **extra}


def _write(tmp_path: Path, experiment: dict[str, Any], name: str = "x.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(experiment))
    return path


def _chaos_run(tmp_path: Path, path: Path) -> dict[str, Any]:
    done = subprocess.run([CHAOS, "--no-version-check", "run", "--rollback-strategy", "always", str(path)],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path,
                          env=env_for(tmp_path / "state"))
    assert (tmp_path / "journal.json").is_file(), done.stderr[-2000:]
    return json.loads((tmp_path / "journal.json").read_text())


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_shipped_experiment_takes_its_runbooks_defaults_and_names_its_fault_once(path: Path) -> None:
    written = json.loads(path.read_text())
    assert written["controls"] == [defaults.CONTROL]
    assert "steady-state-hypothesis" not in written and "rollbacks" not in written
    runbook = find(written["configuration"]["gameday_runbook"])
    given = runbook.experiment_defaults.model_dump(by_alias=True)
    effective = defaults.effective(written)
    assert effective["steady-state-hypothesis"] == given["steady-state-hypothesis"]
    assert effective["rollbacks"] == given["rollbacks"]
    assert "steady-state-hypothesis" not in written  # effective() copies: the file's dict is untouched
    faults = [a["provider"]["arguments"]["fault"] for a in written["method"]
              if a["provider"].get("func") == "inject_fault"]
    assert len(faults) == 1 and lint.findings(path) == []  # named once (its own name as a tag is its name)
    assert [a["name"] for a in written["method"] if a["provider"].get("func") == "inject_fault"] == ["inject-fault"]


def test_lint_flags_a_missing_control_a_copied_default_and_a_fault_named_twice(tmp_path: Path) -> None:
    clean = _write(tmp_path, _experiment())
    assert lint.findings(clean) == []
    old = _experiment(tags=["stop-dependency"], description="Redis is stopped (gameday fault stop-dependency).")
    old["method"][0]["name"] = "inject-stop-dependency"
    del old["controls"]
    found = lint.findings(_write(tmp_path, old, "old.json"))
    assert any("no runbook-defaults control" in f for f in found)
    assert {f.split(" again in ")[1].split(" (")[0] for f in found if " again in " in f} == {
        "description", "tag 'stop-dependency'", "activity name 'inject-stop-dependency'"}
    given = find("service-outage").experiment_defaults.model_dump(by_alias=True)
    copied = _experiment(rollbacks=copy.deepcopy(given["rollbacks"]))
    assert lint.findings(_write(tmp_path, copied, "copied.json")) == [
        f"{tmp_path / 'copied.json'}: rollbacks copies its runbook's: leave it out"]
    # the experiment's own name as its tag is not the fault named again (bad-config is both)
    assert lint.findings(_write(tmp_path, _experiment(tags=["x"]), "x.json")) == []


def test_gameday_chaos_validate_refuses_what_the_lint_finds(tmp_path: Path) -> None:
    old = _experiment()
    old["method"][0]["name"] = "inject-stop-dependency"
    path = _write(tmp_path, old)
    result = gameday_chaos("validate", str(path), state_dir=tmp_path / "state", cwd=tmp_path)
    assert result.returncode == 1 and "valid:" not in result.stdout
    assert result.stderr.strip() == (f"{path}: names its fault 'stop-dependency' again in activity name "
                                     "'inject-stop-dependency' (the inject_fault's fault argument is the one place)")


def test_an_experiment_keeps_what_it_states_itself() -> None:
    own = {"title": "mine", "probes": [{"type": "probe", "name": "p", "provider": {
        "type": "python", "module": "gameday.chaos.probes", "func": "health_checks_pass"}}]}
    effective = defaults.effective(_experiment(**{"steady-state-hypothesis": own, "rollbacks": []}))
    assert effective["steady-state-hypothesis"] == own and effective["rollbacks"] == []
    without = _experiment()
    del without["controls"]
    assert "steady-state-hypothesis" not in defaults.effective(without)  # no control: taken as written


def test_defaults_that_cannot_be_had_are_one_line_for_gameday(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        lint.load(_write(tmp_path, _experiment("no-such-runbook")))
    assert "no runbook package 'no-such-runbook'" in str(err.value) and "\n" not in str(err.value)
    unnamed = _experiment()
    del unnamed["configuration"]
    with pytest.raises(UsageError, match="names no runbook"):
        lint.load(_write(tmp_path, unnamed, "unnamed.json"))


def test_the_control_fails_closed_when_the_defaults_cannot_be_had() -> None:
    experiment = _experiment("no-such-runbook")
    defaults.configure_control(experiment, configuration=experiment["configuration"])
    (probe,) = experiment["steady-state-hypothesis"]["probes"]
    reason = probe["provider"]["arguments"]["reason"]
    assert reason.startswith("runbook defaults not applied: no runbook package 'no-such-runbook'")
    assert defaults.defaults_unavailable(reason) == {"ok": False, "reason": reason}


def test_plain_chaos_run_gets_the_runbooks_steady_state_before_the_method_and_its_rollbacks(tmp_path: Path) -> None:
    # no stack in this state directory: the runbook's steady state is not met, so the method must not run; what
    # matters is that it was there (chaostoolkit would otherwise say "just exploring" and inject the fault)
    journal = _chaos_run(tmp_path, _write(tmp_path, _experiment()))
    before = journal["steady_states"]["before"]
    assert [p["activity"]["name"] for p in before["probes"]] == ["runbook-steady-state"]
    assert before["steady_state_met"] is False and journal["run"] == []
    assert [(r["activity"]["name"], r["status"]) for r in journal["rollbacks"]] == [("undo-faults", "succeeded")]
    # the journal's copy of the experiment was taken before the control ran: it is given the blocks filled in
    assert journal["experiment"]["steady-state-hypothesis"]["probes"][0]["name"] == "runbook-steady-state"
    assert journal["experiment"]["rollbacks"][0]["name"] == "undo-faults"
    assert not verdict_from_journal(journal)[0]


def test_plain_chaos_run_without_its_runbook_stops_before_the_method_saying_why(tmp_path: Path) -> None:
    journal = _chaos_run(tmp_path, _write(tmp_path, _experiment("no-such-runbook")))
    before = journal["steady_states"]["before"]
    (probe,) = before["probes"]
    assert probe["activity"]["name"] == "runbook-defaults-loaded" and before["steady_state_met"] is False
    assert "no runbook package 'no-such-runbook'" in probe["output"]["reason"]
    assert journal["run"] == []  # the fault was never injected
    ok, message = verdict_from_journal(journal)
    assert not ok and message.startswith("system not healthy before the experiment: runbook-defaults-loaded")
