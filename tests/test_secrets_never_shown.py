"""End to end (slow): a secret from ``{env.NAME}`` in an endpoint's path, a query, a header and a journey step's
POST body is sent, and never appears in what gameday prints or stores: ``profile check``, ``smoke``, a game day of
one experiment (report, journal, history), the load balancer's log, every file of the state directory.

The profile is the reference service's with four additions, each carrying the secret where the service does not
log or store it (its own logs and databases are the service's business, not gameday's): an unknown path answered
404 (the issue's ``/api/nope/<secret>``), the catalogue with the secret in its query and in an ``Authorization``
header, and a journey whose POST body holds the secret where a number belongs (answered 422 with the secret echoed in
the body). The endpoints are probes of the game day and all of it is in the load mix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.local_profiles import ecommerce

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
SECRET = "gd-s3cret-7f2c91ab"  # only characters a path, a query and a cart id take as they are
SECRET_ENV = "GAMEDAY_TEST_API_SECRET"


def _with_secrets(data: dict[str, Any]) -> None:
    secret = f"{{env.{SECRET_ENV}}}"
    data["local"]["replicas"] = 1
    data["endpoints"] += [
        {"name": "secret-path", "path": f"/api/nope/{secret}", "expect": 404},
        {"name": "secret-query", "path": f"/api/products?token={secret}",
         "headers": {"Authorization": f"Bearer {secret}"}, "expect": 200},
    ]
    data["journeys"].append({"name": "secret-body", "steps": [
        {"path": "/api/products", "expect": 200},
        {"method": "POST", "path": "/api/cart/gameday-{run_id}/items", "json": {"product_id": secret, "quantity": 1},
         "headers": {"X-Api-Key": secret}, "expect": 422},
    ]})
    data["detection"]["probes"] += ["secret-path", "secret-query"]
    data["load"]["mix"] += [{"endpoint": "secret-path", "weight": 3}, {"endpoint": "secret-query", "weight": 3},
                            {"journey": "secret-body", "weight": 3}]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A stack of the profile with secrets, in a state directory of its own (no monitoring), taken down after."""
    state = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="gameday-secrets-"))
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(state), "GAMEDAY_PROFILE": str(ecommerce(tmp_path, _with_secrets)),
           "GAMEDAY_LOCAL__MONITORING": "false", SECRET_ENV: SECRET}
    try:
        yield env
    finally:
        _gameday(env, "down")  # undoes any fault a failed run left, as it stops everything
        shutil.rmtree(state, ignore_errors=True)


def _gameday(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], capture_output=True, text=True, check=False,
                          cwd=ROOT, env=env, timeout=timeout)


def _files_holding(secret: str, *folders: Path) -> list[str]:
    """Every file under ``folders`` whose bytes hold ``secret`` (sockets, pipes and the like skipped)."""
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink() and secret.encode() in path.read_bytes():
                found.append(str(path))
    return found


@pytest.mark.timeout(240)
def test_a_secret_in_path_query_header_and_body_is_never_printed_or_stored(env: dict[str, str],
                                                                           tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    outputs = []
    for args in (("up",), ("profile", "check"), ("profile", "check", "--json"), ("smoke",),
                 ("run", "redis-down", "--no-live", "--no-alert-wait", "--baseline", "2", "--verify-window", "3",
                  "--users", "2", "--reports-dir", str(reports)), ("runs", "--json")):
        done = _gameday(env, *args)
        outputs.append((args, done))
        assert done.returncode in (0, 1), f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert outputs[0][1].returncode == 0, outputs[0][1].stderr
    state = Path(env["GAMEDAY_STATE_DIR"])
    printed = [f"{args}: {'stdout' if i == 0 else 'stderr'}" for args, done in outputs
               for i, text in enumerate((done.stdout, done.stderr)) if SECRET in text]
    stored = _files_holding(SECRET, state, tmp_path)  # tmp_path: the reports, and the profile (it names the variable)
    assert not printed and not stored, f"printed in {printed}, stored in {stored}"

    check = outputs[1][1]
    assert check.returncode == 0, check.stdout + check.stderr  # every secret-bearing request answered as expected
    assert "GET /api/nope/*** -> 404" in check.stdout and "GET /api/products?token=*** -> 200" in check.stdout
    assert (state / "logs" / "load-balancer.log").read_text().count("ecommerce-backend-lb ") > 50  # HAProxy logged
    assert list(reports.glob("*/report.json")) and list(reports.glob("*/journals/redis-down.json"))
    assert {run["kind"] for run in json.loads(outputs[-1][1].stdout)} == {"smoke", "run"}  # both in the history
