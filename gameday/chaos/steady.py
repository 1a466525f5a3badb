"""The steady state of a runbook's experiments: one probe that runs the checks its runbook package lists.

Every experiment of a runbook starts and ends in the same steady state (the runbook's Verification). It is written
once, in the package's ``runbook.yaml`` (``steady_state``); each experiment's hypothesis is this one probe, and the
experiment names its runbook once, in its chaostoolkit ``configuration`` (``gameday_runbook``), which chaostoolkit
hands to the probe (with the run's settings: each check gets the same ``configuration``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from gameday import interrupts
from gameday.chaos import probes
from gameday.chaos.context import Configuration, run_context
from gameday.context import RUNBOOK_KEY
from gameday.errors import UsageError
from gameday.runbook.package import Runbook

__all__ = ["steady_state"]


def runbook_of(configuration: Configuration) -> str | None:
    """The runbook an experiment's configuration names (None: the service profile's)."""
    value = (configuration or {}).get(RUNBOOK_KEY)
    return str(value) if value else None


def checks(package: Runbook) -> list[tuple[str, Any, dict[str, Any]]]:
    """(name, probe function, arguments) of each steady-state check; UsageError names a probe that does not exist."""
    found = []
    for check in package.manifest.steady_state.checks:
        if check.probe not in probes.__all__:
            raise UsageError(f"{package.folder / 'runbook.yaml'}: steady_state: no probe {check.probe!r} in "
                             f"gameday.chaos.probes")
        found.append((check.name, getattr(probes, check.probe), dict(check.arguments)))
    return found


def steady_state(configuration: Configuration = None) -> dict[str, Any]:
    """The runbook's steady state: its checks, asked together (each reads the service, none changes it, so one's
    answer does not depend on another's: the state takes the slowest check's time, not their sum); reported in
    the runbook's order up to the first that failed; ``ok`` when all pass."""
    package = run_context(configuration).runbook
    found = checks(package)
    pool = ThreadPoolExecutor(max_workers=max(1, len(found)), thread_name_prefix="steady-state")
    try:
        futures = [pool.submit(_check, probe, {**arguments, "configuration": configuration})
                   for _, probe, arguments in found]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.05)
            interrupts.checkpoint()  # a safe point: an interrupt lands while the checks run
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    results: list[dict[str, Any]] = []
    for (name, _, _), future in zip(found, futures, strict=True):
        output = future.result()
        ok = bool(isinstance(output, dict) and output.get("ok"))
        results.append({"name": name, "ok": ok, "output": output})
        if not ok:
            break
    failed = [r["name"] for r in results if not r["ok"]]
    return {"ok": not failed, "runbook": package.name, "checks": results, "failed": failed}


def _check(probe: Any, arguments: dict[str, Any]) -> Any:
    try:
        return probe(**arguments)
    except Exception as exc:  # a probe that raises is a failed check, named, not a crashed hypothesis
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
