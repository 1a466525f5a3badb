"""The service profile: one YAML file that is the whole contract between gameday and the service it exercises.

gameday knows nothing of any service. Everything a team's service does differently (how it starts, its paths and
JSON shapes, its journeys, which dependencies it cannot live without, its SLOs and alert names) is written here,
so a team onboards its own service with a profile file and no change to the package.

Where the profile comes from (first found): ``--profile PATH``, ``GAMEDAY_PROFILE``, ``./gameday.yaml``, then the
reference service's ``profiles/ecommerce-backend.yaml``. A bad profile is reported as one line per problem naming the
file, the field and what was expected (:class:`ProfileError`, exit code 2), before anything is started.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import os
import re
import threading
from collections.abc import Iterator, Mapping
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from jsonpath2.path import Path as JsonPath
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from gameday import placeholders
from gameday.dependencies import KINDS, kind_of
from gameday.errors import UsageError
from gameday.runbook.package import find as find_runbook

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROFILES_DIR = PROJECT_ROOT / "profiles"
DEFAULT_PROFILE = PROFILES_DIR / "ecommerce-backend.yaml"
LOCAL_FILE = "gameday.yaml"
ENV_VAR = "GAMEDAY_PROFILE"
# a profile is a page of YAML: anything beyond these limits is refused before it is parsed or validated
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100_000

HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
OnOutage = Literal["outage", "degraded"]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=63)]

# placeholders every replica-side string may use, besides <dependency>.<attribute>, config.<KEY>, file.<name>,
# env.<NAME> and lb.url
REPLICA_PLACEHOLDERS = ("port", "replica", "version", "python", "profile_dir", "state_dir", "service")
LB_URL = "lb.url"  # the service's public address: through the load balancer, as users reach it
# heads of dotted placeholders that are not dependencies: a dependency named so could not be told apart
PLACEHOLDER_HEADS = ("config", "file", "database", "env", "lb")
# placeholders of journeys and endpoints that are not captures
REQUEST_BUILTINS = ("run_id", "uuid")


class ProfileError(UsageError):
    """A profile that cannot be used: one line per problem, each naming the file and the field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Model(BaseModel):
    """Strict: an unknown key is a typo, refused with the closest valid name."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- HTTP: endpoints and journeys -------------------------------------------------------------------
class Assertion(_Model):
    """One check on a JSON body, by JSONPath: ``{path: "$.data[0].event_id", exists: true}``."""

    path: str = Field(description="JSONPath into the response body, e.g. $.data[0].id")
    exists: bool | None = Field(None, description="the path matches (true) or does not (false)")
    equals: Any = Field(None, description="the matched value equals this")
    type: Literal["string", "number", "integer", "boolean", "array", "object", "null"] | None = Field(
        None, description="the matched value is of this JSON type")
    not_empty: bool | None = Field(None, description="the matched value is a non-empty string, array or object")

    @field_validator("path")
    @classmethod
    def _parses(cls, value: str) -> str:
        _compile(value)
        return value


class Expect(_Model):
    """What a healthy service answers."""

    status: int = Field(200, ge=100, le=599, description="the HTTP status a healthy service answers")
    json_: list[Assertion] = Field(default_factory=list, alias="json", description="assertions on the JSON body")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _expect(value: Any) -> Any:
    """``expect: 201`` is short for ``expect: {status: 201}``."""
    return {"status": value} if isinstance(value, int) and not isinstance(value, bool) else value


ExpectField = Annotated[Expect, BeforeValidator(_expect, json_schema_input_type=Expect | int)]


class Request(_Model):
    """One HTTP request of the service's API; strings may hold ``{placeholders}``."""

    method: HttpMethod = Field("GET", description="HTTP method")
    path: str = Field(pattern=r"^(/|\{)", description="path (and query) on the service, e.g. /v1/orders/{order_id}; "
                      "a captured absolute URL ({next}) is requested on the service: its path and query")
    headers: dict[str, str] = Field(default_factory=dict, description="values may use {env.NAME}: never printed")
    json_body: Any = Field(None, alias="json", description="a JSON body to send")
    form: dict[str, str] | None = Field(
        None, description="an HTML form's fields, sent urlencoded (a login form); values may use placeholders")
    expect: ExpectField = Field(default_factory=Expect, description="the status (or {status, json}) expected")
    timeout_s: float = Field(3.0, gt=0, le=60, description="seconds before the request counts as failed")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def placeholder_names(self) -> set[str]:
        """Every placeholder this request uses."""
        found = set(placeholders.names(self.path)) | set(placeholders.value_names(self.json_body))
        for value in (*self.headers.values(), *(self.form or {}).values()):
            found |= set(placeholders.names(value))
        return found

    @model_validator(mode="after")
    def _one_body(self) -> Request:
        if self.form is not None and self.json_body is not None:
            raise ValueError("give json or form, not both")
        return self


class Endpoint(Request):
    """An endpoint checked by ``profile check``, the smoke gate and the symptoms probes."""

    name: Name = Field(description="a short name used in reports and the load mix")
    needs: list[str] | None = Field(
        None, description="dependencies it cannot answer without (default: every dependency with on_outage: outage)")


