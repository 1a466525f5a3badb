"""When an alert fired and resolved in an experiment's window, as Prometheus and as gameday's receiver saw it.

The game day calls :func:`alert_times` once per experiment to put "time to alert" in its report next to its own
detection time. Whether the service's endpoint-down alert *should* have paged is the fault's to say
(:func:`gameday.faults.expected_to_fire`): this module knows alerts, not faults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gameday.alerts import client
from gameday.alerts.client import Time, to_unix


@dataclass(frozen=True)
class AlertTimes:
    """Unix seconds of one alert's firing episode in a window; ``None`` where it did not happen (in the window).

    - ``fired_at``: first rule evaluation seen firing (``ALERTS``, one query step of precision), made exact with
      the firing notification's ``startsAt`` (Prometheus sends its firing time there) when the receiver got it;
    - ``resolved_at``: first evaluation no longer firing after it, made exact with the resolved notification's
      ``endsAt`` (Prometheus's resolve time), which is also taken when the range ended too soon after it to tell;
    - ``received_firing_at`` / ``received_resolved_at``: when gameday's receiver got the notifications;
    - ``pending_at``: when the alert went pending before it fired (``ALERTS{alertstate="pending"}``; the `for:`
      window starts there). Prometheus's notifications carry the firing time as ``startsAt``, not this one.
    """

    alertname: str
    fired_at: float | None
    resolved_at: float | None
    received_firing_at: float | None
    received_resolved_at: float | None
    pending_at: float | None = None

    @property
    def fired(self) -> bool:
        """Whether Prometheus had the alert firing in the window."""
        return self.fired_at is not None

    def delays(self, origin: Time) -> dict[str, float | None]:
        """Seconds from ``origin`` (the fault's injection, or its undo) to each moment; ``None`` when missing."""
        t0 = to_unix(origin)
        moments = {
            "pending": self.pending_at,
            "fired": self.fired_at,
            "received_firing": self.received_firing_at,
            "resolved": self.resolved_at,
            "received_resolved": self.received_resolved_at,
        }
        return {k: None if v is None else round(v - t0, 3) for k, v in moments.items()}

    def as_dict(self) -> dict[str, Any]:
        """For a JSON report."""
        return asdict(self)


def alert_times(
    prom_url: str | None, receiver_file: Path | None, alertname: str, start: Time, end: Time, step: float = 1.0
) -> AlertTimes:
    """The first firing episode of ``alertname`` in ``[start, end]``, from Prometheus and from the receiver's file.

    Either source may be ``None`` (e.g. a cluster without gameday's receiver): its fields are then ``None``.
    Prometheus's answer has the precision of ``step`` (the rule evaluation interval is the natural one).
    Raises ``client.PrometheusError`` when Prometheus does not answer.
    """
    s, e = to_unix(start), to_unix(end)
    if e <= s:
        raise ValueError("end must be after start")
    fired_at = resolved_at = pending_at = None
    if prom_url:
        intervals = client.alert_intervals(prom_url, alertname, s, e, step)
        if intervals:
            fired_at, resolved_at = intervals[0]
            pending_at = _pending_since(prom_url, alertname, s, fired_at, step)

    received_firing_at = received_resolved_at = None
    if receiver_file is not None:
        received = [a for a in client.read_received_alerts(receiver_file, alertname, since=s)
                    if a.received_at.timestamp() <= e]
        firing = next((a for a in received if a.status == "firing"), None)
        if firing is not None:
            received_firing_at = firing.received_at.timestamp()
            fired_at = _exact(fired_at, firing.starts_at, step)
        floor = received_firing_at if received_firing_at is not None else s
        resolved = next((a for a in received if a.status == "resolved" and a.received_at.timestamp() >= floor), None)
        if resolved is not None:
            received_resolved_at = resolved.received_at.timestamp()
            ends = resolved.ends_at.timestamp() if resolved.ends_at else None
            if resolved_at is None and fired_at is not None and ends is not None and ends >= fired_at:
                resolved_at = ends  # ALERTS stopped too close to `end` to tell; Prometheus's own resolve time
            else:
                resolved_at = _exact(resolved_at, resolved.ends_at, step)
    return AlertTimes(
        alertname=alertname,
        fired_at=fired_at,
        resolved_at=resolved_at,
        received_firing_at=received_firing_at,
        received_resolved_at=received_resolved_at,
        pending_at=pending_at,
    )


def _exact(stepped: float | None, notified: datetime | None, step: float) -> float | None:
    """Prometheus's exact time from a notification (``startsAt`` = fired, ``endsAt`` = resolved) when it is the
    moment the ``ALERTS`` steps saw (at most one step before it); otherwise the stepped time."""
    if stepped is None or notified is None:
        return stepped
    exact = notified.timestamp()
    return exact if stepped - step * 1.5 <= exact <= stepped else stepped


def _pending_since(prom_url: str, alertname: str, start: float, fired_at: float, step: float) -> float | None:
    """Start of the pending run that ended at ``fired_at`` (the last gap-free run of pending steps before it)."""
    if fired_at <= start:
        return None
    expr = f'ALERTS{{alertstate="pending", alertname="{alertname}"}}'
    stamps = sorted({float(ts) for series in client.query_range(prom_url, expr, start, fired_at, step)
                     for ts, _ in series["values"]})
    if not stamps or fired_at - stamps[-1] > step * 1.5:
        return None  # fired without being seen pending (a `for:` shorter than the step)
    begin = stamps[-1]
    for ts in reversed(stamps[:-1]):
        if begin - ts > step * 1.5:
            break
        begin = ts
    return begin

