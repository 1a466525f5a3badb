"""The strings the profile renders and the environment variables they need (``{env.NAME}``), checked before
anything starts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from gameday import placeholders
from gameday.profile.model import Profile
from gameday.profile.traffic import Request


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