class Capture(_Model):
    """Where a value of an answer is taken from: exactly one of a JSONPath, a header, a cookie or a regex.

    HTML is read with a regular expression: no CSS-selector library is installed with gameday, and a form's hidden
    field or a link's ``href`` is one line of HTML that a regex names exactly.
    """

    json_: str | None = Field(None, alias="json", description="JSONPath into the JSON answer, e.g. $.id")
    header: str | None = Field(None, description="a response header, e.g. Location (case-insensitive)")
    cookie: str | None = Field(None, description="a cookie of the journey's session after this step, e.g. sessionid")
    regex: str | None = Field(None, description="a regular expression on the body (HTML, text): its first group, "
                              "else the whole match")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_of(self) -> Capture:
        given = [k for k in ("json_", "header", "cookie", "regex") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of json, header, cookie or regex")
        if self.json_ is not None:
            _compile(self.json_)
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {self.regex!r} ({exc})") from None
        return self

    def take(self, body: Any, headers: Mapping[str, str] | None, cookies: Mapping[str, str], text: str) -> Any:
        """The value taken from one answer (its parsed JSON, headers, the session's cookies after it, its text), or
        None: pure, so that gameday's own client and the locustfile capture alike."""
        if self.json_ is not None:
            found = json_matches(self.json_, body) if body is not None else []
            return found[0] if found else None
        if self.header is not None:
            return headers.get(self.header) if headers is not None else None
        if self.cookie is not None:
            return cookies.get(self.cookie)
        assert self.regex is not None
        match = re.search(self.regex, text)
        if match is None:
            return None
        return match.group(1) if match.re.groups else match.group(0)

    def describe(self) -> str:
        """Where it is taken from, for a line saying it matched nothing."""
        if self.json_ is not None:
            return self.json_
        if self.header is not None:
            return f"header {self.header}"
        return f"cookie {self.cookie}" if self.cookie is not None else f"regex {self.regex}"


def on_service(path: str) -> str:
    """A rendered path; a captured absolute URL (a ``Location``, a link) becomes its path and query: a journey
    stays on the service it exercises, whatever host and port the service wrote into its links."""
    if not path.startswith(("http://", "https://")):
        return path
    parts = urlsplit(path)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _capture(value: Any) -> Any:
    """``capture: {id: "$.id"}`` is short for ``capture: {id: {json: "$.id"}}``."""
    return {"json": value} if isinstance(value, str) else value


CaptureField = Annotated[Capture, BeforeValidator(_capture, json_schema_input_type=Capture | str)]


class Step(Request):
    """One step of a journey; ``capture`` names values of its answer for later steps."""

    name: Name | None = Field(None, description="the step's name in reports (default: METHOD path)")
    capture: dict[Name, CaptureField] = Field(
        default_factory=dict, description="name -> a JSONPath into the answer, or {header|cookie|regex: ...}")


class Journey(_Model):
    """An ordered user journey; later steps use values captured from earlier answers."""

    name: Name = Field(description="the journey's name")
    steps: list[Step] = Field(min_length=1, description="requests in order")
    needs: list[str] | None = Field(None, description="as for endpoints")

    def step_name(self, index: int) -> str:
        """A step's name for people: its own, else ``METHOD path``."""
        step = self.steps[index]
        return step.name or f"{step.method} {step.path}"


class MixEntry(_Model):
    """One line of the load mix: a journey or an endpoint, with its weight."""

    journey: str | None = Field(None, description="a journey's name")
    endpoint: str | None = Field(None, description="an endpoint's name")
    weight: int = Field(1, ge=1, le=1000, description="relative frequency")

    @model_validator(mode="after")
    def _one_of(self) -> MixEntry:
        if (self.journey is None) == (self.endpoint is None):
            raise ValueError("give exactly one of journey or endpoint")
        return self

    @property
    def target(self) -> str:
        """The journey's or endpoint's name."""
        return self.journey or self.endpoint or ""


class Load(_Model):
    """The traffic of a game day and of the smoke gate's load window."""

    users: int = Field(4, ge=1, le=200, description="concurrent simulated users")
    think_time_s: tuple[float, float] = Field((0.5, 2.0), description="[min, max] seconds between a user's tasks")
    mix: list[MixEntry] = Field(default_factory=list, description="what users do (default: every endpoint, weight 1)")

    @field_validator("think_time_s")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= value[0] <= value[1] <= 60:
            raise ValueError("expected 0 <= min <= max <= 60")
        return value


# --- dependencies ----------------------------------------------------------------------------------
class Breaker(_Model):
    """A circuit breaker's promise: once the dependency times out, requests needing it fail fast."""

    opens_within_s: float = Field(gt=0, le=300, description="seconds from the first timeout until it is open")
    fail_fast_ms: float = Field(gt=0, le=60_000, description="p95 of the failures once it is open")


class Fallback(_Model):
    """The answer an endpoint that needs a ``degraded`` dependency gives while the dependency is unreachable."""

    endpoint: Name = Field(description="one of the profile's endpoints")
    expect: ExpectField = Field(description="its answer then, in the shape endpoints use (status, json)")


class Promises(_Model):
    """What the service promises about one dependency (the runbook's Prevention: timeouts, circuit breakers,
    retries, fallback); what it does not promise is reported as a finding, never checked as a pass."""

    timeout_ms: float | None = Field(None, gt=0, le=600_000, description="its timeout for one call to the dependency")
    breaker: Breaker | None = Field(None, description="a circuit breaker guards it (needs timeout_ms)")
    retries: bool = Field(False, description="a call that meets a reset connection is retried")
    fallback: Fallback | None = Field(None, description="the degraded answer (needs on_outage: degraded)")

    @model_validator(mode="after")
    def _breaker_needs_timeout(self) -> Promises:
        if self.breaker is not None and self.timeout_ms is None:
            raise ValueError("breaker: needs timeout_ms (a breaker opens on the timeouts)")
        return self


class Dependency(_Model):
    """Something the service needs, and what the service does without it."""

    name: Name = Field(description="the dependency's name, used in placeholders, faults and verdicts")
    kind: str = Field(description=f"one of: {', '.join(sorted(KINDS))}")
    on_outage: OnOutage = Field(
        "outage", description="outage: the service cannot serve without it; degraded: it keeps serving, degraded")
    address: str | None = Field(
        None, description="host:port of an external dependency; absent: the local target provides it")
    health_path: str = Field("/", description="http dependencies: the path that answers 2xx when healthy")
    owned: bool = Field(
        False, description="kubernetes: the team's own dependency, which stop-dependency may scale to zero; "
        "default: its outage is cut at the service's side (egress denied), the dependency itself untouched")
    promises: Promises | None = Field(
        None, description="its timeout, breaker, retries and fallback, as the service promises them")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"unknown dependency kind {value!r}: expected one of {', '.join(sorted(KINDS))}")
        return value

    @field_validator("address")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected host:port, got {value!r}")
        return value

    @property
    def provided(self) -> bool:
        """Whether the local target runs it (and so can stop, start and hang it)."""
        return self.address is None


