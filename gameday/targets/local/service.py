"""The service's replicas as the profile's ``local`` section describes them: placeholders, files, commands, setup.

Rendering happens in two stages, the way a Deployment and its ConfigMap work:

- at ``up`` the live configuration (``local.config``) is rendered once, since the dependencies' addresses are known
  then. Placeholders that differ per replica (``{port}``, ``{replica}``, ``{version}``, ``{file.NAME}``) and those
  whose value carries the database password are left as they are, so the stored configuration (what ``status``,
  the ledger and the bad-config fault see) never holds the secret;
- at every (re)start of a replica, its files, environment and command are rendered with everything and written into
  ``<state>/replicas/<replica>/`` (mode 0600); the replica's program (:mod:`.launch`) runs what is written there,
  so a release that changes the command or the environment needs no change of supervisor's configuration.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from gameday import placeholders
from gameday.dependencies import Address, kind_of
from gameday.profile import LB_URL, BadRelease, ConfigFile, Local, Process, Profile, Release
from gameday.state import StateDir, read_json
from gameday.targets.local.password import SECRET_FILE, redact, write_private
from gameday.targets.model import NotApplicableError, TargetError

LAUNCHER = Path(__file__).resolve().with_name("launch.py")
RUNNABLE_KINDS = ("postgres", "redis", "kafka")  # the dependency kinds the local target can run itself
# the local stack's own programs and folders, which a dependency the stack runs must not be named like
RESERVED_NAMES = frozenset({"load-balancer", "haproxy-metrics", "prometheus", "alertmanager", "blackbox",
                            "alert-receiver", "haproxy", "monitoring", "logs", "replicas", "rollout", "service",
                            "setup", "fault-proxy"})
SETUP = "setup"  # the name setup commands are rendered under ({replica}, their files' folder)
FAULT_PROXY = "fault-proxy"  # the fault proxy's program, and its API port's name among the stack's ports


def proxy_port_name(dependency: str) -> str:
    """The name, among the stack's ports, of the fault proxy's listen port for ``dependency``."""
    return f"{FAULT_PROXY}:{dependency}"
SETUP_PORT_OF = "replica-0"  # setup's {port} is the first replica's (a migration listens on nothing)
_TEMPLATE_SUFFIXES = (".tmpl", ".template", ".in", ".j2")


def local_of(profile: Profile) -> Local:
    """The profile's ``local`` section, or one clear line saying the local target needs it."""
    if profile.local is None:
        raise TargetError(f"{profile.source}: has no local section: the local target needs one (command, ...)")
    return profile.local


def runnable(profile: Profile) -> list[str]:
    """The dependencies the local target starts: those with no address; refuse kinds it cannot run."""
    names = []
    for dep in profile.dependencies:
        if not dep.provided:
            continue
        if dep.name in RESERVED_NAMES or dep.name.startswith("replica-"):
            raise TargetError(f"dependency {dep.name!r}: the local target names one of its own programs so; "
                              "rename the dependency")
        if dep.kind not in RUNNABLE_KINDS:
            raise TargetError(f"dependency {dep.name!r} ({dep.kind}) has no address, and the local target runs only "
                              f"{', '.join(RUNNABLE_KINDS)}: give it an address (host:port)")
        names.append(dep.name)
    return names


def bad_release(profile: Profile) -> str:
    """The known-bad release's version, or a line saying the failed-deployment fault does not apply."""
    local = local_of(profile)
    if local.bad_release is None:
        raise NotApplicableError(f"{profile.service.name}'s profile has no local.bad_release: "
                                 "a failed deployment does not apply")
    return local.bad_release.version


def broken_config(profile: Profile) -> dict[str, str]:
    """The configuration change that breaks the service, or a line saying bad config does not apply."""
    local = local_of(profile)
    if not local.bad_config:
        raise NotApplicableError(f"{profile.service.name}'s profile has no local.bad_config: "
                                 "a bad configuration does not apply")
    return dict(local.bad_config)


def database_password(profile: Profile, state: StateDir) -> str:
    """The database password: from ``local.database.password_env`` at ``up``, then from the state dir (0600)."""
    env = local_of(profile).database.password_env
    if not env:
        return ""
    if env in os.environ:
        return os.environ[env]
    saved = read_json(state.path(*SECRET_FILE))
    if isinstance(saved, dict) and isinstance(saved.get("password"), str):
        return saved["password"]
    raise TargetError(f"local.database.password_env: the environment variable {env} is not set")


