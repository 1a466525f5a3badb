"""Configuration: flat keys from defaults, an optional JSON file, and environment variables.

Precedence (lowest to highest): built-in defaults, the ``--config`` JSON file, environment variables.
Invalid configuration is reported as one line on stderr and the process exits with code 2.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from . import SERVICE_NAME

CONFIG_ERROR_EXIT_CODE = 2
# a reset connection is retried at once on a new one, this many times: with one connection in ten reset, two
# resets in a row are 1%, four are 0.01% (the profile promises retries: users see under 1% errors)
REDIS_RETRIES = 3


class ConfigError(Exception):
    """The configuration cannot be loaded or is invalid (message is one line)."""


class Settings(BaseModel):
    """All configuration keys of the service, with their defaults and constraints."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    APP_VERSION: str = Field("1.4.2", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
    HTTP_HOST: str = Field("127.0.0.1", min_length=1)
    HTTP_PORT: int = Field(8000, ge=1, le=65535)
    POD_NAME: str = Field("ecommerce-backend-0", min_length=1, max_length=253, pattern=r"^\S+$")
    DB_HOST: str = Field("127.0.0.1", min_length=1)
    DB_PORT: int = Field(5432, ge=1, le=65535)
    DB_NAME: str = Field("app", min_length=1)
    DB_USER: str = Field("app", min_length=1)
    DB_PASSWORD: SecretStr = SecretStr("")  # a SecretStr: never in repr, never stripped
    REDIS_HOST: str = Field("127.0.0.1", min_length=1)
    REDIS_PORT: int = Field(6379, ge=1, le=65535)
    KAFKA_BOOTSTRAP: str = "127.0.0.1:9092"
    ORDER_TOPIC: str = Field("order-created", min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")
    DB_TIMEOUT_SECONDS: float = Field(3.0, gt=0, le=300)
    REDIS_TIMEOUT_SECONDS: float = Field(0.5, gt=0, le=300)
    KAFKA_TIMEOUT_SECONDS: float = Field(2.0, gt=0, le=300)
    POSTGRES_GRACE_SECONDS: float = Field(4.0, ge=0, le=3600)
    READINESS_INTERVAL_SECONDS: float = Field(0.5, gt=0, le=3600)
    CACHE_TTL_SECONDS: int = Field(300, ge=1)
    BROKEN_CRASH_AFTER_SECONDS: float = Field(3.0, ge=0, le=86400)
    SLOW_RELEASE_DELAY_MS: float = Field(150.0, ge=0, le=60_000)  # what the -slow release adds to each API response
    OUTBOX_INTERVAL_SECONDS: float = Field(1.0, gt=0, le=3600)
    # how long an order request waits for its event to be published before answering (it is accepted
    # either way): keep it well under the load balancer's server timeout, or a Kafka outage becomes 504s
    ORDER_PUBLISH_WAIT_SECONDS: float = Field(0.3, ge=0, le=60)

    @field_validator("KAFKA_BOOTSTRAP")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        """Accept ``host:port[,host:port...]``."""
        for entry in value.split(","):
            host, sep, port = entry.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    @property
    def is_slow_release(self) -> bool:
        """True for the known-slow release (a version ending in ``-slow``): correct, but slower on every API path."""
        return self.APP_VERSION.endswith("-slow")

    @property
    def breaker_enabled(self) -> bool:
        """False for a release built without its Redis circuit breaker (a version ending in ``-no-breaker``): what
        the slow-dependency experiment must tell apart from the real thing."""
        return not self.APP_VERSION.endswith("-no-breaker")

    @property
    def redis_retries(self) -> int:
        """Immediate retries of a Redis call that met a dead connection; none for a release built without them (a
        version ending in ``-no-retries``): what the flaky-dependency experiment must tell apart."""
        return 0 if self.APP_VERSION.endswith("-no-retries") else REDIS_RETRIES

    @property
    def is_broken_release(self) -> bool:
        """True for the known-bad release (a version string ending in ``-broken``)."""
        return self.APP_VERSION.endswith("-broken")

    @property
    def kafka_servers(self) -> list[tuple[str, int]]:
        """The Kafka bootstrap servers as (host, port) pairs."""
        servers = []
        for entry in self.KAFKA_BOOTSTRAP.split(","):
            host, _, port = entry.strip().rpartition(":")
            servers.append((host.strip("[]"), int(port)))
        return servers


KEYS: tuple[str, ...] = tuple(Settings.model_fields)
SECRET_KEYS = frozenset({"DB_PASSWORD"})  # never echoed in an error line


def _read_config_file(path: Path) -> dict[str, Any]:
    """Read the JSON config file: one object with flat keys."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object of flat keys")
    return data


def load_settings(config_file: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from defaults, the optional JSON file and the environment (which wins)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if config_file is not None:
        for key, value in _read_config_file(Path(config_file)).items():
            values[key] = value
            sources[key] = f"config file {config_file}"
    for key in KEYS:
        if key in env:
            values[key] = env[key]
            sources[key] = "environment"
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(part) for part in err["loc"]) or "?"
            if err["type"] == "extra_forbidden":
                problems.append(f"{key}: unknown key (from {sources.get(key, 'input')})")
                continue
            shown = "***" if key in SECRET_KEYS else json.dumps(err.get("input"), default=str)
            message = err["msg"].replace("\n", " ")
            problems.append(f"{key}={shown}: {message} (from {sources.get(key, 'defaults')})")
        raise ConfigError("; ".join(problems)) from None


def load_settings_or_exit(config_file: str | None = None) -> Settings:
    """Load the settings; on error print one line on stderr and exit with code 2."""
    try:
        return load_settings(config_file)
    except ConfigError as exc:
        fail_config(str(exc))


def fail_config(message: str) -> NoReturn:
    """Report a configuration error as one stderr line and exit with code 2."""
    print(f"{SERVICE_NAME}: configuration error: {message}", file=sys.stderr, flush=True)
    sys.exit(CONFIG_ERROR_EXIT_CODE)