# --- how the local target runs it ----------------------------------------------------------------------
class ConfigFile(_Model):
    """A file rendered for each replica before it starts (many services read a file, not the environment)."""

    name: Name = Field(description="usable as {file.<name>}: the rendered file's path")
    format: Literal["text", "json", "env"] = Field(
        "text", description="text: the template rendered; json/env: the live configuration plus `values`")
    template: str | None = Field(None, description="template file, relative to the profile (text format)")
    content: str | None = Field(None, description="inline template (text format)")
    values: dict[str, str] = Field(default_factory=dict, description="json/env: extra keys, e.g. the version")

    @model_validator(mode="after")
    def _source(self) -> ConfigFile:
        if self.format == "text" and (self.template is None) == (self.content is None):
            raise ValueError("a text file needs exactly one of template or content")
        return self


class Database(_Model):
    """The database, user and password the local target creates in its PostgreSQL for the service."""

    name: str = Field("app", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="database created for the service")
    user: str = Field("app", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="its owner")
    password_env: str | None = Field(
        None, description="environment variable holding the password (never written in the profile)")


class Release(_Model):
    """A release the failed-deployment experiment rolls out: a version plus what makes it that version."""

    version: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$",
                         description="the release's version ({version})")
    environment: dict[str, str] = Field(default_factory=dict, description="environment added for this release")
    command: list[str] | None = Field(None, description="a command replacing local.command for this release")


class Readiness(_Model):
    """The replicas' readiness probe, with a kubelet's meaning: a probe unanswered within ``timeout_s`` fails, and a
    replica is out of service after ``failure_threshold`` failures in a row. A service with one synchronous worker
    answers its probe only after the requests queued ahead of it: give it the timeout its readinessProbe has."""

    timeout_s: float = Field(1.0, gt=0, le=60, description="seconds a readiness probe waits (timeoutSeconds)")
    failure_threshold: int = Field(2, ge=1, le=10, description="failures in a row before a replica is not ready "
                                   "(failureThreshold)")


class BadRelease(Release):
    """The known-bad release; a service that has none gets one from the launcher: its good release, killed a while
    after it became ready (``fail_after_ready_s``), at every start: a real crash loop, no user script."""

    fail_after_ready_s: float | None = Field(
        None, gt=0, le=600, description="run the good release (local.command) and SIGKILL it this long after its "
        "readiness probe first passes, at every start (local target)")


class Process(_Model):
    """A process beside the web replicas: a background worker (Celery, Sidekiq) or a scheduler. Rendered like the
    replica's command (same placeholders and environment, its release's ``{version}``), supervised, and restarted
    with the release; it serves no HTTP and is no load-balancer server."""

    name: Name = Field(description="the process's name: its program is `<replica>-<name>` (per replica) or `<name>`")
    command: list[str] = Field(min_length=1, description="its command; placeholders as local.command")
    per: Literal["replica", "service"] = Field(
        "replica", description="replica: one beside each replica, in its pod (killed and frozen with it); "
        "service: one for the whole service (a scheduler)")
    environment: dict[str, str] = Field(
        default_factory=dict, description="environment added to the replica's (local.environment)")


