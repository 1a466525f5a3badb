"""One typed configuration model, loaded once, with the runbook's names as defaults.

Values come from (highest first) explicit overrides, environment variables prefixed
``GAMEDAY_`` (nested with ``__``, e.g. ``GAMEDAY_KUBERNETES__NAMESPACE``), a YAML file named by
``GAMEDAY_CONFIG``, then the defaults below. The short variables the Makefile documents
(``TARGET``, ``CONTEXT``, ``NAMESPACE``) are accepted as aliases.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gameday.profile import Profile
from gameday.profile import load as load_profile


def default_state_dir() -> Path:
    """Where runtime state lives: outside the source tree, traversable by the postgres user."""
    return Path(f"/var/tmp/gameday-{os.getuid()}")


class LocalSettings(BaseModel):
    """The embedded local target."""

    replicas: int = 3
    release_version: str = "1.4.2"
    bad_release_version: str = "1.5.0-broken"
    # readiness: how long a PostgreSQL outage is absorbed before replicas turn not ready
    postgres_grace_seconds: float = 4.0
    # supervisor crash-loop policy (like a pod's restart back-off)
    start_seconds: int = 5
    start_retries: int = 3
    monitoring: bool = True
    scrape_interval: str = "1s"


class KubernetesSettings(BaseModel):
    """The kubernetes target (kind, staging, anything a kubeconfig reaches)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = "production"
    deployment: str = "ecommerce-backend"
    service: str = "ecommerce-backend"
    label_selector: str = "app=ecommerce-backend"
    configmap: str = "ecommerce-backend-config"
    base_url: str | None = None
    bad_image: str = "ecommerce-backend:1.5.0-broken"
    dependencies: dict[str, str] = Field(
        default_factory=lambda: {"postgres": "postgres", "redis": "redis", "kafka": "kafka"}
    )


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
    """Where every game day is remembered (docs/history.md): a SQLAlchemy URL; empty: history.db in the state dir."""

    url: str | None = None


class Settings(BaseSettings):
    """The whole of gameday's configuration."""

    model_config = SettingsConfigDict(env_prefix="GAMEDAY_", env_nested_delimiter="__", extra="ignore")

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

    @cached_property
    def service(self) -> Profile:
        """The service profile, loaded (and validated) on first use."""
        return load_profile(self.profile)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _AliasSource(settings_cls), env_settings, _YamlSource(settings_cls))


class _YamlSource(PydanticBaseSettingsSource):
    """Values from the YAML file named by ``GAMEDAY_CONFIG``."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("GAMEDAY_CONFIG")
        if not path:
            return {}
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        return data


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
    """The settings, loaded once per process (or as last set by :func:`use_settings`)."""
    if not _current:
        _current.append(Settings())
    return _current[0]


def use_settings(settings: Settings | None = None, **overrides: Any) -> Settings:
    """Replace the process's settings: the given object, or a fresh load with overrides on top."""
    chosen = settings if settings is not None else Settings(**overrides)
    _current[:] = [chosen]
    return chosen
