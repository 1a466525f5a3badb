"""Profiles for tests of the local target: variants of the shipped ones, written next to the test's own files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gameday.profile import DEFAULT_PROFILE, PROJECT_ROOT

# a service that differs from ecommerce-backend in what the local target must not assume: a TOML file rendered
# from a template, a migrate command run once, a password, Redis critical, no Kafka, other health paths
TICKET_OFFICE_TEMPLATE = """\
[server]
host = "127.0.0.1"
port = {port}
instance = "{replica}"

[database]
dsn = "postgresql://{database.user}:{database.password}@{config.DATABASE_HOST}:{postgres.port}/{database.name}"

[redis]
url = "{redis.url}"

[release]
version = "{version}"
"""


def ticket_office(folder: Path, working_dir: Path = PROJECT_ROOT, password_env: str = "TICKETS_DB_PASSWORD",
                  **local: Any) -> Path:
    """A profile of sut/ticket_office in ``folder`` (its TOML template beside it); ``local`` overrides."""
    (folder / "ticket-office.toml.tmpl").write_text(TICKET_OFFICE_TEMPLATE)
    data: dict[str, Any] = {
        "service": {"name": "ticket-office", "health_path": "/_status/alive", "readiness_path": "/_status/ready"},
        "local": {
            "command": ["{python}", "-m", "sut.ticket_office", "--config", "{file.config}"],
            "working_dir": os.path.relpath(working_dir, folder),
            "replicas": 2,
            "config": {"DATABASE_HOST": "{postgres.host}"},
            "files": [{"name": "config", "template": "ticket-office.toml.tmpl"}],
            "setup": [["{python}", "-m", "sut.ticket_office", "migrate", "--config", "{file.config}"]],
            "database": {"name": "tickets", "user": "tickets", "password_env": password_env},
            "release": "2.0.0",
            "bad_release": {"version": "2.0.0-bad"},
            "bad_config": {"DATABASE_HOST": "127.0.0.2"},
            "start_seconds": 2,
            **local,
        },
        "dependencies": [{"name": "postgres", "kind": "postgres"}, {"name": "redis", "kind": "redis"}],
        "endpoints": [
            {"name": "events", "path": "/v2/events", "expect": {"status": 200,
                                                               "json": [{"path": "$.data[0].event_id",
                                                                         "type": "string"}]}},
            {"name": "event", "path": "/v2/events/evt-1", "needs": ["postgres"]},
        ],
    }
    path = folder / "ticket-office.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def ecommerce(folder: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """The reference profile, changed by ``edit``, written in ``folder`` (its working directory kept)."""
    data = yaml.safe_load(DEFAULT_PROFILE.read_text())
    data["local"]["working_dir"] = os.path.relpath(DEFAULT_PROFILE.parent / data["local"]["working_dir"], folder)
    edit(data)
    path = folder / "ecommerce-backend.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
