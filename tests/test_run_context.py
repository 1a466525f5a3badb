"""One run context, handed down: chaostoolkit gives each activity the run's settings in the experiment's
``configuration``, and the activity works with those, never with whatever settings the process holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaoslib.experiment import run_experiment

from gameday.chaos.runner import ROLLBACKS_ALWAYS, handed_down
from gameday.config import Settings
from gameday.context import SETTINGS_KEY, RunContext
from gameday.ledger import LedgerEntry
from gameday.targets import ledger_for

NOT_THIS_PROCESS = 1  # a ledger entry owned by pid 1: another run's fault, as no_faults_from_other_runs sees it


def _experiment() -> dict[str, Any]:
    """One steady-state probe that reads the ledger of the run's state directory, and nothing else."""
    return {
        "version": "1.0.0",
        "title": "reads the run's ledger",
        "description": "no_faults_from_other_runs, through chaostoolkit",
        "configuration": {"gameday_runbook": "service-outage"},
        "steady-state-hypothesis": {"title": "no other run's fault", "probes": [{
            "type": "probe", "name": "no-faults-from-other-runs", "tolerance": {
                "type": "jsonpath", "path": "$.ok", "expect": True},
            "provider": {"type": "python", "module": "gameday.chaos.probes", "func": "no_faults_from_other_runs"}}]},
        "method": [],
    }


def _probe_output(settings: Settings) -> dict[str, Any]:
    experiment = _experiment()
    experiment["configuration"] = handed_down(experiment, settings)
    journal = run_experiment(experiment, settings=ROLLBACKS_ALWAYS)
    return journal["steady_states"]["before"]["probes"][0]["output"]


def test_an_activity_reads_the_state_directory_its_configuration_names(tmp_path: Path, settings: Settings) -> None:
    """Two state directories, neither the process's: the probe sees the fault in the one its run was given."""
    faulty, clean = Settings(state_dir=tmp_path / "faulty"), Settings(state_dir=tmp_path / "clean")
    assert settings.state_dir not in (faulty.state_dir, clean.state_dir)
    entry = LedgerEntry(fault="kill-replicas", params={}, target={"kind": "local", "state_dir": str(faulty.state_dir)},
                        owner_pid=NOT_THIS_PROCESS, owner_host="elsewhere")
    ledger_for(faulty).add(entry)
    assert _probe_output(faulty) == {"ok": False, "entries": [entry.describe()]}
    assert _probe_output(clean) == {"ok": True, "entries": []}


def test_the_configuration_rebuilds_the_same_settings_without_the_history_url(tmp_path: Path) -> None:
    """What the runner hands down is enough to rebuild the run's settings, and leaves out the history store's URL
    (the journal keeps a copy of the configuration; such a URL may hold a password)."""
    settings = Settings(state_dir=tmp_path, reports_dir=tmp_path / "reports",
                        slo={"baseline_slack_ms": 7.0}, history={"url": "postgresql://u:s3cret@db/history"})
    handed = RunContext.from_settings(settings, "service-outage").configuration()
    assert "s3cret" not in repr(handed) and "history" not in handed[SETTINGS_KEY]
    rebuilt = RunContext.from_configuration(handed)
    assert rebuilt.runbook_name == "service-outage"
    assert rebuilt.settings.model_dump(exclude={"history"}) == settings.model_dump(exclude={"history"})
    assert rebuilt.state_dir == tmp_path and rebuilt.settings.slo.baseline_slack_ms == 7.0
