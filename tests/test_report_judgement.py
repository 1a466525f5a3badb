"""What the report says about the judge itself: which diagnosis mode ran, alerts not judged and why, what advisory
mode did not gate, how long a stop condition was blind."""

from __future__ import annotations

import json

from gameday.report.writer import write_report
from gameday.run.session import GameDayResult, blind_line

T0 = 1_790_000_000.0


def _experiment(name: str, **kw) -> dict:
    return {"name": name, "title": name, "status": "passed", "message": "", "started_at": T0, "finished_at": T0 + 30,
            "injected_at": T0 + 1, "checklist": [], "symptoms_expected": [], "symptoms_seen": {},
            "escalation": {"level": "on-call engineer"}, "notifications": [], "time_to_detect_s": None,
            "time_to_recover_s": None, "time_to_verify_s": None, **kw}


def test_the_summary_and_the_page_say_the_mode_what_was_not_judged_and_how_long_the_guard_was_blind(tmp_path):
    wrong = {"verdict": "configuration-problem", "expected": "dependency-failure:postgres", "correct": False,
             "gating": False}
    experiments = [
        _experiment("postgres-down", diagnosis=wrong, advisory=["diagnosis wrong: configuration-problem, expected "
                                                                "dependency-failure:postgres"],
                    alert={"expected": True, "fired_at": None, "as_expected": None,
                           "not_judged": "the run did not wait for the alert (--no-alert-wait)"}),
        _experiment("redis-down", alert={"expected": False, "fired_at": T0 + 9, "as_expected": False}),
        _experiment("kafka-down", alert={"expected": True, "error": "unreachable", "as_expected": None,
                                         "not_judged": "Prometheus did not answer (unreachable)"}),  # no times at all
    ]
    blind = [{"condition": "promql up == 0 on-error continue", "on_error": "continue", "since": T0 + 2,
              "until": T0 + 5.5, "seconds": 3.5, "cause": "Prometheus at http://127.0.0.1:9 unreachable (ConnectError)",
              "experiment": "postgres-down"}]
    report = {"status": "passed", "message": "diagnosis advisory: ...", "target": "local", "started_at": T0,
              "wall_time_s": 60.0, "baseline": {}, "experiments": experiments, "guard_blind": blind,
              "diagnosis_mode": "advisory", "dry_run": True, "ledger_clean": True}
    out = write_report(report, [], tmp_path / "r")
    summary = (out / "summary.md").read_text()
    assert summary.splitlines()[0] == "## Game day: PASSED (local, 60.0 s, diagnosis advisory)"
    assert "| not judged (the run did not wait for the alert (--no-alert-wait)) |" in summary
    assert "| ✘ fired |" in summary  # redis-down paged although no outage was expected
    assert "| not judged (Prometheus did not answer (unreachable)) |" in summary
    assert "**Diagnosis advisory (not gating):**\n- postgres-down: diagnosis wrong: configuration-problem" in summary
    assert ("- promql up == 0 on-error continue: 3.5 s (Prometheus at http://127.0.0.1:9 unreachable (ConnectError);"
            " on error: continue)") in summary
    html = (out / "index.html").read_text()
    assert "diagnosis <b>advisory</b> (not gating)" in html and "Guard blind:" in html
    assert "<b>not judged</b> (the run did not wait for the alert (--no-alert-wait))" in html
    assert json.loads((out / "report.json").read_text())["diagnosis_mode"] == "advisory"
    assert blind_line(blind + blind) == ("guard blind: promql up == 0 on-error continue for 7.0s "
                                         "(Prometheus at http://127.0.0.1:9 unreachable (ConnectError))")


def test_the_regression_gate_exit_code_comes_from_the_report_and_never_hides_a_failure(tmp_path):
    def code(status: str, gate: int | None) -> int:
        report = {"status": status, **({"regression_gate": {"lines": [], "exit_code": gate}} if gate is not None
                                       else {})}
        return GameDayResult(report, tmp_path).exit_code

    assert (code("passed", None), code("passed", 0), code("passed", 4), code("failed", 1)) == (0, 0, 4, 1)
    assert code("stopped", 6) == 6 and code("interrupted", None) == 130
