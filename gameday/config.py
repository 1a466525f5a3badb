"""One typed configuration model, loaded once: where gameday runs and how, never what the service is.

The service (its names, paths, dependencies, how the local target runs it, where it lives on a cluster) is the
profile (:mod:`gameday.profile`), loaded as :attr:`Settings.service`.

Values come from (highest first) explicit overrides, environment variables prefixed
``GAMEDAY_`` (nested with ``__``, e.g. ``GAMEDAY_KUBERNETES__NAMESPACE``), a YAML file named by
``GAMEDAY_CONFIG``, then the defaults below. The short variables the Makefile documents
(``TARGET``, ``CONTEXT``, ``NAMESPACE``) are accepted as aliases.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gameday.errors import UsageError
from gameday.profile import Profile
from gameday.profile import load as load_profile

ENV_PREFIX, NESTED = "GAMEDAY_", "__"


def default_state_dir() -> Path:
    """Where runtime state lives: outside the source tree, traversable by the postgres user."""
    return Path(f"/var/tmp/gameday-{os.getuid()}")


class ContainerImages(BaseModel):
    """The images of the containers provider: the official ones by default; the tests use locally built ones."""

    postgres: str = "postgres:15"
    redis: str = "redis:7"
    kafka: str = "apache/kafka:3.9.0"


class LocalSettings(BaseModel):
    """The embedded local target (how the service runs on it is the profile's ``local`` section)."""

    # where PostgreSQL, Redis and the Kafka broker come from: Debian's binaries (native), Docker containers
    # (containers), or native when its binaries are installed and containers otherwise (auto)
    provider: Literal["auto", "native", "containers"] = "auto"
    docker_host: str | None = None  # the containers provider's engine (default: DOCKER_HOST, else the default socket)
    images: ContainerImages = Field(default_factory=ContainerImages)
    monitoring: bool = True
    scrape_interval: str = "1s"


class KubernetesSettings(BaseModel):
    """Where the cluster is (kind, staging, anything a kubeconfig reaches), and the user's overrides.

    The service's names on the cluster (deployment, service, label selector, ...) are the profile's ``kubernetes``
    section; ``namespace`` and ``base_url`` here, when set (``--namespace``, ``--base-url``), win over it.
    """

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    base_url: str | None = None
    # how long the run lock (a Lease) and each fault recorded in the cluster outlive a runner that stopped renewing
    # them (a live run renews every third of it); then the reaper ('gameday abort --expired') undoes the faults
    lease_s: float = Field(default=120.0, ge=1.0)


class SafetySettings(BaseModel):
    """Where faults may be injected."""

    allowed_contexts: list[str] = Field(default_factory=lambda: ["kind-gameday", "fake-kube", "staging"])
    allowed_namespaces: list[str] = Field(default_factory=lambda: ["production", "staging", "gameday"])
    allow_production: bool = False


class SloSettings(BaseModel):
    """What "error rate < 1%" and "response time normal" mean."""

    max_error_rate: float = 0.01
    confidence: float = 0.95
    p95_slo_ms: float = 500.0
    baseline_tolerance: float = 2.0  # p95 may be at most this many times the baseline p95
    baseline_slack_ms: float = 50.0  # ... plus this absolute slack (tiny baselines are noisy)
    # the resilience score's targets (docs/history.md): full points at or under the target, none at the limit
    detect_target_s: float = 5.0
    detect_limit_s: float = 60.0
    recover_target_s: float = 60.0
    recover_limit_s: float = 300.0  # the runbook escalates to the team lead after 5 minutes


class HistorySettings(BaseModel):
    """Where every game day is remembered, and the regression gate's policy (docs/history.md)."""

    url: str | None = None  # a SQLAlchemy URL (sqlite:///..., postgresql://...); empty: history.db in the state dir
    # a figure regresses over median + max(k x 1.4826 x MAD, relative x median, absolute_s) of its last runs
    regression_k: float = Field(3.0, gt=0)
    regression_relative: float = Field(0.5, ge=0)
    # the time to verify carries the machine's load (the verification window waits for enough requests at the
    # rate the machine manages): measured 34-95 s around a 45-50 s median on the loaded 2-core machine
    regression_relative_verify: float = Field(1.25, ge=0)
    regression_absolute_s: float = Field(2.0, ge=0)
    regression_min_runs: int = Field(5, ge=5)  # fewer passed runs: "not enough history", never a failure
    regression_window: int = Field(30, ge=5)


OnError = Literal["stop", "continue"]  # what a stop condition that cannot be evaluated does: hold, or be ignored


class PromqlCondition(BaseModel):
    """Stop when a PromQL expression returns any sample for ``for_s`` seconds (like an alerting rule)."""

    expr: str
    for_s: float = Field(default=0.0, ge=0)
    url: str | None = None  # default: the target's Prometheus
    on_error: OnError = "stop"  # README "Guardrails": a condition that cannot be evaluated holds (stop) or not


class HttpCondition(BaseModel):
    """Stop when another service's health URL fails (non-2xx, refused, slower than ``timeout_s``) for ``for_s``."""

    url: str
    for_s: float = Field(default=0.0, ge=0)
    timeout_s: float = Field(default=1.0, gt=0)
    on_error: OnError = "stop"  # no answer: cannot be evaluated (README "Guardrails")


class BlastRadiusCondition(BaseModel):
    """Stop when traffic the experiment should not affect (a path) fails more than ``max_error_rate``."""

    path: str
    max_error_rate: float = Field(ge=0, le=1)
    window_s: float = Field(default=5.0, gt=0)
    on_error: OnError = "stop"


class ConditionSet(BaseModel):
    """Stop conditions of one experiment (added to the run's)."""

    outage_s: float | None = Field(default=None, gt=0)
    promql: list[PromqlCondition] = Field(default_factory=list)
    http: list[HttpCondition] = Field(default_factory=list)
    blast_radius: list[BlastRadiusCondition] = Field(default_factory=list)


class StopConditions(ConditionSet):
    """When a game day stops itself (docs: README "Guardrails"); ``--stop-on`` adds to these."""

    outage_s: float | None = Field(default=120.0, gt=0)  # the runbook escalates at 15 minutes
    continue_after_stop: bool = False  # True: the remaining experiments still run
    experiments: dict[str, ConditionSet] = Field(default_factory=dict)


class Settings(BaseSettings):
    """The whole of gameday's configuration."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=NESTED, extra="ignore")

    target: Literal["local", "kubernetes"] = "local"
    # the service profile (``--profile`` / GAMEDAY_PROFILE; else ./gameday.yaml, else the reference service)
    profile: Path | None = None
    state_dir: Path = Field(default_factory=default_state_dir)
    reports_dir: Path = Path("reports")
    local: LocalSettings = Field(default_factory=LocalSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)
    slo: SloSettings = Field(default_factory=SloSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    stop_conditions: StopConditions = Field(default_factory=StopConditions)

    @cached_property
    def service(self) -> Profile:
        """The service profile, loaded (and validated) on first use."""
        return load_profile(self.profile)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Settings:
        """A copy; naming another profile drops the loaded one (a cached property is copied with the object)."""
        copy = super().model_copy(update=update, deep=deep)
        if update and "profile" in update:
            copy.__dict__.pop("service", None)
        return copy

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        unknown_variables(os.environ)
        return (init_settings, _AliasSource(settings_cls), env_settings, _YamlSource(settings_cls))


def unknown_variables(environ: Mapping[str, str]) -> None:
    """Refuse a nested ``GAMEDAY_SECTION__KEY`` variable that names no setting: pydantic-settings ignores it, so
    ``GAMEDAY_SLO__MAX_EROR_RATE=0.5`` would leave the gate at its default without a word. Variables without
    ``__`` are left alone: other tools' ``GAMEDAY_*`` variables (notification URLs, test switches) are flat."""
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX) or NESTED not in name:
            continue
        *path, leaf = name[len(ENV_PREFIX):].lower().split(NESTED)
        nested: dict[str, Any] = {leaf: environ[name]}
        for part in reversed(path):
            nested = {part: nested}
        unknown_keys(nested, Settings, f"environment variable {name}")


