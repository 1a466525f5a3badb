"""A diagnosis as text for people: verdict and resolution first, then what each runbook step saw."""

from __future__ import annotations

from datetime import datetime

from gameday.diagnose.diagnosis import Diagnosis
from gameday.diagnose.rules import TITLES, ago, config_line, event_line, replica_line


def render_text(d: Diagnosis, events: int = 10, revisions: int = 3) -> str:
    """The whole diagnosis, plain text."""
    ev, verdict, res = d.evidence, d.verdict, d.resolution
    when = datetime.fromtimestamp(ev.collected_at).strftime("%H:%M:%S")
    out = [f"diagnosis of the {d.target} target at {when} ({ev.duration_s:.1f}s, read-only)", ""]
    out.append(f"VERDICT: {verdict.title}")
    out.append(f"  {verdict.summary}")
    if verdict.alternatives:
        also = ", ".join(f"{_title(key)} ({c:.0%})" for key, c in verdict.alternatives)
        out.append(f"  confidence {verdict.confidence:.0%}; the evidence also fits: {also}")
    if verdict.evidence:
        out.append("evidence:")
        out += [f"  - {line}" for line in verdict.evidence]
    if res.steps or res.commands:
        out.append("")
        out.append("resolution" + (f" (runbook: {res.runbook_step})" if res.runbook_step else "") + ":")
        out += [f"  {step}" for step in res.steps]
        out += [f"  run: {cmd}" for cmd in res.commands]
        out += [f"  (runbook: {cmd})" for cmd in res.runbook_commands]
    out += ["", "step 1 — service status:"]
    out += [f"  {replica_line(r)}" for r in ev.replicas] or ["  (no replicas)"]
    for e in ev.endpoints:
        out.append(f"  endpoint {e.name} {e.address}: {'ready' if e.ready else 'NOT ready'} {e.state}".rstrip())
    lb = ev.load_balancer
    if lb is not None:
        out.append(f"  load balancer {lb.name} {lb.url}: {lb.state}, {lb.ready_backends}/{lb.total_backends} ready")
    out.append("step 2 — recent changes:")
    for rev in ev.history[-revisions:]:
        out.append(f"  revision {rev.number} {rev.version} {ago(ev.collected_at - rev.created_at)} ago: "
                   f"{rev.change_cause}")
    out += [f"  {config_line(c, ev.collected_at)}" for c in ev.config_changes]
    out += [f"  {event_line(e, ev.collected_at)}" for e in ev.events[-events:]]
    out.append("step 3 — dependencies:")
    for c in ev.dependencies:
        out.append(f"  {c.name:<9} {'OK' if c.ok else 'FAILED':<6} {c.latency_s * 1000:6.0f} ms  {c.detail}"
                   + (f"  [{c.command}]" if c.command else ""))
    out.append(f"logs: {len(ev.log_matches)} of {ev.log_lines_read} lines match the runbook's patterns")
    for source, error in ev.errors.items():
        out.append(f"  no answer from {source}: {error}")
    return "\n".join(out)


def _title(key: str) -> str:
    kind, _, dependency = key.partition(":")
    title = TITLES.get(kind, kind)
    return f"{title}: {dependency}" if dependency else title
