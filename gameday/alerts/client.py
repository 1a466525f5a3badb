"""Read what gameday's receiver got, and ask Prometheus about alerts and about the traffic of a window.

Times are accepted as Unix seconds (float) or aware ``datetime``; Prometheus answers in Unix seconds.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from gameday import interrupts, tls
from gameday.alerts.rules import Selectors

MAX_POINTS = 10_000  # Prometheus refuses more than 11,000 points per series in a range query

Time = float | datetime
T = TypeVar("T")


class PrometheusError(RuntimeError):
    """Prometheus was unreachable or answered with an error."""


def to_unix(t: Time) -> float:
    """Unix seconds of a float or an aware datetime (a naive datetime is taken as UTC)."""
    if isinstance(t, datetime):
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
    return float(t)


def _parse_time(text: str | None) -> datetime | None:
    """An Alertmanager timestamp; ``None`` for a missing one or Go's zero time (an alert still firing)."""
    if not text or text.startswith("0001-01-01"):
        return None
    return datetime.fromisoformat(text)


# ---------------------------------------------------------------------------- what the receiver got


@dataclass(frozen=True)
class ReceivedAlert:
    """One alert as gameday's webhook receiver recorded it."""

    status: str  # firing | resolved
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None  # None while firing
    received_at: datetime
    fingerprint: str | None = None

    @property
    def alertname(self) -> str:
        """The alert's name."""
        return self.labels.get("alertname", "")

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ReceivedAlert:
        """From one JSON line of the receiver's file."""
        return cls(
            status=record["status"],
            labels=dict(record.get("labels") or {}),
            annotations=dict(record.get("annotations") or {}),
            starts_at=_parse_time(record.get("startsAt")),
            ends_at=_parse_time(record.get("endsAt")) if record.get("status") == "resolved" else None,
            received_at=datetime.fromtimestamp(float(record["receivedAtUnix"]), UTC),
            fingerprint=record.get("fingerprint"),
        )


def read_received_alerts(
    path: Path, alertname: str | None = None, status: str | None = None, since: Time | None = None
) -> list[ReceivedAlert]:
    """The alerts recorded in the receiver's file, oldest first, filtered by name, status and receipt time."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    floor = to_unix(since) if since is not None else None
    out = []
    for line in lines:
        try:
            alert = ReceivedAlert.from_record(json.loads(line))
        except (json.JSONDecodeError, KeyError, ValueError):
            continue  # a line being written right now
        if alertname and alert.alertname != alertname:
            continue
        if status and alert.status != status:
            continue
        if floor is not None and alert.received_at.timestamp() < floor:
            continue
        out.append(alert)
    return out


def _poll(check: Callable[[], T | None], timeout: float, interval: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not seen within {timeout:g}s")
        interrupts.pause(min(interval, max(0.0, deadline - time.monotonic())))  # a safe point


def wait_for_received_alert(
    path: Path, alertname: str, status: str = "firing", since: Time | None = None,
    timeout: float = 60.0, interval: float = 0.25,
) -> ReceivedAlert:
    """Poll the receiver's file until an alert of that name and status arrives (after ``since``).

    Raises ``TimeoutError`` at the deadline.
    """

    def check() -> ReceivedAlert | None:
        found = read_received_alerts(path, alertname, status, since)
        return found[0] if found else None

    return _poll(check, timeout, interval, f"{status} {alertname} at the receiver ({path})")


# ---------------------------------------------------------------------------- the Prometheus HTTP API


def _api(prom_url: str, endpoint: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
    url = prom_url.rstrip("/") + endpoint
    try:
        resp = httpx.get(url, params=params, timeout=timeout, verify=tls.context())
    except httpx.HTTPError as exc:
        raise PrometheusError(f"Prometheus unreachable at {url}: {exc}") from exc
    try:
        body = resp.json()
    except ValueError as exc:
        raise PrometheusError(f"{url}: HTTP {resp.status_code}, not JSON") from exc
    if body.get("status") != "success":
        raise PrometheusError(f"{url}: {body.get('errorType', resp.status_code)}: {body.get('error', '')}")
    return body["data"]


def prometheus_alerts(prom_url: str, alertname: str | None = None, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Active (pending or firing) alerts from ``/api/v1/alerts``; each has ``labels``, ``state``, ``activeAt``."""
    alerts = _api(prom_url, "/api/v1/alerts", timeout=timeout)["alerts"]
    return [a for a in alerts if alertname is None or a["labels"].get("alertname") == alertname]


