"""The evidence lines of a verdict: the platform's rows (pods, events, changes, checks, logs) as sentences."""

from __future__ import annotations

import re
from typing import Any

from gameday.dependencies import KINDS as DEPENDENCY_KINDS
from gameday.diagnose.evidence import CRASH_PATTERNS, Evidence
from gameday.profile import Dependency
from gameday.targets.model import ConfigChange, Event, Replica

MAX_LOG_EVIDENCE = 6


def ago(seconds: float) -> str:
    """``12s``, ``3m05s``, ``2h10m``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def replica_line(r: Replica) -> str:
    """One ``kubectl get pods`` row as a sentence."""
    version = f", revision {r.revision} ({r.version})" if r.revision is not None or r.version else ""
    probe = f", readiness probe: {r.probe}" if r.probe else ""
    return f"pod {r.name}: {r.phase}, {'1/1' if r.ready else '0/1'} ready, {r.restarts} restarts{version}{probe}"


def event_line(e: Event, now: float) -> str:
    """One ``kubectl get events`` row as a sentence."""
    return f"event {ago(now - e.timestamp)} ago: {e.type} {e.reason} {e.object}: {e.message}"


def service_lines(ev: Evidence) -> list[str]:
    """Replicas, endpoints and the load balancer, one line each: the service's state as the platform shows it."""
    lines = []
    ready = [r for r in ev.replicas if r.ready]
    lines.append(f"{len(ready)}/{len(ev.replicas)} replicas ready")
    if ev.endpoints:
        ready_eps = [e for e in ev.endpoints if e.ready]
        down = ", ".join(f"{e.name} {e.state}".strip() for e in ev.endpoints if not e.ready)
        suffix = f" (not ready: {down})" if down else ""
        lines.append(f"{len(ready_eps)}/{len(ev.endpoints)} endpoints ready{suffix}")
    lb = ev.load_balancer
    if lb is not None:
        lines.append(f"load balancer {lb.name} {lb.url}: {lb.state}, {lb.ready_backends}/{lb.total_backends} backends")
    return lines


def dependency_line(check: Any) -> str:
    """A step-3 dependency check as a sentence."""
    state = "OK" if check.ok else "FAILED"
    return f"{check.name}: {state} in {check.latency_s * 1000:.0f} ms — {check.detail}"


_STAMP = re.compile(r"^\S*\d{4}-\d\d-\d\d[T ]\S+\s+")


def dependency_words(dep: Dependency) -> tuple[str, ...]:
    """The words that name a dependency in the service's logs: its name and its kind's words."""
    return (dep.name.lower(), *DEPENDENCY_KINDS[dep.kind].words)


def log_lines(ev: Evidence, focus: Dependency | None = None) -> list[str]:
    """The most telling matching log lines: crash lines first, repeats folded, about ``focus`` when given."""
    matches = list(ev.log_matches)
    if focus is not None:
        words = dependency_words(focus)
        matches = [m for m in matches if any(w in m.line.lower() for w in words)] or matches
    folded: dict[str, tuple[int, Any]] = {}  # repeated message (numbers ignored) -> (count, latest)
    for m in matches:
        key = m.replica + re.sub(r"\d+", "#", _STAMP.sub("", m.line))
        count = folded[key][0] + 1 if key in folded else 1
        folded.pop(key, None)
        folded[key] = (count, m)
    items = list(folded.values())
    crashes = [i for i in items if i[1].pattern in CRASH_PATTERNS][-MAX_LOG_EVIDENCE // 2:]
    others = [i for i in items if i[1].pattern not in CRASH_PATTERNS]
    others = others[-(MAX_LOG_EVIDENCE - len(crashes)):]
    chosen = [i for i in items if i in crashes or i in others]
    out = [f"log {m.replica}: {m.line[:240]}" + (f" (×{n})" if n > 1 else "") for n, m in chosen]
    if len(matches) > sum(n for n, _ in chosen):
        out.insert(0, f"{len(matches)} log lines match the runbook's patterns; the most telling:")
    return out


def config_line(c: ConfigChange, now: float) -> str:
    """A configuration change as a sentence."""
    return f"{c.detail} {ago(now - c.at)} ago"


def api_lines(ev: Evidence) -> list[str]:
    """What the API answered through the load balancer (none when it was not called)."""
    if not ev.api:
        return []
    shown = ", ".join(f"{a.endpoint} {a.status or 'no answer'}" for a in ev.api[:4])
    return [f"API through the load balancer: {shown}"]
