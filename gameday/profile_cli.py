"""``gameday profile schema|check|releases``: the profile's JSON Schema, the profile tried against the running
service, and the releases its experiments and canaries deploy.

``check`` is what someone onboarding a service runs first: the file is validated (one line per problem, exit 2),
then every endpoint and journey is called once and every dependency is checked, each with a line saying what
passed, or what failed and why. Exit 0 only when everything passed.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import typer

from gameday import calls
from gameday.config import Settings, get_settings
from gameday.errors import GamedayError
from gameday.profile import Profile, ProfileError, missing_environment, schema, shown_path
from gameday.runbook.package import missing as missing_runbooks
from gameday.targets import get_target
from gameday.targets.model import TargetError


@dataclass(frozen=True)
class CheckLine:
    """One line of ``profile check``."""

    kind: str  # endpoint, journey, dependency, readiness
    name: str
    ok: bool
    detail: str


class ProfileCheckFailed(GamedayError):
    """Some endpoint, journey or dependency of the profile did not behave as the profile says."""

    exit_code = 1


def check_runbooks(profile: Profile) -> None:
    """Refuse (ProfileError, one line each) a profile naming a runbook package that cannot be loaded: the profile,
    the bottom layer, does not look packages up itself, so its commands check them (``profile check``, ``up``)."""
    if unfound := missing_runbooks(profile.runbooks):
        raise ProfileError([f"{shown_path(profile.source)}: {line}" for line in unfound])


def check_profile(settings: Settings) -> list[CheckLine]:
    """Validate the profile, then exercise it against the running target."""
    profile = settings.service  # raises ProfileError (one line per problem) before anything is touched
    check_runbooks(profile)
    if missing := missing_environment(profile, os.environ):
        raise ProfileError([f"{profile.source}: {line}" for line in missing])
    target = get_target(settings)
    target.reachable()
    base = target.base_url()
    lines: list[CheckLine] = []
    with calls.Client(base) as client:
        for path, kind in ((profile.service.health_path, "health"), (profile.service.readiness_path, "readiness")):
            call = client.get(path, name=kind)
            lines.append(CheckLine(kind, path, call.ok, call.describe()))
    for result in calls.exercise(profile, base)[0]:
        if isinstance(result, calls.JourneyRun):
            lines.append(CheckLine("journey", result.name, result.ok, result.describe()))
        else:
            lines.append(CheckLine("endpoint", result.name, result.ok, result.describe()))
    for dep in profile.dependencies:
        try:
            check = target.check_dependency(dep.name)
        except TargetError as exc:
            lines.append(CheckLine("dependency", dep.name, False, str(exc)))
            continue
        state = "answers" if check.ok else "does not answer"
        took = f"{check.latency_s * 1000:.0f} ms"
        detail = f"{dep.kind} {state}: {check.detail} ({check.command}, {took})"
        lines.append(CheckLine("dependency", dep.name, check.ok, detail))
    return lines


def releases(profile: Profile) -> list[tuple[str, str]]:
    """Every release version the profile's experiments and canary scenarios deploy, with its role.

    Why: a cluster can only run an image that was built and loaded into it (kind has no registry), so
    ``make kind-up`` builds exactly this list; a version missing here would be an ImagePullBackOff mid game day.
    """
    found: list[tuple[str, str]] = []
    local, kube = profile.local, profile.kubernetes
    if local is not None:
        found.append((local.release, "current"))
        found.extend((version, "good") for version in local.releases)
        if local.slow_release:
            found.append((local.slow_release.version, "slow"))
        if local.bad_release:
            found.append((local.bad_release.version, "bad"))
    if kube is not None and kube.bad_image and ":" in kube.bad_image.rsplit("/", 1)[-1]:
        found.append((kube.bad_image.rsplit(":", 1)[1], "bad"))
    seen: set[str] = set()
    return [(v, role) for v, role in found if not (v in seen or seen.add(v))]


def register(app: typer.Typer) -> None:
    """Add ``gameday profile ...``."""
    group = typer.Typer(help="The service profile: its schema, a check against the running service, its releases.",
                        no_args_is_help=True)
    app.add_typer(group, name="profile")

    @group.command("schema")
    def schema_command() -> None:
        """Print the profile's JSON Schema."""
        print(json.dumps(schema(), indent=2))

    @group.command("check")
    def check_command(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False) -> None:
        """Validate the profile, then call every endpoint and journey once and check every dependency."""
        settings = get_settings()
        lines = check_profile(settings)
        failed = [line for line in lines if not line.ok]
        if as_json:
            report: dict[str, Any] = {"profile": str(settings.service.source), "ok": not failed,
                                      "checks": [asdict(line) for line in lines]}
            print(json.dumps(report, indent=2))
        else:
            for line in lines:
                print(f"{'ok  ' if line.ok else 'FAIL'} {line.kind:<10} {line.name:<20} {line.detail}")
            print(f"profile {settings.service.service.name}: {len(lines) - len(failed)}/{len(lines)} checks passed")
        if failed:
            raise ProfileCheckFailed(f"profile check failed: {', '.join(f'{f.kind} {f.name}' for f in failed)}")

    @group.command("releases")
    def releases_command(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False) -> None:
        """Print every release version the experiments and canary scenarios deploy (one per line: version, role)."""
        found = releases(get_settings().service)
        if as_json:
            print(json.dumps([{"version": v, "role": role} for v, role in found], indent=2))
        else:
            for version, role in found:
                print(f"{version}\t{role}")
