"""The placeholders of the local section: each must name a value the local target renders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from gameday import placeholders
from gameday.dependencies import kind_of
from gameday.profile.base import LB_URL, REPLICA_PLACEHOLDERS, is_env_name
from gameday.profile.dependency import Dependency
from gameday.profile.local import Local


def local_problems(local: Local, dependencies: list[Dependency], directory: Path) -> Iterator[str]:
    """One line per placeholder of ``local`` that names nothing (templates read from ``directory``, the profile's
    folder), and per key of ``bad_config`` that is no configuration key."""
    deps = {d.name: d for d in dependencies}
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
                if not is_env_name(attr):
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
            path = directory / f.template
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
    if local.database.password_env and not is_env_name(local.database.password_env):
        yield "local.database.password_env: expected an environment variable name"

