"""``gameday load``: a bounded headless run from the command line; bad input is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gameday.cli import app
from gameday.load.cli import register
from tests.test_load_runner import StubShop, shop  # noqa: F401 - the stub shop fixture

REPO = Path(__file__).resolve().parents[1]
CLI = "from gameday.cli import app, main; from gameday.load.cli import register; register(app); main()"

register(app)


@pytest.mark.parametrize(("args", "message"), [
    (["--users", "0"], "users must be"), (["--duration", "0"], "duration must be"),
    (["--host", "nope"], "expected an http(s) URL"), (["--workers", "50"], "workers must be"),
    (["--wait", "fast"], "expected MIN,MAX"), (["--wait", "3,1"], "wait must be"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(tmp_path)}
    res = subprocess.run([sys.executable, "-c", CLI, "load", "--host", "http://127.0.0.1:9", *args], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
def test_load_runs_bounded_and_reports_the_timeline(shop: StubShop, tmp_path: Path) -> None:  # noqa: F811
    url = f"http://127.0.0.1:{shop.server_address[1]}"
    res = CliRunner().invoke(app, ["load", "--host", url, "--users", "2", "--duration", "2", "--wait", "0,0.05",
                                   "--out-dir", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["timeline"]["requests"] > 0 and data["timeline"]["failures"] == 0
    assert data["timeline"]["requests"] == data["locust_totals"]["requests"]
    assert (tmp_path / "timeline.jsonl").exists() and (tmp_path / "stats.json").exists()
