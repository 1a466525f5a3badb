"""The README's measured figures are one complete ``make bench`` run's, on code that has not changed since: a reader
can trust them or this test fails.

``make bench`` writes ``bench/results.json`` (with the commit it measured) and ``bench/results.md``; the README quotes
the summary of ``results.md`` (everything before its first ``## `` heading) between two markers. This test fails
when the README block differs from that summary, when ``results.md`` is not what ``results.json`` renders (a figure
edited by hand), when the run was partial (``--only``, ``--trials``) or measured uncommitted code, and when a module
a figure measures (``bench.run.MEASURES``) changed after the commit it was measured on.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from bench import run as bench

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _quoted() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(re.escape(START) + r"(.*?)" + re.escape(END), text, re.S)
    assert match, f"README.md has no {START} ... {END} block"
    return match.group(1).strip() + "\n"


def _results() -> dict:
    return json.loads((ROOT / "bench" / "results.json").read_text())


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)


def test_the_readme_quotes_the_committed_results_summary_exactly() -> None:
    results_md = (ROOT / "bench" / "results.md").read_text()
    assert _quoted() == bench.summary(results_md), (
        "the README's bench block is not bench/results.md's summary: run make bench, then quote its summary")


def test_the_results_are_one_complete_run_on_a_commit_as_rendered() -> None:
    results = _results()
    run = results.get("run") or {}
    assert run.get("complete"), bench.not_quotable(run) or "bench/results.json has no run record"
    assert re.fullmatch(r"[0-9a-f]{40}", str(run.get("commit"))), run
    missing = [name for name in bench.BENCHES if name not in results]
    assert not missing, f"benchmarks missing from the run: {missing}"
    assert (ROOT / "bench" / "results.md").read_text() == bench.render_markdown(results), (
        "bench/results.md is not what bench/results.json renders (edited by hand?)")


def test_no_module_a_figure_measures_changed_after_its_commit() -> None:
    commit = (_results().get("run") or {}).get("commit")
    if _git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("not a git checkout: the figures' commit cannot be compared")
    if _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        pytest.skip("a shallow clone: the commit the figures were measured on may be missing (CI clones in full)")
    assert commit, "bench/results.json records no commit"
    assert _git("cat-file", "-e", f"{commit}^{{commit}}").returncode == 0, (
        f"the figures' commit {commit} is not in this repository's history")
    stale = {}
    for name in bench.BENCHES:
        if name not in _results():
            continue
        paths = bench.measured_paths(name)
        if _git("diff", "--quiet", commit, "HEAD", "--", *paths).returncode != 0:
            stale[name] = _git("diff", "--name-only", commit, "HEAD", "--", *paths).stdout.split()
    assert not stale, f"figures measured on {commit[:12]} of code changed since (run make bench again): {stale}"