def alerting_rules(prom_url: str, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
    """The alerting rules Prometheus has loaded (``/api/v1/rules``), by name: ``query``, ``duration``, ``state``,
    and ``interval``, their group's evaluation interval."""
    groups = _api(prom_url, "/api/v1/rules", {"type": "alert"}, timeout=timeout)["groups"]
    return {r["name"]: {**r, "interval": g.get("interval")} for g in groups for r in g["rules"]}


def query(prom_url: str, expr: str, at: Time | None = None, timeout: float = 10.0) -> list[dict[str, Any]]:
    """An instant query (``/api/v1/query``): the vector's elements, each ``{"metric": ..., "value": [ts, "v"]}``."""
    params: dict[str, Any] = {"query": expr}
    if at is not None:
        params["time"] = to_unix(at)
    data = _api(prom_url, "/api/v1/query", params, timeout)
    if data["resultType"] != "vector":
        raise PrometheusError(f"{expr!r} gave a {data['resultType']}, not a vector")
    return data["result"]


def query_scalar(prom_url: str, expr: str, at: Time | None = None, timeout: float = 10.0) -> float | None:
    """The value of a query that aggregates to one element; ``None`` when it is empty or NaN."""
    result = query(prom_url, expr, at, timeout)
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if value != value else value  # NaN (0/0) means "no data"


def query_range(
    prom_url: str, expr: str, start: Time, end: Time, step: float = 1.0, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """A range query (``/api/v1/query_range``): each series ``{"metric": ..., "values": [[ts, "v"], ...]}``.

    ``step`` is raised as needed to stay under Prometheus's points-per-series limit.
    """
    s, e = to_unix(start), to_unix(end)
    step = max(step, (e - s) / MAX_POINTS)
    data = _api(prom_url, "/api/v1/query_range", {"query": expr, "start": s, "end": e, "step": step}, timeout)
    return data["result"]


def alert_intervals(
    prom_url: str, alertname: str, start: Time, end: Time, step: float = 1.0
) -> list[tuple[float, float | None]]:
    """When ``alertname`` was firing between ``start`` and ``end``: ``[(start_ts, end_ts | None), ...]``.

    From ``ALERTS{alertstate="firing", alertname=...}`` (every label set of the alert merged: "some instance of it
    was firing"). ``start_ts`` is the first step it was seen firing; ``end_ts`` the first step it was no longer
    seen (resolution happened in the step before), or ``None`` when it was still firing at ``end``.
    Precision is one ``step`` (raised for long windows, see ``query_range``).
    """
    s, e = to_unix(start), to_unix(end)
    step = max(step, (e - s) / MAX_POINTS)
    expr = f'ALERTS{{alertstate="firing", alertname="{alertname}"}}'
    stamps = sorted({float(ts) for series in query_range(prom_url, expr, s, e, step) for ts, _ in series["values"]})
    intervals: list[tuple[float, float | None]] = []
    begin = prev = None
    for ts in stamps:
        if begin is None:
            begin = prev = ts
        elif ts - prev > step * 1.5:
            intervals.append((begin, prev + step))
            begin = ts
        prev = ts
    if begin is not None and prev is not None:
        last_step = s + ((e - s) // step) * step  # the last step the range query evaluated
        intervals.append((begin, None if prev >= last_step - step * 0.5 else prev + step))
    return intervals


def wait_for_alert(
    prom_url: str, alertname: str, state: str = "firing", timeout: float = 60.0, interval: float = 0.5
) -> dict[str, Any]:
    """Poll ``/api/v1/alerts`` until ``alertname`` is in ``state``, and return that alert.

    ``state`` is ``firing``, ``pending``, or ``inactive`` (no pending or firing instance left; returns
    ``{"labels": {"alertname": ...}, "state": "inactive"}``). Raises ``TimeoutError`` at the deadline;
    a Prometheus that does not answer counts as "not yet".
    """
    if state not in ("firing", "pending", "inactive"):
        raise ValueError(f"unknown alert state {state!r}")

    def check() -> dict[str, Any] | None:
        try:
            alerts = prometheus_alerts(prom_url, alertname, timeout=min(5.0, interval * 4))
        except PrometheusError:
            return None
        if state == "inactive":
            return None if alerts else {"labels": {"alertname": alertname}, "state": "inactive"}
        return next((a for a in alerts if a["state"] == state), None)

    return _poll(check, timeout, interval, f"{alertname} {state} in Prometheus ({prom_url})")


def active_at(alert: dict[str, Any]) -> float | None:
    """Unix seconds of an ``/api/v1/alerts`` alert's ``activeAt`` (when it went pending), or None."""
    text = alert.get("activeAt")
    return None if not text or text.startswith("0001-01-01") else datetime.fromisoformat(text).timestamp()


def wait_for_firing(prom_url: str, alertname: str, timeout: float, interval: float = 0.25,
                    near: float = 0.05) -> dict[str, Any]:
    """Poll ``/api/v1/alerts`` until ``alertname`` fires, and return that alert (its ``activeAt``: when it went
    pending, Prometheus's own record of when it first saw the outage).

    A pending alert fires at the first rule evaluation ``for:`` after its ``activeAt``: Prometheus says when, so
    the wait asks every ``interval`` until then and every ``near`` from ``interval`` before it, and the page is
    seen within ``near`` of its evaluation instead of within ``interval``. The ``for:`` comes from
    ``/api/v1/rules`` (unknown: every ``interval``). Raises ``TimeoutError`` at the deadline; a Prometheus that
    does not answer counts as "not yet"."""
    deadline = time.monotonic() + timeout
    hold: float | None = None
    while True:
        try:
            found = prometheus_alerts(prom_url, alertname, timeout=min(5.0, interval * 4))
        except PrometheusError:
            found = []
        firing = next((a for a in found if a["state"] == "firing"), None)
        if firing is not None:
            return firing
        pending = [at for a in found if a["state"] == "pending" and (at := active_at(a)) is not None]
        if pending and hold is None:
            try:
                hold = float(alerting_rules(prom_url, timeout=min(5.0, interval * 4))[alertname]["duration"])
            except (PrometheusError, KeyError, TypeError, ValueError):
                hold = math.inf  # not known: ask every interval
        due = min(pending) + hold if pending and hold is not None else math.inf
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{alertname} firing in Prometheus ({prom_url}) not seen within {timeout:g}s")
        step = near if due - time.time() <= interval else interval
        interrupts.pause(min(step, left))  # a safe point


# ---------------------------------------------------------------------------- traffic of a window


@dataclass(frozen=True)
class WindowStats:
    """What Prometheus counted in a window, to cross-check the load generator's numbers.

    Counts come from ``increase()`` and so are extrapolated to the window's edges (not integers).
    ``lb_requests`` includes the blackbox probes (``probe_requests``, one request per probe).
    """

    start: float
    end: float
    lb_requests: float | None
    lb_5xx: float | None
    probe_requests: float | None
    service_requests: float | None
    service_5xx: float | None
    p95_seconds: float | None  # interpolated within the histogram bucket it falls in
    queries: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def error_ratio(self) -> float | None:
        """The load balancer's 5xx ratio (what clients saw), or ``None`` without traffic."""
        if not self.lb_requests:
            return None
        return (self.lb_5xx or 0.0) / self.lb_requests

    @property
    def service_error_ratio(self) -> float | None:
        """The replicas' own 5xx ratio on API routes (misses HAProxy's own 503/504), or ``None``."""
        if not self.service_requests:
            return None
        return (self.service_5xx or 0.0) / self.service_requests


def _range(start: float, end: float) -> str:
    """A PromQL range selector spanning ``[start, end]`` to the millisecond (at least one)."""
    return f"{max(1, round((end - start) * 1000))}ms"


def error_ratio_and_p95(
    prom_url: str, select: Selectors, start: Time, end: Time, quantile: float = 0.95
) -> WindowStats:
    """The load balancer's 5xx ratio and the service's p95 latency over ``[start, end]``.

    ``select``: the service's series (those its rules select, :meth:`Selectors.of` its profile).
    Ratio from HAProxy's frontend counters, p95 from ``http_request_duration_seconds`` (API routes), both as
    ``increase()`` over the window evaluated at ``end``. Query a little after ``end`` (one scrape interval) so the
    last scrape is in.
    """
    s, e = to_unix(start), to_unix(end)
    if e <= s:
        raise ValueError("end must be after start")
    window = _range(s, e)
    queries = {
        "lb_requests": f"sum(increase({select.lb_responses}[{window}]))",
        "lb_5xx": f"sum(increase({select.lb_5xx}[{window}]))",
        "probe_requests": f"sum(count_over_time({select.probes}[{window}]))",
        "service_requests": f"sum(increase({select.service_requests}[{window}]))",
        "service_5xx": f"sum(increase({select.service_5xx}[{window}]))",
        "p95_seconds": f"histogram_quantile({quantile}, sum by (le) (increase({select.service_buckets}[{window}])))",
    }
    values = {name: query_scalar(prom_url, expr, e) for name, expr in queries.items()}
    if values["lb_5xx"] is None and values["lb_requests"] is not None:
        values["lb_5xx"] = 0.0
    if values["service_5xx"] is None and values["service_requests"] is not None:
        values["service_5xx"] = 0.0
    return WindowStats(start=s, end=e, queries=queries, **values)


def scraped_window_stats(
    prom_url: str, select: Selectors, start: Time, end: Time, timeout: float, quantile: float = 0.95
) -> WindowStats:
    """:func:`error_ratio_and_p95` from ``start`` to the last scrape of HAProxy's counters at or before ``end``, once
    Prometheus has scraped past ``end``; a window too short to hold two scrapes, to the first scrape after ``end``
    that gives it two.

    ``increase()`` needs two samples of a series in its range. Asked right after ``end``, the last scrape is not in
    yet; a window shorter than two scrape intervals holds one scrape at most: either way no figure, or a figure
    that depends on when Prometheus last scraped. So the window is measured up to a scrape Prometheus already has:
    within it when it holds two (what follows ``end`` may be another experiment's fault: the next one starts as soon
    as this one is verified), else extended until it holds two. After ``timeout``: what there is then (``None``
    figures where a series still has one sample).
    """
    s, e = to_unix(start), to_unix(end)
    if e <= s:
        raise ValueError("end must be after start")
    deadline = time.monotonic() + timeout
    latest_expr = f"max(timestamp({select.lb_responses}))"
    while True:
        latest = query_scalar(prom_url, latest_expr)
        if latest is not None and latest >= e:
            within = query_scalar(prom_url, latest_expr, e)  # the last scrape at or before the window's end
            for at in (within, latest):
                if at is None or at <= s:
                    continue
                scrapes = query_scalar(prom_url, f"min(count_over_time({select.lb_responses}[{_range(s, at)}]))", at)
                if scrapes is not None and scrapes >= 2:
                    return error_ratio_and_p95(prom_url, select, s, at, quantile)
        if time.monotonic() >= deadline:
            return error_ratio_and_p95(prom_url, select, s, max(e, latest or e), quantile)
        interrupts.pause(0.25)  # the next scrape (a safe point)
