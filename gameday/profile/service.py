"""The service itself and what "working" means for it: its SLOs, alert names, detection, metrics."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from gameday import placeholders
from gameday.profile.base import Name, StrictModel, is_env_name


class Slo(StrictModel):
    """What "error rate < 1%", "response time normal" and, during the smoke gate, "all pods running" mean for this
    service."""

    max_error_rate: float = Field(0.01, gt=0, lt=1, description="the error-rate bound (Wilson upper bound)")
    p95_ms: float = Field(500.0, gt=0, description="p95 latency of successful requests")
    detect_within_s: float = Field(5.0, gt=0, description="target time to detect an outage")
    recover_within_s: float = Field(60.0, gt=0, description="target time to recover from an outage")
    max_restarts: int | None = Field(
        None, ge=0, description="replica restarts the smoke gate tolerates in its window (null: any); each reported")


class Alerts(StrictModel):
    """The names of the service's alerts, as its Prometheus rules define them."""

    endpoint_down: str = Field("APIEndpointDown", description="fires when the service is down as a whole (pages)")
    error_ratio: str = Field("HighErrorRatio", description="fires on an error ratio above the SLO")
    latency: str = Field("HighLatencyP95", description="fires on p95 latency above the SLO")
    rules: str | None = Field(None, description="Prometheus rules file for the local target, relative to the profile")


class Detection(StrictModel):
    """How the game day's prober tells that the service is down and back."""

    probes: list[str] = Field(default_factory=list, description="endpoint names probed (default: every endpoint)")
    setup: str | None = Field(None, description="a journey run once first; its captures are usable in probe paths")
    hz: float = Field(
        20.0, gt=0, le=50, description="probes per second, every series together: what the prober adds to the "
        "load (a few % of a fast service; one synchronous worker per replica wants a few per second)")


class Verify(StrictModel):
    """How long gameday may measure the service to decide its error rate at the SLO (the steady state's load)."""

    window_s: float = Field(
        90.0, ge=5, le=600, description="the longest the steady state's load runs to decide the error rate at the SLO "
        "(95%); undecided then: inconclusive, a failed steady state")
    think_time: bool = Field(
        False, description="the steady state's users wait load.think_time_s between tasks (true), or not (false: "
        "~381 answers decide < 1% in seconds, not minutes)")


MetricName = Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", max_length=200)]
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=100)]


class MetricsAuth(StrictModel):
    """How a scraper authenticates to the metrics path: basic auth or a bearer token, the secrets from
    ``{env.NAME}`` (a secret written in the profile would end up in every copy of it)."""

    username: str | None = Field(None, description="basic auth: the user (text, or {env.NAME})")
    password: str | None = Field(None, description="basic auth: the password, as {env.NAME}")
    bearer_token: str | None = Field(None, description="a bearer token, as {env.NAME} (instead of basic auth)")

    @model_validator(mode="after")
    def _one_scheme(self) -> MetricsAuth:
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both username and password")
        if (self.password is None) == (self.bearer_token is None):
            raise ValueError("give username and password, or bearer_token")
        for key in ("username", "password", "bearer_token"):
            value = getattr(self, key)
            if value is None:
                continue
            names = list(placeholders.names(value))
            if any(not n.startswith(placeholders.ENV_PREFIX) or not is_env_name(n.removeprefix(placeholders.ENV_PREFIX))
                   for n in names):
                raise ValueError(f"{key}: only {{env.NAME}} placeholders are rendered here")
            if key != "username" and not names:
                raise ValueError(f"{key}: expected {{env.NAME}}: a secret is never written in the profile")
        return self


class Metrics(StrictModel):
    """Each replica's own Prometheus metrics: where they are served and what its request series are called.

    The replicas' own counters are the one per-replica record of requests on a cluster (the Service's load balancing
    is invisible from outside): the Kubernetes canary reads them per pod, the alerting rules select them. The
    defaults are the Prometheus client libraries' conventional names.
    """

    path: str = Field("/metrics", pattern=r"^/", description="where each replica serves them")
    requests: MetricName = Field("http_requests_total", description="counter of requests served")
    duration: MetricName = Field("http_request_duration_seconds",
                                 description="histogram of request durations, in seconds")
    status_label: LabelName = Field("status", description="label of both holding the HTTP status code")
    route_label: LabelName = Field("route", description="label of both holding the route (or path)")
    auth: MetricsAuth | None = Field(None, description="credentials the metrics path asks for (default: none)")


class Service(StrictModel):
    """The service itself."""

    name: Name = Field(description="the service's name (labels, reports, history)")
    health_path: str = Field("/healthz", pattern=r"^/", description="liveness: 200 while the process works")
    readiness_path: str = Field("/readyz", pattern=r"^/", description="readiness: 200 while it can serve")
    metrics: Metrics | None = Field(default_factory=Metrics,
                                    description="each replica's Prometheus metrics (null: it has none)")

    @property
    def own_paths(self) -> tuple[str, ...]:
        """Its probe and metrics paths: requests that are not its API, left out of its error rates and latencies."""
        return (self.health_path, self.readiness_path, *((self.metrics.path,) if self.metrics else ()))

