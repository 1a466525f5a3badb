"""The README's measured figures are the committed benchmark's, line for line: a reader can trust both or neither.

``make bench`` writes ``bench/results.md``; the README quotes its table between two markers. When the benchmark is
run again and the README is not updated (or a figure is edited by hand), this test fails.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _quoted() -> list[str]:
    text = (ROOT / "README.md").read_text()
    match = re.search(re.escape(START) + r"(.*?)" + re.escape(END), text, re.S)
    assert match, f"README.md has no {START} ... {END} block"
    return [line for line in match.group(1).strip().splitlines() if line.strip()]


def test_every_figure_the_readme_quotes_is_in_the_committed_bench_results() -> None:
    results = (ROOT / "bench" / "results.md").read_text().splitlines()
    quoted = _quoted()
    assert any(line.startswith("| ") and "|---" not in line for line in quoted), "the README quotes no figure"
    missing = [line for line in quoted if line not in results]
    assert not missing, f"README figures not in bench/results.md (run make bench, then quote it): {missing}"


def test_the_readme_quotes_the_benchmark_date() -> None:
    first = (ROOT / "bench" / "results.md").read_text().splitlines()[0]
    assert first.startswith("Measured ") and first in _quoted()
