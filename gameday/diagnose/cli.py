"""``gameday diagnose [--json]``: the runbook's diagnosis steps 1-3 on the target, with a verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gameday.config import get_settings
from gameday.diagnose.diagnosis import diagnose, load_runbook
from gameday.diagnose.render import render_text
from gameday.errors import UsageError
from gameday.targets import get_target
from gameday.targets.model import TargetError


def register(app: typer.Typer) -> None:
    """Add ``diagnose`` to the gameday command."""
    app.command("diagnose")(diagnose_command)


def diagnose_command(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    runbook: Annotated[
        Path | None, typer.Option(help="runbook to name resolutions from (default: docs/runbooks/service-outage.md)")
    ] = None,
) -> None:
    """Run the runbook's diagnosis (pods, endpoints, service, history, events, dependencies, logs); read-only."""
    settings = get_settings()
    book = load_runbook(runbook)
    try:
        target = get_target(settings)
    except ImportError as exc:
        raise UsageError(f"the {settings.target} target is not available: {exc}") from None
    result = diagnose(target, settings.service, book)
    if not result.evidence.replicas and "replicas" in result.evidence.errors:
        raise TargetError(f"cannot diagnose the {target.name} target: {result.evidence.errors['replicas']}")
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print(render_text(result))
