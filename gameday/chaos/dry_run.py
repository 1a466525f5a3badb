"""``gameday run --dry-run`` / ``chaos run --dry-run``: what a game day would touch, without touching it.

Only read-only calls reach the target (replica names, current revision, dependency addresses); nothing is
written to the ledger, no lock is taken, no load is started. Each experiment's plan names the objects the
fault would change, the fault and its parameters, the symptoms and diagnosis expected, the stop conditions
in force and the resolution the experiment's method would take.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from gameday.chaos import lint
from gameday.chaos.catalogue import CatalogueEntry, catalogue
from gameday.config import Settings, StopConditions
from gameday.guard import stops
from gameday.safety import guard_settings
from gameday.targets import get_target
from gameday.targets.base import Target
from gameday.targets.kubernetes.cluster import cluster

INJECT = "inject_fault"


@dataclass
class Plan:
    """One experiment's plan."""

    experiment: str
    title: str
    fault: str
    params: dict[str, Any]
    touches: list[str]
    expected_symptoms: str
    expected_diagnosis: str
    stop_conditions: list[str]
    resolution: list[str]
    rollbacks: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """For people."""
        params = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items())) or "defaults"
        return [
            f"{self.experiment}: {self.title}",
            f"  fault:       {self.fault} ({params})",
            *[f"  touches:     {t}" for t in self.touches],
            f"  symptoms:    {self.expected_symptoms}",
            f"  diagnosis:   {self.expected_diagnosis}",
            *[f"  stop:        {c}" for c in self.stop_conditions],
            f"  resolution:  {' -> '.join(self.resolution) or 'none in the method (rollbacks only)'}",
            f"  rollbacks:   {', '.join(self.rollbacks) or 'none'} (then every fault of the run undone)",
        ]


def touches(fault: str, params: dict[str, Any], target: Target, settings: Settings) -> list[str]:
    """The objects the fault would change, by name (read-only calls only)."""
    kube = cluster(settings) if settings.target == "kubernetes" else None
    where = f"deployment {kube.deployment} in {kube.namespace}" if kube is not None else "the local rollout"
    if fault in ("kill-replicas", "freeze-replicas"):
        names = params.get("replicas") or [r.name for r in target.replicas()]
        return [f"replica {n} ({where})" for n in names]
    if fault == "bad-release":
        current = target.current_revision()
        now = f"revision {current.number} ({current.version})" if current else "no revision"
        return [f"{where}: {now} -> {params.get('version') or target.bad_release()}"]
    if fault == "bad-config":
        store = f"configmap {kube.configmap}" if kube is not None else "the local configuration"
        changes = params.get("changes") or target.broken_config()
        return [f"{store}: {', '.join(f'{k}={v}' for k, v in changes.items())}; then every replica restarted"]
    if fault in ("stop-dependency", "hang-dependency"):
        name = str(params.get("dependency"))
        states = {d.name: d for d in target.dependency_states()}
        dep = states.get(name)
        return [f"dependency {name}" + (f" at {dep.address} ({dep.state})" if dep else "")]
    if fault.startswith("dependency-"):  # the network faults: a toxic on the fault proxy's link to it
        shown = ", ".join(f"{k}={v}" for k, v in params.items() if k != "dependency")
        return [f"every connection of the replicas to {params.get('dependency')} (through the fault proxy): "
                f"{fault}{f' ({shown})' if shown else ''}"]
    return [f"{fault}: see 'gameday profile schema'"]


def _activities(experiment: dict[str, Any]) -> tuple[list[str], list[str]]:
    method = experiment.get("method") or []
    after = False
    resolution = []
    for activity in method:
        if (activity.get("provider") or {}).get("func") == INJECT:
            after = True
        elif after:
            resolution.append(str(activity.get("name")))
    return resolution, [str(a.get("name")) for a in experiment.get("rollbacks") or []]


def plan(entries: list[CatalogueEntry], target: Target, settings: Settings, conditions: StopConditions) -> list[Plan]:
    """Every experiment's plan, in run order."""
    plans = []
    for entry in entries:
        resolution, rollbacks = _activities(lint.load(entry.path))
        plans.append(Plan(
            experiment=entry.name,
            title=entry.title,
            fault=entry.fault,
            params=entry.params,
            touches=touches(entry.fault, entry.params, target, settings),
            expected_symptoms="outage: users see 503/504" if entry.expects_outage
            else "degraded: the service keeps serving",
            expected_diagnosis=entry.expected_verdict or "not judged",
            stop_conditions=stops.describe(conditions, entry.name),
            resolution=resolution,
            rollbacks=rollbacks,
        ))
    return plans


def to_json(plans: list[Plan], target: Target) -> dict[str, Any]:
    """The machine-readable form (``--json``)."""
    return {"dry_run": True, "target": target.identity(), "experiments": [asdict(p) for p in plans]}


def print_plan(settings: Settings, experiments: list[str], conditions: StopConditions, as_json: bool) -> int:
    """``--dry-run``: check what a run would check first (allowlist, experiments, stop conditions), print the plan.

    Returns the exit code (0). Nothing is written: no ledger entry, no lock, no report directory.
    """
    guard_settings(settings)
    target = get_target(settings)
    target.reachable()
    entries = catalogue(experiments or None, settings.service, target.identity().get("kind"))
    runnable = [e for e in entries if not e.skip]
    probed = [settings.service.service.health_path] + [
        x for e in settings.service.probe_endpoints() for x in (e.name, e.path)]
    stops.validate(conditions, [e.name for e in entries], target.prometheus_url(), probed)
    plans = plan(runnable, target, settings, conditions)
    skipped = [{"name": e.name, "reason": e.skip} for e in entries if e.skip]
    if as_json:
        print(json.dumps({**to_json(plans, target), "skipped": skipped}, indent=2, default=str))
        return 0
    print(f"dry run against {target.name} ({target.base_url()}): nothing will be touched")
    for p in plans:
        print("\n".join(p.lines()))
    for s in skipped:
        print(f"{s['name']}: skipped ({s['reason']})")
    return 0
