"""The live progress display: experiment, phase, current error rate and latency."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from gameday.load.timeline import Timeline


class Progress:
    """A table refreshed twice a second while the game day runs (plain lines when not on a terminal)."""

    def __init__(
        self, total: int, timeline: Callable[[], Timeline], console: Console | None = None, live: bool = True
    ) -> None:
        self.total = total
        self.timeline = timeline
        self.console = console or Console(stderr=True)
        self.live = live and self.console.is_terminal
        self.state: dict[str, Any] = {"index": 0, "name": "baseline", "phase": "measuring baseline"}
        self.done: list[tuple[str, str, str]] = []
        self._live: Live | None = None
        self._stop = threading.Event()
        self._last_line = ""

    def _table(self) -> Table:
        table = Table(title="gameday", expand=False)
        for col in ("#", "experiment", "phase", "req/s", "errors (5 s)", "p95 (5 s)"):
            table.add_column(col)
        for i, (name, result, detail) in enumerate(self.done, 1):
            table.add_row(str(i), name, result, "", "", detail)
        recent = self.timeline().last(5)
        rate = f"{recent.rate_rps:.0f}" if recent else "–"
        err = f"{100 * recent.error_rate:.1f}%" if recent and recent.error_rate is not None else "–"
        p95 = f"{recent.p95:.0f} ms" if recent and recent.p95 is not None else "–"
        table.add_row(f"{self.state['index']}/{self.total}", self.state["name"], self.state["phase"], rate, err, p95)
        return table

    def update(self, **state: Any) -> None:
        """Change what the current row shows."""
        self.state.update(state)
        if not self.live:
            line = f"[{self.state['index']}/{self.total}] {self.state['name']}: {self.state['phase']}"
            if line != self._last_line:
                self.console.print(line, markup=False, highlight=False)
                self._last_line = line

    def finished(self, name: str, result: str, detail: str) -> None:
        """An experiment ended."""
        self.done.append((name, result, detail))
        if not self.live:
            self.console.print(f"  {name}: {result} {detail}", markup=False, highlight=False)

    def __enter__(self) -> Progress:
        if self.live:
            self._live = Live(self._table(), console=self.console, refresh_per_second=2, transient=False)
            self._live.__enter__()
            threading.Thread(target=self._refresh, daemon=True).start()
        return self

    def _refresh(self) -> None:
        while not self._stop.wait(0.5):
            if self._live is not None:
                try:
                    self._live.update(self._table())
                except Exception:  # a display glitch must never end a game day
                    continue

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(None, None, None)