class _YamlSource(PydanticBaseSettingsSource):
    """Values from the YAML file named by ``GAMEDAY_CONFIG``."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("GAMEDAY_CONFIG")
        if not path:
            return {}
        data = read_config_file(Path(path))
        unknown_keys(data, Settings, f"configuration file {path}")
        return data


def read_config_file(path: Path) -> dict[str, Any]:
    """The YAML mapping of a configuration file; any problem is one line naming the file (UsageError, exit 2)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UsageError(f"configuration file {path}: not found (GAMEDAY_CONFIG)") from None
    except IsADirectoryError:
        raise UsageError(f"configuration file {path}: is a directory, expected a YAML file") from None
    except UnicodeDecodeError:
        raise UsageError(f"configuration file {path}: not text (binary?), expected YAML") from None
    except OSError as exc:
        raise UsageError(f"configuration file {path}: cannot read it ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise UsageError(f"configuration file {path}: not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"configuration file {path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def unknown_keys(data: dict[str, Any], model: type[BaseModel], where: str, prefix: str = "") -> None:
    """Refuse a key the model does not have (a typo would otherwise be ignored), naming the closest valid one;
    ``where`` names the source (a configuration file, an environment variable)."""
    fields = model.model_fields
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else f"; valid keys: {', '.join(fields)}"
            raise UsageError(f"{where}: unknown key '{prefix}{key}'{hint}")
        inner = _model_of(fields[key].annotation)
        if inner is None:
            continue
        shape, sub = inner
        items = ([(f"{key}.", value)] if shape == "one" else
                 [(f"{key}[{i}].", v) for i, v in enumerate(value)] if shape == "list" and isinstance(value, list)
                 else [(f"{key}.{k}.", v) for k, v in value.items()] if shape == "dict" and isinstance(value, dict)
                 else [])
        for at, item in items:
            if isinstance(item, dict):
                unknown_keys(item, sub, where, prefix + at)


def _model_of(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """("one"|"list"|"dict", Model) when a field holds models; None for plain values."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "one", annotation
    args = [a for a in get_args(annotation) if a is not type(None)]
    origin = get_origin(annotation)
    if origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return "list", args[0]
    if origin is dict and len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
        return "dict", args[1]
    if len(args) == 1:
        return _model_of(args[0])
    return None


class _AliasSource(PydanticBaseSettingsSource):
    """The Makefile's short variables: TARGET, CONTEXT, NAMESPACE, KUBECONFIG."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if os.environ.get("TARGET"):
            out["target"] = os.environ["TARGET"]
        kube: dict[str, Any] = {}
        for env, key in (("CONTEXT", "context"), ("NAMESPACE", "namespace"), ("KUBECONFIG", "kubeconfig")):
            if os.environ.get(env):
                kube[key] = os.environ[env]
        if kube:
            out["kubernetes"] = kube
        return out


_current: list[Settings] = []


def get_settings() -> Settings:
    """The settings, loaded once per process (or as last set by :func:`use_settings`): for the CLI layer only, which
    builds the run's context from them and hands it down (:mod:`gameday.context`)."""
    if not _current:
        _current.append(Settings())
    return _current[0]


def use_settings(settings: Settings | None = None, **overrides: Any) -> Settings:
    """Replace the process's settings: the given object, or a fresh load with overrides on top."""
    chosen = settings if settings is not None else Settings(**overrides)
    _current[:] = [chosen]
    return chosen
