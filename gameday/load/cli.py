"""``gameday load``: a bounded headless locust run against the target, with its per-second timeline.

Wire it with ``from gameday.load.cli import register; register(app)``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

import typer
from rich.console import Console
from rich.table import Table

from gameday.config import get_settings
from gameday.errors import GamedayError, UsageError
from gameday.flags import within
from gameday.load.runner import DEFAULT_LOCUSTFILE, MAX_DURATION_S, MAX_USERS, MAX_WORKERS, LoadSpec, run_load
from gameday.targets import get_target

out = Console(highlight=False, soft_wrap=True)
MIN_SPAWN_RATE = 0.01  # users per second: one user every 100 s, the slowest start that still means something


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _parse_wait(text: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise UsageError(f"--wait {text!r}: expected MIN,MAX seconds, e.g. 0.5,2") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high <= 60):
        raise UsageError(f"--wait must be 0 <= MIN <= MAX <= 60 s, got {text!r}")
    return low, high


def _check_flags(users: int | None, duration: float, spawn_rate: float | None, workers: int, host: str | None,
                 locustfile: Path) -> None:
    """Every flag before the target is reached or locust writes a file: a refusal changes nothing (exit 2)."""
    if users is not None:
        within("--users", users, 1, MAX_USERS)
    within("--duration", duration, 1, MAX_DURATION_S, "s")
    if spawn_rate is not None:
        within("--spawn-rate", spawn_rate, MIN_SPAWN_RATE, MAX_USERS, "users/s")
    within("--workers", workers, 0, MAX_WORKERS)
    if host is not None and (urlparse(host).scheme not in ("http", "https") or not urlparse(host).netloc):
        raise UsageError(f"--host {host!r}: expected an http(s) URL")
    if not locustfile.is_file():
        raise UsageError(f"--locustfile not found: {locustfile}")


def register(app: typer.Typer) -> None:
    """Add ``load`` to the gameday CLI (once: calling it again changes nothing)."""
    if any((c.name or getattr(c.callback, "__name__", "")) == "load" for c in app.registered_commands):
        return

    @app.command()
    def load(
        users: Annotated[int | None, typer.Option(
            "--users", "-u", help="simulated users (1-200; default: the profile's load.users)")] = None,
        duration: Annotated[float, typer.Option("--duration", "-t", help="seconds (1-3600)")] = 10.0,
        spawn_rate: Annotated[float | None, typer.Option(
            help="users started per second (0.01-200; default: all)")] = None,
        workers: Annotated[int, typer.Option(help="distributed mode: this many local workers (0-8)")] = 0,
        host: Annotated[str | None, typer.Option(help="URL to load (default: the target's load balancer)")] = None,
        locustfile: Annotated[Path, typer.Option(
            help="a locustfile of your own (default: users built from the profile's journeys and mix)",
        )] = DEFAULT_LOCUSTFILE,
        wait: Annotated[str | None, typer.Option(help="think time 'MIN,MAX' s (default: the locustfile's)")] = None,
        out_dir: Annotated[Path | None, typer.Option(help="timeline.jsonl, stats.json, locust.log go here")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable summary")] = False,
    ) -> None:
        """Run the profile's load mix headless in a locust subprocess; print the per-second timeline."""
        _check_flags(users, duration, spawn_rate, workers, host, locustfile)
        think = _parse_wait(wait) if wait is not None else None
        settings = get_settings()
        if host is None:
            target = get_target(settings)
            target.reachable()
            host = target.base_url()
        out_path = out_dir or settings.reports_dir / "load"
        result = run_load(LoadSpec(host=host, users=settings.service.load.users if users is None else users,
                                   duration_s=duration,
                                   spawn_rate=spawn_rate, workers=workers, locustfile=locustfile, wait=think,
                                   out_dir=out_path,
                                   profile=settings.service.source))
        if result.tool_error and not result.timeline.requests:
            raise GamedayError(f"load did not run: {result.tool_error} (log: {result.out_dir / 'locust.log'})")
        if as_json:
            print(json.dumps(result.to_dict(), indent=2, default=str))
            return
        table = Table("SECOND", "USERS", "REQUESTS", "FAILURES", "P50 ms", "P95 ms", "P99 ms", title="timeline")
        for s in result.timeline.seconds:
            table.add_row(str(s.t), str(s.users), str(s.requests), str(s.failures), _ms(s.percentile(0.5)),
                          _ms(s.percentile(0.95)), _ms(s.percentile(0.99)))
        out.print(table)
        tl = result.timeline
        rate = f"{tl.error_rate:.2%}" if tl.error_rate is not None else "-"
        out.print(f"{tl.requests} requests, {tl.failures} failed ({rate}), {tl.rate_rps:.0f} req/s, "
                  f"p50 {_ms(tl.p50)} ms, p95 {_ms(tl.p95)} ms, p99 {_ms(tl.p99)} ms; files in {result.out_dir}",
                  markup=False)
        for message, count in list(tl.errors().items())[:5]:
            out.print(f"  {count}x {message}", markup=False)
