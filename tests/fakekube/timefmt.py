"""Time helpers: Kubernetes timestamp formats and kubectl-style human durations."""

from __future__ import annotations

import datetime as _dt
import time


def now() -> float:
    """Return the current wall-clock time in seconds since the epoch."""
    return time.time()


def rfc3339(ts: float) -> str:
    """Format ``ts`` as a Kubernetes ``metav1.Time`` (second precision, UTC, ``Z`` suffix)."""
    return _dt.datetime.fromtimestamp(int(ts), tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(ts: float) -> str:
    """Format ``ts`` as a Kubernetes ``metav1.MicroTime`` (microsecond precision)."""
    return _dt.datetime.fromtimestamp(ts, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_nano(ts: float) -> str:
    """Format ``ts`` the way the kubelet prefixes log lines with ``timestamps=true``."""
    d = _dt.datetime.fromtimestamp(ts, tz=_dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond:06d}000Z"


def parse_time(value: str | None) -> float | None:
    """Parse an RFC 3339 timestamp (as produced above) back into epoch seconds."""
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    return _dt.datetime.fromisoformat(text).timestamp()


def human_duration(seconds: float) -> str:
    """Render a duration like ``k8s.io/apimachinery/pkg/util/duration.HumanDuration``."""
    secs = int(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        s = secs % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def since(ts_text: str | None, at: float | None = None) -> str:
    """Age of an RFC 3339 timestamp, as kubectl prints it (``<unknown>`` when unset)."""
    ts = parse_time(ts_text)
    if ts is None:
        return "<unknown>"
    return human_duration((at if at is not None else now()) - ts)