class Local(_Model):
    """How the local target runs the service: N replicas under supervisor behind HAProxy."""

    command: list[str] = Field(min_length=1, description="one replica's command; {port} and {replica} differ")
    environment: dict[str, str] = Field(default_factory=dict, description="each replica's environment")
    environment_from_config: bool = Field(
        False, description="also pass every live configuration key as an environment variable")
    working_dir: str = Field(".", description="relative to the profile file")
    replicas: int = Field(3, ge=1, le=16, description="how many replicas behind the load balancer")
    config: dict[str, str] = Field(
        default_factory=dict, description="the live configuration (the ConfigMap): read by replicas at (re)start")
    files: list[ConfigFile] = Field(default_factory=list, description="files rendered for each replica")
    setup: list[list[str]] = Field(
        default_factory=list, description="commands run once after the dependencies are up (migrations)")
    start_timeout_s: float = Field(60.0, gt=0, le=600, description="seconds `gameday up` waits for a serving stack")
    start_seconds: int = Field(5, ge=0, le=120, description="a replica up this long counts as started")
    readiness: Readiness = Field(default_factory=Readiness, description="the replicas' readiness probe (the load "
                                 "balancer's health check and `gameday status` use it)")
    lb_timeout_s: float = Field(2.0, gt=0, le=300, description="the load balancer's server timeout: a request "
                                "unanswered this long gets its 504 (an ingress' proxy-read-timeout)")
    start_retries: int = Field(2, ge=0, le=20, description="restarts before it counts as crash-looping")
    database: Database = Field(default_factory=Database, description="created in the local PostgreSQL")
    release: str = Field("1.0.0", description="the version the stack starts with ({version})")
    bad_release: BadRelease | None = Field(None, description="a release that fails after passing its probes")
    slow_release: Release | None = Field(None, description="a correct but slower release (canary latency check)")
    releases: list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")]] = \
        Field(default_factory=list, description="other known-good releases (a canary refuses unknown versions)")
    bad_config: dict[str, str] = Field(
        default_factory=dict, description="configuration changes that break the service (bad-config experiment)")
    processes: list[Process] = Field(
        default_factory=list, description="processes beside the web replicas: workers, schedulers")

    @field_validator("processes")
    @classmethod
    def _distinct_processes(cls, processes: list[Process]) -> list[Process]:
        names = [p.name for p in processes]
        if len(set(names)) != len(names):
            raise ValueError("process names must be distinct")
        return processes


class KubernetesToxiproxy(_Model):
    """A Toxiproxy in the service's namespace, driven through the API server's service proxy (network faults)."""

    service: str = Field("toxiproxy", description="its Service")
    port: int = Field(8474, ge=1, le=65535, description="the Service port of its HTTP API")
    proxies: dict[str, str] = Field(
        default_factory=dict, description="dependency name -> the Toxiproxy proxy the service's pods connect through")


class Kubernetes(_Model):
    """Where the service lives on a cluster."""

    namespace: str = Field("production", description="the service's namespace")
    deployment: str = Field(description="its Deployment")
    container: str | None = Field(None, description="default: the deployment's first container")
    label_selector: str = Field(description="selects its pods, e.g. app=ecommerce-backend")
    service: str = Field(description="its Service")
    configmap: str | None = Field(None, description="its configuration (the bad-config experiment edits it)")
    base_url: str | None = Field(None, description="the service's URL as the runner reaches it")
    bad_image: str | None = Field(None, description="the known-bad release's image")
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="the pods' port serving service.metrics (default: the Service's target port)")
    bad_config: dict[str, str] = Field(
        default_factory=dict, description="configuration changes that break the service (default: local.bad_config)")
    workloads: dict[str, str] = Field(
        default_factory=dict, description="dependency name -> its Deployment/StatefulSet name (default: the name)")
    toxiproxy: KubernetesToxiproxy | None = Field(
        None, description="a Toxiproxy deployed in the namespace that the service's pods reach dependencies through")


# --- what "working" means ----------------------------------------------------------------------------
class Slo(_Model):
    """What "error rate < 1%", "response time normal" and, during the smoke gate, "all pods running" mean for this
    service."""

    max_error_rate: float = Field(0.01, gt=0, lt=1, description="the error-rate bound (Wilson upper bound)")
    p95_ms: float = Field(500.0, gt=0, description="p95 latency of successful requests")
    detect_within_s: float = Field(5.0, gt=0, description="target time to detect an outage")
    recover_within_s: float = Field(60.0, gt=0, description="target time to recover from an outage")
    max_restarts: int | None = Field(
        None, ge=0, description="replica restarts the smoke gate tolerates in its window (null: any); each reported")


class Alerts(_Model):
    """The names of the service's alerts, as its Prometheus rules define them."""

    endpoint_down: str = Field("APIEndpointDown", description="fires when the service is down as a whole (pages)")
    error_ratio: str = Field("HighErrorRatio", description="fires on an error ratio above the SLO")
    latency: str = Field("HighLatencyP95", description="fires on p95 latency above the SLO")
    rules: str | None = Field(None, description="Prometheus rules file for the local target, relative to the profile")


class Detection(_Model):
    """How the game day's prober tells that the service is down and back."""

    probes: list[str] = Field(default_factory=list, description="endpoint names probed (default: every endpoint)")
    setup: str | None = Field(None, description="a journey run once first; its captures are usable in probe paths")


class Verify(_Model):
    """How long gameday may measure the service to decide its error rate at the SLO (the steady state's load)."""

    window_s: float = Field(
        90.0, ge=5, le=600, description="the longest the steady state's load runs to decide the error rate at the SLO "
        "(95%); undecided then: inconclusive, a failed steady state")
    think_time: bool = Field(
        False, description="the steady state's users wait load.think_time_s between tasks (true), or not (false: "
        "~381 answers decide < 1% in seconds, not minutes)")


MetricName = Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", max_length=200)]
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=100)]


