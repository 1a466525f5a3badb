"""Configuration: TOML files, read once at start (never environment variables).

One file usually; a later ``--config`` file overrides single keys of the earlier ones.

Every key is typed and checked; an unknown key, a wrong type or an unreadable file is reported as one
line on stderr and the process exits with code 2. Secrets (the database password, in its own key or
inside the DSN) are never echoed in those lines, in logs or in responses.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from . import SERVICE_NAME

CONFIG_ERROR_EXIT_CODE = 2

Port = Annotated[int, Field(ge=1, le=65535)]


class ConfigError(Exception):
    """The configuration cannot be loaded or is invalid (the message is one line, without secrets)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ServerConfig(_Section):
    """``[server]``: where to listen and what this replica is called in logs and probe answers."""

    host: str = Field("127.0.0.1", min_length=1)
    port: Port = 8080
    instance: str = Field(SERVICE_NAME, min_length=1, max_length=253, pattern=r"^\S+$")
    # pause between two readiness checks of one dependency
    readiness_interval_ms: int = Field(500, ge=50, le=60_000)


class DatabaseConfig(_Section):
    """``[database]``: PostgreSQL, as a DSN or as separate keys (not both)."""

    dsn: SecretStr | None = None
    host: str | None = Field(None, min_length=1)
    port: Port | None = None
    name: str | None = Field(None, min_length=1)
    user: str | None = Field(None, min_length=1)
    password: SecretStr | None = None
    # bound on one database call (pool acquire and query) and on connecting: keep well under the
    # load balancer's 2 s server timeout, so a hung PostgreSQL costs a request a 503, not a 504
    timeout_ms: int = Field(800, ge=10, le=10_000)

    @model_validator(mode="after")
    def _dsn_or_keys(self) -> DatabaseConfig:
        separate = [k for k in ("host", "port", "name", "user", "password") if getattr(self, k) is not None]
        if self.dsn is not None:
            if separate:
                raise ValueError(f"give either dsn or host/port/name/user/password, not both (also set: "
                                 f"{', '.join(separate)})")
            parts = urlsplit(self.dsn.get_secret_value())
            try:
                parts.port  # noqa: B018 - raises ValueError for a non-numeric port
            except ValueError:
                raise ValueError("dsn: the port is not a number") from None
            if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or not parts.path.strip("/"):
                raise ValueError("dsn must look like postgresql://user:password@host:port/database")
        return self

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for asyncpg.connect/create_pool (connection details only)."""
        if self.dsn is not None:
            return {"dsn": self.dsn.get_secret_value()}
        password = self.password.get_secret_value() if self.password is not None else ""
        return {
            "host": self.host or "127.0.0.1",
            "port": self.port or 5432,
            "database": self.name or "tickets",
            "user": self.user or "tickets",
            "password": password or None,  # an empty password (trust authentication) is no password
        }

    @property
    def where(self) -> str:
        """``host:port/database``: safe to log (no user, no password)."""
        if self.dsn is not None:
            parts = urlsplit(self.dsn.get_secret_value())
            return f"{parts.hostname}:{parts.port or 5432}/{unquote(parts.path.strip('/'))}"
        kw = self.connect_kwargs()
        return f"{kw['host']}:{kw['port']}/{kw['database']}"


class RedisConfig(_Section):
    """``[redis]``: the session store."""

    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")  # may hold a password
    # bound on one Redis call (connect included)
    timeout_ms: int = Field(300, ge=10, le=10_000)
    session_ttl_seconds: int = Field(3600, ge=1, le=30 * 86400)

    @model_validator(mode="after")
    def _url_shape(self) -> RedisConfig:
        parts = urlsplit(self.url.get_secret_value())
        try:
            parts.port  # noqa: B018 - raises ValueError for a non-numeric port
        except ValueError:
            raise ValueError("url: the port is not a number") from None
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError("url must look like redis://host:port/db")
        return self

    @property
    def where(self) -> str:
        """``host:port``: safe to log."""
        parts = urlsplit(self.url.get_secret_value())
        return f"{parts.hostname}:{parts.port or 6379}"


class ReleaseConfig(_Section):
    """``[release]``: the version, and the switches that model bad releases."""

    version: str = Field("2.0.0", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
    # added to every API (/v2) response: a slow release, for canary analysis
    extra_latency_ms: int = Field(0, ge=0, le=60_000)

    @property
    def is_bad(self) -> bool:
        """The known-bad release: a version ending in ``-bad`` passes its probes, then fails every API call."""
        return self.version.endswith("-bad")


class Config(_Section):
    """The whole file."""

    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    redis: RedisConfig = RedisConfig()
    release: ReleaseConfig = ReleaseConfig()


_SECRET_KEYS = frozenset({"dsn", "password", "url"})


def _describe(exc: ValidationError, sources: dict[tuple[str, ...], Path]) -> str:
    """The validation errors on one line, as ``FILE: [section] key: message``, never showing a secret value."""
    problems = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        section = f"[{loc[0]}]" if loc else ""
        key = ".".join(loc[1:])
        label = f"{section} {key}".strip() if key else section or "(top level)"
        source = sources.get(tuple(loc[:2])) or sources.get(tuple(loc[:1]))
        if source is not None:
            label = f"{source}: {label}"
        if err["type"] == "extra_forbidden":
            problems.append(f"{label}: unknown key" if key else f"{label}: unknown section")
            continue
        message = err["msg"].removeprefix("Value error, ")
        shown = ""
        if loc and loc[-1] not in _SECRET_KEYS and err["type"] != "missing" and not isinstance(err.get("input"), dict):
            shown = f" (got {err.get('input')!r})"
        problems.append(f"{label}: {message}{shown}")
    return "; ".join(problems)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def load_config(paths: Sequence[str | Path], port: int | None = None) -> Config:
    """Read, merge and check the TOML files; ``port`` (from ``--port``) replaces ``[server] port``.

    A later file overrides single keys of an earlier one (an overlay such as ``[release] extra_latency_ms = 150``
    turns a base configuration into a slow release without repeating it).
    """
    data: dict[str, Any] = {}
    sources: dict[tuple[str, ...], Path] = {}
    for path in map(Path, paths):
        for section, values in _read(path).items():
            sources[(section,)] = path
            if isinstance(values, dict) and isinstance(data.get(section), dict):
                data[section] = {**data[section], **values}
            else:
                data[section] = values
            if isinstance(values, dict):
                sources.update({(section, key): path for key in values})
    if port is not None and isinstance(data.setdefault("server", {}), dict):
        data["server"] = {**data["server"], "port": port}
        sources[("server", "port")] = Path("--port")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, sources)) from None


def fail_config(message: str) -> NoReturn:
    """One line on stderr, exit code 2."""
    print(f"{SERVICE_NAME}: configuration error: {message}", file=sys.stderr, flush=True)
    sys.exit(CONFIG_ERROR_EXIT_CODE)


def load_config_or_exit(paths: Sequence[str | Path], port: int | None = None) -> Config:
    """``load_config``, turning a ConfigError into one stderr line and exit code 2."""
    try:
        return load_config(paths, port)
    except ConfigError as exc:
        fail_config(str(exc))