def file_name(spec: ConfigFile) -> str:
    """The rendered file's name: by format, or the template's own name without its template suffix."""
    if spec.format == "json":
        return f"{spec.name}.json"
    if spec.format == "env":
        return f"{spec.name}.env"
    if spec.template:
        name = Path(spec.template).name
        for suffix in _TEMPLATE_SUFFIXES:
            name = name.removesuffix(suffix)
        return name
    return spec.name


def _env_line(key: str, value: str) -> str:
    plain = all(c.isalnum() or c in "._-/:@,+=%" for c in value)
    return f"{key}={value}" if plain else f"{key}={json.dumps(value)}"


@dataclass(frozen=True)
class ReplicaSpec:
    """What one replica runs: written at each (re)start and executed by the launcher."""

    command: list[str]
    environment: dict[str, str]
    directory: str
    shown: str = ""  # the command as its log shows it: rendered, secrets masked (the launcher prints it)
    # a failing release made by the launcher (local.bad_release.fail_after_ready_s): it runs the command as its
    # child, and SIGKILLs its process group this long after ``ready_url`` first answers 200
    fail_after_ready_s: float | None = None
    ready_url: str | None = None


@dataclass
class Service:
    """The profile's service on one local stack: its placeholders, live configuration, replicas and setup."""

    profile: Profile
    state: StateDir
    ports: dict[str, int]  # component name -> port: replicas by name, provided dependencies by their name
    python: str
    password: str = ""

    @cached_property
    def local(self) -> Local:
        """The profile's ``local`` section."""
        return local_of(self.profile)

    @cached_property
    def working_dir(self) -> Path:
        """Where replicas and setup commands run: ``local.working_dir``, relative to the profile file."""
        return (self.profile.directory / self.local.working_dir).resolve()

    # --- placeholders ------------------------------------------------------------------------------------
    def addresses(self, direct: bool = False) -> dict[str, Address]:
        """Where each dependency answers for the replicas: the fault proxy's listen address for it when the stack
        runs the proxy (every placeholder, so every replica's connection, goes through it), else, or ``direct``,
        the dependency itself: on the stack's port when provided, else at its ``address``."""
        db = self.local.database
        out = {}
        for dep in self.profile.dependencies:
            if not direct and proxy_port_name(dep.name) in self.ports:
                host, port = "127.0.0.1", self.ports[proxy_port_name(dep.name)]
            elif dep.provided:
                host, port = "127.0.0.1", self.ports[dep.name]
            else:
                assert dep.address is not None
                where, _, number = dep.address.rpartition(":")
                host, port = where, int(number)
            if dep.kind == "postgres":
                out[dep.name] = Address(host, port, db.name, db.user, self.password, dep.health_path)
            else:
                out[dep.name] = Address(host, port, path=dep.health_path)
        return out

    def proxy_config(self) -> list[dict[str, Any]]:
        """The fault proxy's proxies (``POST /populate``'s list): one per dependency, named like it, from its
        stack port to the dependency itself."""
        upstreams = self.addresses(direct=True)
        return [{"name": dep.name, "listen": f"127.0.0.1:{self.ports[proxy_port_name(dep.name)]}",
                 "upstream": f"{upstreams[dep.name].host}:{upstreams[dep.name].port}", "enabled": True}
                for dep in self.profile.dependencies if proxy_port_name(dep.name) in self.ports]

    @cached_property
    def stack_values(self) -> dict[str, str]:
        """The placeholders that are the same for every replica."""
        db = self.local.database
        values = {
            "python": self.python,
            "profile_dir": str(self.profile.directory),
            "state_dir": str(self.state.root),
            "service": self.profile.service.name,
            "database.name": db.name,
            "database.user": db.user,
            "database.password": self.password,
        }
        if "load-balancer" in self.ports:  # {lb.url}: the public address, for services that write absolute links
            values[LB_URL] = f"http://127.0.0.1:{self.ports['load-balancer']}"
        addresses = self.addresses()
        for dep in self.profile.dependencies:
            for attr, value in kind_of(dep.kind).placeholders(addresses[dep.name]).items():
                values[f"{dep.name}.{attr}"] = value
        return values

    def live_config(self) -> dict[str, str]:
        """``local.config`` rendered at ``up``: per-replica and secret-bearing placeholders are kept for later."""

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            value = self.stack_values.get(name) if name else None
            if value is None or (self.password and self.password in value):
                return match.group(0)  # an escaped brace, a per-replica value or a secret: rendered at start
            return value.replace("{", "{{").replace("}", "}}")

        return {key: placeholders.PATTERN.sub(fill, value) for key, value in self.local.config.items()}

    def _lookup(self, replica: str, version: str, config: dict[str, str], files: dict[str, Path]) -> Any:
        def config_value(key: str) -> str:
            if key not in config:
                raise placeholders.MissingPlaceholder(f"config.{key}")
            return placeholders.render(config[key], base)

        def base(name: str) -> str:
            head, _, attr = name.partition(".")
            if name == "port":
                return str(self.ports.get(replica, self.ports.get(SETUP_PORT_OF, 0)))
            if name == "replica":
                return replica
            if name == "version":
                return version
            if head == "file" and attr in files:
                return str(files[attr])
            if name in self.stack_values:
                return self.stack_values[name]
            if head == "env":  # the one way: remembered as a secret, masked wherever it is shown
                return placeholders.env_value(attr, os.environ)
            raise placeholders.MissingPlaceholder(name)

        def lookup(name: str) -> str:
            head, _, attr = name.partition(".")
            return config_value(attr) if head == "config" else base(name)

        return lookup

    # --- releases ----------------------------------------------------------------------------------------
    def release(self, version: str) -> Release | None:
        """The profile's bad or slow release of this version, if it is one of them."""
        for release in (self.local.bad_release, self.local.slow_release):
            if release is not None and release.version == version:
                return release
        return None

    # --- one replica -------------------------------------------------------------------------------------
    def replica_dir(self, replica: str) -> Path:
        """Where a replica's rendered files and spec live."""
        return self.state.subdir("replicas", replica)

    def spec_path(self, replica: str) -> Path:
        """The replica's spec, read by its launcher at every start."""
        return self.state.path("replicas", replica, "spec.json")

    def render_replica(self, replica: str, version: str, config: dict[str, str]) -> ReplicaSpec:
        """Render the replica's files into its folder and return what it runs (the live ``config``, ``version``)."""
        folder = self.replica_dir(replica)
        files = {f.name: folder / file_name(f) for f in self.local.files}
        lookup = self._lookup(replica, version, config, files)
        rendered_config = {key: _render(f"local.config.{key}", value, lookup) for key, value in config.items()}
        for spec in self.local.files:
            write_private(files[spec.name], self._file_text(spec, rendered_config, lookup))
        release = self.release(version)
        command = list(release.command) if release is not None and release.command else list(self.local.command)
        environment = dict(self.local.environment)
        if release is not None:
            environment.update(release.environment)
        env = dict(rendered_config) if self.local.environment_from_config else {}
        env.update({key: _render(f"local.environment.{key}", value, lookup) for key, value in environment.items()})
        argv = [_render(f"local.command[{i}]", part, lookup) for i, part in enumerate(command)]
        fail_after = release.fail_after_ready_s if isinstance(release, BadRelease) else None
        ready_url = f"http://127.0.0.1:{lookup('port')}{self.profile.service.readiness_path}" if fail_after else None
        return ReplicaSpec(command=argv, environment=env, directory=str(self.working_dir), shown=self.shown(argv),
                           fail_after_ready_s=fail_after, ready_url=ready_url)

    def shown(self, argv: list[str]) -> str:
        """A rendered command for a log: ``{env.NAME}`` values and the database password masked."""
        return redact(placeholders.mask(shlex.join(argv)), self.password)

    def _file_text(self, spec: ConfigFile, config: dict[str, str], lookup: Any) -> str:
        where = f"local.files ({spec.name})"
        if spec.format in ("json", "env"):
            data = {**config, **{k: _render(f"{where}.values.{k}", v, lookup) for k, v in spec.values.items()}}
            if spec.format == "json":
                return json.dumps(data, indent=2) + "\n"
            return "".join(_env_line(k, v) + "\n" for k, v in data.items())
        if spec.content is not None:
            return _render(f"{where}.content", spec.content, lookup)
        assert spec.template is not None
        path = self.profile.directory / spec.template
        try:
            text = path.read_text()
        except OSError as exc:
            raise TargetError(f"{where}.template: cannot read {path}: {exc.strerror or exc}") from None
        return _render(f"{where}.template", text, lookup)

    def write_replica(self, replica: str, version: str, config: dict[str, str]) -> Path:
        """Render a replica for its next start; the launcher reads the returned spec file."""
        spec = self.render_replica(replica, version, config)
        path = self.spec_path(replica)
        write_private(path, json.dumps(asdict(spec), indent=2) + "\n")
        for process in self.local.processes:  # its pod's other processes run the same release (a worker)
            if process.per == "replica":
                self.write_process(process, replica, version, config)
        return path

    # --- processes beside the replicas (local.processes) ---------------------------------------------------
    def process_programs(self, replicas: list[str]) -> list[tuple[str, Process, str | None]]:
        """(program name, process, the replica whose pod holds it, or None for one per service) of every
        ``local.processes`` entry: ``replica-0-worker`` beside each replica, ``scheduler`` once."""
        out: list[tuple[str, Process, str | None]] = []
        for process in self.local.processes:
            if process.per == "service":
                out.append((process.name, process, None))
            else:
                out += [(f"{replica}-{process.name}", process, replica) for replica in replicas]
        return out

    def process_spec_path(self, process: Process, replica: str | None) -> Path:
        """A process's spec: in its replica's folder (per replica), else in a folder of its own."""
        if replica is None:
            return self.state.path("replicas", process.name, "spec.json")
        return self.state.path("replicas", replica, f"{process.name}.json")

    def write_process(self, process: Process, replica: str | None, version: str, config: dict[str, str]) -> Path:
        """Render a process for its next start as its replica is rendered (that replica's ``{port}``, files and
        environment; one per service is rendered as a replica named after it), with its own command."""
        rendered_as = replica or process.name
        base = self.render_replica(rendered_as, version, config)
        files = {f.name: self.replica_dir(rendered_as) / file_name(f) for f in self.local.files}
        lookup = self._lookup(rendered_as, version, config, files)
        where = f"local.processes ({process.name})"
        env = {**base.environment,
               **{k: _render(f"{where}.environment.{k}", v, lookup) for k, v in process.environment.items()}}
        argv = [_render(f"{where}.command[{i}]", part, lookup) for i, part in enumerate(process.command)]
        spec = ReplicaSpec(command=argv, environment=env, directory=base.directory, shown=self.shown(argv))
        path = self.process_spec_path(process, replica)
        write_private(path, json.dumps(asdict(spec), indent=2) + "\n")
        return path

    def launcher(self, replica: str, spec: Path | None = None) -> list[str]:
        """The replica's program (or a process's, by its ``spec``): the launcher, running whatever the spec says
        at each start."""
        spec = spec or self.spec_path(replica)
        return [self.python, "-I", "-S", str(LAUNCHER), str(spec)]  # no site: a fast start

    # --- setup -------------------------------------------------------------------------------------------
    def run_setup(self, config: dict[str, str], environment: dict[str, str], timeout: float) -> None:
        """Run ``local.setup`` in order (migrations), all within ``timeout``; one clear line (never the password)
        when one fails. Rendered like a replica named ``setup`` (its files in ``replicas/setup/``)."""
        if not self.local.setup:
            return
        spec = self.render_replica(SETUP, self.local.release, config)
        lookup = self._lookup(SETUP, self.local.release, config, {f.name: self.replica_dir(SETUP) / file_name(f)
                                                                   for f in self.local.files})
        env = {**os.environ, **environment, **spec.environment}
        log = self.state.logs / "setup.log"
        deadline = time.monotonic() + timeout
        with log.open("a") as out:
            for i, command in enumerate(self.local.setup):
                argv = [_render(f"local.setup[{i}][{k}]", part, lookup) for k, part in enumerate(command)]
                shown = " ".join(command)  # the error line names the profile's command as written
                try:
                    done = subprocess.run(argv, cwd=spec.directory, env=env, capture_output=True, text=True,
                                          timeout=max(0.1, deadline - time.monotonic()), check=False)
                except FileNotFoundError:
                    raise TargetError(f"setup command {i + 1} ({shown}): {argv[0]!r} not found") from None
                except subprocess.TimeoutExpired:
                    raise TargetError(f"setup command {i + 1} ({shown}) did not finish within {timeout:.0f}s "
                                      f"(log: {log})") from None
                text = redact(placeholders.mask(done.stdout + done.stderr), self.password)
                out.write(f"$ {self.shown(argv)}\n{text}")  # as it ran: a failing migration is debugged from it
                if done.returncode != 0:
                    last = next((line for line in reversed(text.splitlines()) if line.strip()), "no output")
                    raise TargetError(f"setup command {i + 1} ({shown}) failed with exit {done.returncode}: "
                                      f"{last.strip()[:300]} (log: {log})")


def _render(where: str, text: str, lookup: Any) -> str:
    try:
        return placeholders.render(text, lookup)
    except placeholders.MissingPlaceholder as exc:
        raise TargetError(f"{where}: {exc}") from None