class MetricsAuth(_Model):
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
            if any(not n.startswith(placeholders.ENV_PREFIX) or not _env_name(n.removeprefix(placeholders.ENV_PREFIX))
                   for n in names):
                raise ValueError(f"{key}: only {{env.NAME}} placeholders are rendered here")
            if key != "username" and not names:
                raise ValueError(f"{key}: expected {{env.NAME}}: a secret is never written in the profile")
        return self


class Metrics(_Model):
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


class Service(_Model):
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


class Profile(_Model):
    """The whole service profile."""

    service: Service = Field(description="the service itself")
    local: Local | None = Field(None, description="how the local target runs it")
    kubernetes: Kubernetes | None = Field(None, description="where it lives on a cluster")
    dependencies: list[Dependency] = Field(default_factory=list, description="what it needs")
    endpoints: list[Endpoint] = Field(min_length=1, description="endpoints checked by the gate and the probes")
    journeys: list[Journey] = Field(default_factory=list, description="user journeys with captures")
    load: Load = Field(default_factory=Load, description="the load mix")
    detection: Detection = Field(default_factory=Detection, description="what the game day probes")
    verify: Verify = Field(default_factory=Verify, description="how long the steady state may measure")
    slo: Slo = Field(default_factory=Slo, description="service level objectives")
    alerts: Alerts = Field(default_factory=Alerts, description="alert names")
    runbook: str = Field("service-outage", description="the runbook package this service's game day follows")

    # where it was loaded from: relative paths in it are relative to this folder
    source: Path = Field(DEFAULT_PROFILE, exclude=True)

    @cached_property
    def directory(self) -> Path:
        """The folder relative paths of the profile are taken from."""
        return self.source.parent

    def dependency(self, name: str) -> Dependency:
        """A dependency by name; :class:`UsageError` names the known ones."""
        for dep in self.dependencies:
            if dep.name == name:
                return dep
        known = ", ".join(d.name for d in self.dependencies) or "none"
        raise UsageError(f"unknown dependency {name!r} for {self.service.name}: expected one of {known}")

    def endpoint(self, name: str) -> Endpoint:
        """An endpoint by name."""
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        raise UsageError(f"unknown endpoint {name!r} for {self.service.name}")

    def journey(self, name: str) -> Journey:
        """A journey by name."""
        for j in self.journeys:
            if j.name == name:
                return j
        raise UsageError(f"unknown journey {name!r} for {self.service.name}")

    def critical(self) -> list[str]:
        """Dependencies whose outage is an outage of the service."""
        return [d.name for d in self.dependencies if d.on_outage == "outage"]

    def needs(self, item: Endpoint | Journey) -> list[str]:
        """The dependencies an endpoint or journey cannot work without."""
        return list(item.needs) if item.needs is not None else self.critical()

    def probe_endpoints(self) -> list[Endpoint]:
        """What the game day's prober requests, in order."""
        names = self.detection.probes or [e.name for e in self.endpoints]
        return [self.endpoint(n) for n in names]

    def mix(self) -> list[MixEntry]:
        """The load mix: the profile's, or every endpoint once."""
        return list(self.load.mix) or [MixEntry(endpoint=e.name) for e in self.endpoints]

    @model_validator(mode="after")
    def _cross_references(self) -> Profile:
        problems = list(_cross_problems(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self


_PARSING = threading.Lock()


@lru_cache(maxsize=1024)  # parsing is slow (an ANTLR grammar); every call of an endpoint asks for the same paths
def _compile(path: str) -> JsonPath:
    # ANTLR's default listener prints each syntax error on stderr before jsonpath2's own raises it: that stray
    # line is swallowed (the paths of a profile are parsed once, when it is loaded), gameday's line says it all
    with _PARSING, contextlib.redirect_stderr(io.StringIO()):
        try:
            return JsonPath.parse_str(path)
        except Exception as exc:  # jsonpath2 raises its parser's own error types
            raise ValueError(f"not a JSONPath: {path!r}") from exc


def json_matches(path: str, body: Any) -> list[Any]:
    """The values ``path`` matches in ``body`` (empty when none)."""
    return [m.current_value for m in _compile(path).match(body)]


# --- cross-field checks: every name a profile uses must exist ------------------------------------------
def _cross_problems(p: Profile) -> Iterator[str]:
    dep_names = [d.name for d in p.dependencies]
    for dup in {n for n in dep_names if dep_names.count(n) > 1}:
        yield f"dependencies: {dup!r} is named twice"
    for i, name in enumerate(dep_names):
        if name in PLACEHOLDER_HEADS:
            yield f"dependencies[{i}].name: {name!r} is a placeholder's own name ({{{name}.*}}): rename the dependency"
    ep_names = [e.name for e in p.endpoints]
    for dup in {n for n in ep_names if ep_names.count(n) > 1}:
        yield f"endpoints: {dup!r} is named twice"
    journeys = {j.name for j in p.journeys}
    for field, items in (("endpoints", p.endpoints), ("journeys", p.journeys)):
        for i, item in enumerate(items):
            for need in item.needs or []:
                if need not in dep_names:
                    yield f"{field}[{i}].needs: {need!r} names no dependency (known: {', '.join(dep_names) or 'none'})"
    for i, dep in enumerate(p.dependencies):
        fallback = dep.promises.fallback if dep.promises is not None else None
        if fallback is not None and fallback.endpoint not in ep_names:
            yield f"dependencies[{i}].promises.fallback.endpoint: {fallback.endpoint!r} names no endpoint"
        if fallback is not None and dep.on_outage != "degraded":
            yield f"dependencies[{i}].promises.fallback: {dep.name} has on_outage {dep.on_outage}: no fallback answer"
    for i, entry in enumerate(p.load.mix):
        if entry.journey is not None and entry.journey not in journeys:
            yield f"load.mix[{i}].journey: {entry.journey!r} names no journey"
        if entry.endpoint is not None and entry.endpoint not in ep_names:
            yield f"load.mix[{i}].endpoint: {entry.endpoint!r} names no endpoint"
    for i, name in enumerate(p.detection.probes):
        if name not in ep_names:
            yield f"detection.probes[{i}]: {name!r} names no endpoint"
    if p.detection.setup is not None and p.detection.setup not in journeys:
        yield f"detection.setup: {p.detection.setup!r} names no journey"
    setup_captures = set()
    if p.detection.setup in journeys:
        setup_captures = {c for s in p.journey(p.detection.setup).steps for c in s.capture}
    for i, ep in enumerate(p.endpoints):
        for name in sorted(ep.placeholder_names()):
            if not _request_builtin(name) and name not in setup_captures:
                yield (f"endpoints[{i}] ({ep.name}): placeholder {{{name}}} is neither captured by detection.setup "
                       f"nor one of {', '.join(REQUEST_BUILTINS)}, env.NAME")
    for j, journey in enumerate(p.journeys):
        captured: set[str] = set()
        for s, step in enumerate(journey.steps):
            for name in sorted(step.placeholder_names()):
                if not _request_builtin(name) and name not in captured:
                    yield (f"journeys[{j}] ({journey.name}).steps[{s}]: placeholder {{{name}}} is not captured by "
                           "an earlier step")
            captured |= set(step.capture)
    yield from _file_problems(p)
    if p.local is not None:
        yield from _local_problems(p)


def _file_problems(p: Profile) -> Iterator[str]:
    """What the profile names on disk must be there now: ``up`` and the game day would fail on it later, slowly."""
    try:
        find_runbook(p.runbook)
    except UsageError as exc:
        yield f"runbook: {exc}"
    if p.alerts.rules is not None:
        path = p.directory / p.alerts.rules
        try:
            rules = yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            yield f"alerts.rules: cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
        except yaml.YAMLError as exc:
            yield f"alerts.rules: {path} is not YAML: {getattr(exc, 'problem', None) or exc}"
        else:
            if not isinstance(rules, dict) or not isinstance(rules.get("groups"), list):
                yield f"alerts.rules: {path} is not a Prometheus rules file (expected a mapping with groups: [...])"
    if p.local is not None and not (p.directory / p.local.working_dir).is_dir():
        yield f"local.working_dir: no directory {(p.directory / p.local.working_dir).resolve()}"


def _request_builtin(name: str) -> bool:
    return name in REQUEST_BUILTINS or (name.startswith("env.") and name.count(".") == 1)


def _local_problems(p: Profile) -> Iterator[str]:
    assert p.local is not None
    local = p.local
    deps = {d.name: d for d in p.dependencies}
    files = {f.name for f in local.files}

    def check(where: str, text: str, allow_config: bool = True) -> Iterator[str]:
        for name in placeholders.names(text):
            head, _, attr = name.partition(".")
            if not attr and name in REPLICA_PLACEHOLDERS:
                continue
            if head == "config" and allow_config:
                if attr not in local.config:
                    yield f"{where}: placeholder {{{name}}} names no key of local.config"
                continue
            if head == "file":
                if attr not in files:
                    yield f"{where}: placeholder {{{name}}} names no file of local.files"
                continue
            if head == "database" and attr in ("name", "user", "password"):
                continue
            if name == LB_URL:
                continue
            if head == "env":
                if not _env_name(attr):
                    yield f"{where}: placeholder {{{name}}}: expected env.NAME, NAME an environment variable's name"
                continue
            if head in deps:
                offered = kind_of(deps[head].kind).attributes()
                if attr not in offered:
                    yield f"{where}: placeholder {{{name}}}: a {deps[head].kind} offers {', '.join(offered)}"
                continue
            known = ", ".join([*REPLICA_PLACEHOLDERS, *deps, "config.KEY", "file.NAME", "database.*", "env.NAME",
                               LB_URL])
            yield f"{where}: placeholder {{{name}}} names no dependency or known value ({known})"

    for i, part in enumerate(local.command):
        yield from check(f"local.command[{i}]", part)
    for key, value in local.environment.items():
        yield from check(f"local.environment.{key}", value)
    for key, value in local.config.items():
        yield from check(f"local.config.{key}", value, allow_config=False)
    for i, cmd in enumerate(local.setup):
        for k, part in enumerate(cmd):
            yield from check(f"local.setup[{i}][{k}]", part)
    for i, f in enumerate(local.files):
        for key, value in f.values.items():
            yield from check(f"local.files[{i}].values.{key}", value)
        if f.content is not None:
            yield from check(f"local.files[{i}].content", f.content)
        elif f.template is not None:
            path = p.directory / f.template
            try:
                text = path.read_text()
            except OSError as exc:
                yield f"local.files[{i}].template: cannot read {path}: {exc.strerror or exc}"
                continue
            yield from check(f"local.files[{i}].template ({f.template})", text)
    for i, process in enumerate(local.processes):
        for k, part in enumerate(process.command):
            yield from check(f"local.processes[{i}] ({process.name}).command[{k}]", part)
        for key, value in process.environment.items():
            yield from check(f"local.processes[{i}] ({process.name}).environment.{key}", value)
    for key in local.bad_config:
        if key not in local.config:
            yield f"local.bad_config.{key}: names no key of local.config"
    for field in ("bad_release", "slow_release"):
        release = getattr(local, field)
        if release is not None:
            for key, value in release.environment.items():
                yield from check(f"local.{field}.environment.{key}", value)
            for i, part in enumerate(release.command or []):
                yield from check(f"local.{field}.command[{i}]", part)
    if local.database.password_env and not _env_name(local.database.password_env):
        yield "local.database.password_env: expected an environment variable name"


def _env_name(name: str) -> bool:
    return bool(name) and name.replace("_", "a").isascii() and name.replace("_", "a").isalnum() \
        and not name[0].isdigit()


def local_strings(p: Profile) -> Iterator[tuple[str, str]]:
    """(field, text) of every string of ``local`` the local target renders (templates read from disk too)."""
    local = p.local
    if local is None:
        return
    yield from ((f"local.command[{i}]", part) for i, part in enumerate(local.command))
    yield from ((f"local.environment.{k}", v) for k, v in local.environment.items())
    yield from ((f"local.config.{k}", v) for k, v in local.config.items())
    for i, cmd in enumerate(local.setup):
        yield from ((f"local.setup[{i}][{k}]", part) for k, part in enumerate(cmd))
    for i, f in enumerate(local.files):
        yield from ((f"local.files[{i}].values.{k}", v) for k, v in f.values.items())
        if f.content is not None:
            yield f"local.files[{i}].content", f.content
        elif f.template is not None:
            with contextlib.suppress(OSError, UnicodeDecodeError):  # an unreadable template: reported when loaded
                yield f"local.files[{i}].template ({f.template})", (p.directory / f.template).read_text()
    for i, process in enumerate(local.processes):
        yield from ((f"local.processes[{i}] ({process.name}).command[{k}]", v) for k, v in enumerate(process.command))
        yield from ((f"local.processes[{i}] ({process.name}).environment.{k}", v)
                    for k, v in process.environment.items())
    for field in ("bad_release", "slow_release"):
        release = getattr(local, field)
        if release is not None:
            yield from ((f"local.{field}.environment.{k}", v) for k, v in release.environment.items())
            yield from ((f"local.{field}.command[{i}]", part) for i, part in enumerate(release.command or []))


def missing_environment(p: Profile, environ: Mapping[str, str], requests: bool = True) -> list[str]:
    """One line per environment variable the profile uses (``{env.NAME}``) that is not set, naming where: ``up``
    (the local strings and the metrics' credentials) and ``profile check`` (``requests``: endpoints and journeys
    too) refuse with them, exit 2, before anything starts, rather than a replica, a migration or a scrape failing
    later."""
    uses: list[tuple[str, str]] = list(local_strings(p))
    if requests:
        uses += [(f"endpoints[{i}] ({e.name})", text) for i, e in enumerate(p.endpoints) for text in _texts(e)]
        uses += [(f"journeys[{j}] ({journey.name}).steps[{s}]", text) for j, journey in enumerate(p.journeys)
                 for s, step in enumerate(journey.steps) for text in _texts(step)]
    metrics = p.service.metrics
    if metrics is not None and metrics.auth is not None:
        uses += [(f"service.metrics.auth.{k}", v) for k, v in metrics.auth.model_dump(exclude_none=True).items()]
    unset: dict[str, list[str]] = {}  # variable -> where it is used, in the profile's order
    for where, text in uses:
        for name in placeholders.names(text):
            variable = name.removeprefix(placeholders.ENV_PREFIX)
            if name.startswith(placeholders.ENV_PREFIX) and variable not in environ:
                unset.setdefault(variable, [])
                if where not in unset[variable]:
                    unset[variable].append(where)
    return [f"the environment variable {variable} is not set: {{env.{variable}}} is used in {', '.join(where)}"
            for variable, where in unset.items()]


def _texts(request: Request) -> list[str]:
    return [request.path, *request.headers.values(), *(request.form or {}).values(),
            *(f"{{{n}}}" for n in placeholders.value_names(request.json_body))]


# --- loading ------------------------------------------------------------------------------------------
def locate(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    """Which profile file to use: ``--profile``, ``GAMEDAY_PROFILE``, ``./gameday.yaml``, the reference service."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    here = (cwd or Path.cwd()) / LOCAL_FILE
    return here if here.is_file() else DEFAULT_PROFILE


def load(path: str | os.PathLike[str] | None = None) -> Profile:
    """Read and validate a profile; :class:`ProfileError` lists every problem, one line each."""
    source = locate(path)
    shown = _shown(source)
    try:
        with source.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)  # never more: a huge file (or /dev/zero) is refused at once
        if len(raw) > MAX_BYTES:
            raise ProfileError([f"{shown}: larger than {MAX_BYTES // 1024 // 1024} MiB, the most a profile may be"])
        text = raw.decode("utf-8")
    except IsADirectoryError:
        raise ProfileError([f"{shown}: is a directory, expected a YAML file"]) from None
    except FileNotFoundError:
        raise ProfileError([f"{shown}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError([f"{shown}: cannot read: {getattr(exc, 'strerror', None) or exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ProfileError([f"{shown}: not YAML{where}: {getattr(exc, 'problem', None) or exc}"]) from None
    except RecursionError:  # the YAML parser recurses once per level
        raise ProfileError([f"{shown}: nested more than {MAX_DEPTH} levels deep"]) from None
    if not isinstance(data, dict):
        raise ProfileError([f"{shown}: expected a mapping at the top level"])
    too_big = _too_big(data)
    if too_big:
        raise ProfileError([f"{shown}: {too_big}"])
    try:
        return Profile.model_validate({**data, "source": source.resolve()})
    except ValidationError as exc:
        lines = _explain(exc) + _cross_lines_despite(exc, {**data, "source": source.resolve()})
        raise ProfileError([f"{shown}: {line}" for line in dict.fromkeys(lines)]) from None


def _cross_lines_despite(exc: ValidationError, data: dict[str, Any], rounds: int = 4) -> list[str]:
    """The cross-field problems (placeholders, names) of a profile whose fields are not all valid, so that one
    round of fixes fixes everything: each invalid field is left out (its default, when it has one) and the rest
    validated again. A line about the item an invalid field belongs to (``journeys[0]``) is not repeated: it may
    follow from the field left out. An invalid required field of a list item ends the search (leaving the item out
    would renumber the others): its problems come in the next round."""
    pruned: set[str] = set()
    for _ in range(rounds):
        errors = [e for e in exc.errors() if e["loc"]]
        if not errors:  # only the profile's own (cross-field) problems are left
            return [line for line in _explain(exc) if not line.startswith(tuple(pruned))]
        for error in errors:
            where = _left_out(data, list(error["loc"]))
            if where is None:
                return []
            pruned.add(where)
        try:
            Profile.model_validate(data)
        except ValidationError as again:
            exc = again
        else:
            return []
    return []


def _left_out(data: dict[str, Any], loc: list[Any]) -> str | None:
    """Remove the value at ``loc`` from ``data`` (a missing one: its parent, when that is a mapping's value);
    return the field it belonged to (``journeys[0]``, ``slo.p95_ms``), or None when it cannot be left out."""
    original = list(loc)
    while loc:
        parent: Any = data
        try:
            for part in loc[:-1]:
                parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return None
        if not isinstance(parent, dict) or isinstance(loc[-1], int):
            return None
        if loc[-1] in parent:
            if loc == ["source"]:
                return None
            del parent[loc[-1]]
            first_index = next((i for i, part in enumerate(original) if isinstance(part, int)), len(original) - 1)
            return _dotted([str(part) for part in original[:first_index + 1]])
        loc = loc[:-1]
    return None


def _too_big(data: dict[str, Any]) -> str | None:
    """Why the parsed document is too deep or too large to validate (pydantic recurses per level, and YAML aliases
    can repeat one value a billion times), or None. Walked with a stack: the check itself never recurses."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    seen = 0
    while stack:
        value, where, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            return f"more than {MAX_VALUES} values (YAML aliases repeating a value?)"
        if depth > MAX_DEPTH:
            return f"{where}: nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, dict):
            stack += [(v, _deeper(where, f".{k}" if where else str(k), depth), depth + 1) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, _deeper(where, f"[{i}]", depth), depth + 1) for i, v in enumerate(value)]
    return None


def _deeper(where: str, step: str, depth: int) -> str:
    """The field's name one level down; past a few levels the line names where the nesting starts."""
    return where + step if depth < 4 else where if where.endswith("...") else f"{where}..."


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _explain(exc: ValidationError) -> list[str]:
    """Pydantic's errors as ``field: what was expected``, an unknown key with the closest valid name."""
    lines: list[str] = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        where = _dotted(loc)
        if error["type"] == "extra_forbidden":
            valid = _valid_keys(loc[:-1])
            close = difflib.get_close_matches(loc[-1], valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else (f" (expected one of {', '.join(valid)})"
                                                                  if valid else "")
            lines.append(f"{where}: unknown key{hint}")
        elif error["type"] == "value_error" and not loc:
            lines += [f"{part}" for part in str(error["ctx"]["error"]).split("; ")]
        else:
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{where or 'profile'}: {message}")
    return lines


def _dotted(loc: list[str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _valid_keys(loc: list[str]) -> list[str]:
    """The keys the model at ``loc`` accepts (for the did-you-mean hint)."""
    model: Any = Profile
    for part in loc:
        if part.isdigit() or model is None:
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            alias = {f.alias: f for f in model.model_fields.values() if f.alias}.get(part)
            field = alias
        model = _model_of(field.annotation) if field is not None else None
    if model is None or not hasattr(model, "model_fields"):
        return []
    return sorted((f.alias or n) for n, f in model.model_fields.items() if n != "source")


def _model_of(annotation: Any) -> Any:
    """The BaseModel inside ``X``, ``X | None`` or ``list[X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def schema() -> dict[str, Any]:
    """The profile's JSON Schema (``gameday profile schema``), for editors and CI linting."""
    out = Profile.model_json_schema(by_alias=True)
    out["properties"].pop("source", None)
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = "gameday service profile"
    return out
