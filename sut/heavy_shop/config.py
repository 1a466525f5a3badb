"""The INI configuration file (``--config FILE``), as a Django settings module would read it.

``HEAVY_SHOP_START_CPU_S`` in the environment overrides ``[app] warmup_cpu_s`` and ``HEAVY_SHOP_PAGE_WORK``
``[app] page_work``: tests shorten the start and lighten the pages with them.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass

START_ENV = "HEAVY_SHOP_START_CPU_S"
PAGE_WORK_ENV = "HEAVY_SHOP_PAGE_WORK"


class ConfigError(ValueError):
    """A missing or malformed setting: one line, exit 2."""


@dataclass(frozen=True)
class Config:
    """Every setting of the service."""

    host: str
    port: int
    instance: str
    public_url: str  # where users reach the shop (the load balancer): absolute links use it
    secret_key: str
    release: str
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    db_timeout_s: float
    redis_url: str
    redis_timeout_s: float
    warmup_cpu_s: float  # CPU seconds of pre-rendering at start: a slow start is real work, not a sleep
    page_size: int
    page_work: int  # facet passes per page (pages.facets): 300 is ~30 ms of CPU on a 2020s core


def load(path: str) -> Config:
    """Read the INI file; ConfigError names the file and the setting."""
    parser = configparser.ConfigParser(interpolation=None)
    if not parser.read(path):
        raise ConfigError(f"{path}: cannot read the configuration file")

    def get(section: str, key: str, default: str | None = None) -> str:
        value = parser.get(section, key, fallback=default)
        if value is None:
            raise ConfigError(f"{path}: [{section}] {key} is required")
        return value.strip()

    def number(section: str, key: str, default: str | None = None) -> float:
        text = get(section, key, default)
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{path}: [{section}] {key}: expected a number, got {text!r}") from None

    warmup = os.environ.get(START_ENV) or get("app", "warmup_cpu_s", "12")
    try:
        warmup_s = float(warmup)
    except ValueError:
        raise ConfigError(f"{START_ENV} or [app] warmup_cpu_s: expected a number, got {warmup!r}") from None
    return Config(
        host=get("server", "host", "127.0.0.1"),
        port=int(number("server", "port")),
        instance=get("server", "instance", "heavy-shop"),
        public_url=get("server", "public_url", "").rstrip("/"),
        secret_key=get("server", "secret_key"),
        release=get("app", "release", "1.0.0"),
        db_host=get("database", "host"),
        db_port=int(number("database", "port", "5432")),
        db_name=get("database", "name"),
        db_user=get("database", "user"),
        db_password=get("database", "password", ""),
        db_timeout_s=number("database", "timeout_ms", "1000") / 1000,
        redis_url=get("redis", "url"),
        redis_timeout_s=number("redis", "timeout_ms", "500") / 1000,
        warmup_cpu_s=warmup_s,
        page_size=int(number("app", "page_size", "48")),
        page_work=int(os.environ.get(PAGE_WORK_ENV) or number("app", "page_work", "300")),
    )
