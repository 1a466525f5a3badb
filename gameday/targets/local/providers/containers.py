"""The containers provider: PostgreSQL, Redis and a Kafka broker as Docker containers, through testcontainers.

For machines with a Docker engine and without Debian's binaries (macOS, other Linux, CI runners). Every
container runs with host networking and listens on 127.0.0.1 on the port the stack allocated, so the service,
the probes and the faults see the same addresses as with the native provider; no bridge address is ever used.

The containers outlive the ``gameday up`` process (testcontainers' reaper, Ryuk, is turned off: it would remove
them when that process exits) and are found again by their labels, which carry the stack's state directory:
``gameday down``, ``gameday abort`` and the next ``gameday up`` act on them even after a SIGKILL.
"""

from __future__ import annotations

import hashlib
import os
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from gameday.config import Settings
from gameday.state import StateDir
from gameday.targets.local.programs import StackContext, free_port
from gameday.targets.local.providers.base import DependencyProvider, record, write_record
from gameday.targets.model import DependencyState, TargetError
from gameday.targets.probes import tcp_open

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container
    from testcontainers.core.container import DockerContainer

LABEL_STACK = "gameday.stack"  # the stack's state directory
LABEL_DEPENDENCY = "gameday.dependency"  # the dependency's name in the profile
READY_TIMEOUT = 90.0


def _client_kwargs(docker_host: str | None) -> dict[str, Any]:
    return {"environment": {"DOCKER_HOST": docker_host}} if docker_host else {}


def docker_client(docker_host: str | None) -> docker.DockerClient:
    """The Docker SDK client testcontainers uses, for ``docker_host`` (else DOCKER_HOST / the default socket)."""
    import docker.errors
    from testcontainers.core.docker_client import DockerClient

    try:
        return DockerClient(**_client_kwargs(docker_host)).client
    except docker.errors.DockerException as exc:
        where = docker_host or os.environ.get("DOCKER_HOST") or "the default socket"
        raise TargetError(f"Docker engine not answering at {where}: {_first_line(exc)}") from exc


def engine_error(docker_host: str | None) -> str | None:
    """None when a Docker engine answers, else one line saying why not."""
    try:
        docker_client(docker_host).ping()
    except TargetError as exc:
        return str(exc)
    except Exception as exc:  # the SDK raises requests' and its own errors alike
        return f"Docker engine not answering: {_first_line(exc)}"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _name_prefix(state: StateDir) -> str:
    """Container names unique per stack: several stacks (state dirs) share one engine."""
    return "gameday-" + hashlib.sha256(str(state.root).encode()).hexdigest()[:8]


class ContainersProvider(DependencyProvider):
    """Dependencies as containers: stop/start the same container, hang = ``docker pause``."""

    kind = "containers"
    hang_how = "docker pause"
    release_how = "docker unpause"

    def __init__(self, state: StateDir, docker_host: str | None, images: dict[str, str]) -> None:
        super().__init__(state)
        self.docker_host = docker_host
        self.images = images

    @classmethod
    def create(cls, state: StateDir, settings: Settings) -> ContainersProvider:
        """A provider for a new stack, from the settings."""
        host = settings.local.docker_host or os.environ.get("DOCKER_HOST")
        return cls(state, host, settings.local.images.model_dump())

    @classmethod
    def from_record(cls, state: StateDir) -> ContainersProvider:
        """The provider of a running (or killed) stack, as ``gameday up`` recorded it."""
        data = record(state)
        return cls(state, data.get("docker_host"), data.get("images") or {})

    # --- the engine -----------------------------------------------------------------------------
    @cached_property
    def client(self) -> docker.DockerClient:
        """One connection to the engine for this provider's commands."""
        return docker_client(self.docker_host)

    def _labels(self, name: str) -> dict[str, str]:
        return {LABEL_STACK: str(self.state.root), LABEL_DEPENDENCY: name}

    def containers(self) -> list[Container]:
        """Every container of this stack, found by label (running, paused or stopped)."""
        return self.client.containers.list(all=True, filters={"label": f"{LABEL_STACK}={self.state.root}"})

    def _container(self, name: str) -> Container:
        found = [c for c in self.containers() if c.labels.get(LABEL_DEPENDENCY) == name]
        if not found:
            raise TargetError(f"no {name} container for this stack: run 'gameday up'")
        return found[0]

    # --- start ----------------------------------------------------------------------------------
    def _spec(self, ctx: StackContext, name: str, kind: str) -> DockerContainer:
        """The container of one dependency, with the official images' interface (the local ones speak it too)."""
        from testcontainers.community.postgres import PostgresContainer
        from testcontainers.core.container import DockerContainer

        common: dict[str, Any] = {
            "docker_client_kw": _client_kwargs(self.docker_host),
            "name": f"{_name_prefix(self.state)}-{name}",
            "labels": self._labels(name),
            "network_mode": "host",  # listens on 127.0.0.1:port itself; never a bridge address
        }
        image = self.images[kind]
        port = ctx.ports[name]
        if kind == "postgres":
            database = ctx.service.local.database
            pg = PostgresContainer(
                # trust authentication as natively; the profile's password (if any) is set on the role all the same
                image, port=port, username=database.user, password=ctx.service.password or "unused",
                dbname=database.name, driver=None,
                command=[
                    "postgres", "-p", str(port), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                    "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
                ],
                stop_signal="SIGINT",  # fast shutdown, as the native program: smart shutdown waits for the pool
                **common,
            )
            pg.ports.clear()  # nothing to publish with host networking
            # PGPORT: the server's and the readiness check's (psql inside the container) port; trust as natively
            return pg.with_envs(PGPORT=str(port), POSTGRES_HOST_AUTH_METHOD="trust")
        if kind == "redis":
            return DockerContainer(
                image,
                command=[
                    "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--protected-mode", "no",
                ],
                **common,
            )
        controller = free_port()
        return DockerContainer(image, **common).with_envs(
            # the official apache/kafka image's variables (KRaft, one node); the local Tansu image reads the
            # PLAINTEXT listeners
            KAFKA_NODE_ID="1",
            KAFKA_PROCESS_ROLES="broker,controller",
            KAFKA_LISTENERS=f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            KAFKA_ADVERTISED_LISTENERS=f"PLAINTEXT://127.0.0.1:{port}",
            KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
            KAFKA_LISTENER_SECURITY_PROTOCOL_MAP="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            KAFKA_CONTROLLER_QUORUM_VOTERS=f"1@127.0.0.1:{controller}",
            KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1",
            KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
            KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
            KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS="0",
        )

    def start_all(self, ctx: StackContext) -> None:
        from testcontainers.core.config import testcontainers_config

        # the containers must outlive this process: cleanup is by label, never by the reaper
        testcontainers_config.ryuk_disabled = True
        engine = engine_error(self.docker_host)
        if engine:
            raise TargetError(engine)
        write_record(self.state, {"provider": self.kind, "docker_host": self.docker_host, "images": self.images})
        self.teardown()
        wanted = ctx.dependencies  # name -> kind, those the stack runs itself
        unsupported = sorted(kind for kind in wanted.values() if kind not in self.images)
        if unsupported:
            raise TargetError(f"the containers provider runs postgres, redis and kafka, not {unsupported[0]}")
        for image in sorted({self.images[kind] for kind in wanted.values()}):
            self._ensure_image(image)
        for name, kind in wanted.items():
            self._spec(ctx, name, kind).start()
        deadline = time.monotonic() + READY_TIMEOUT
        for name in wanted:
            self._wait_listening(name, ctx.ports[name], deadline)

    def _ensure_image(self, image: str) -> None:
        """The image in the engine: pulled when missing, or one line on what to do where no registry answers."""
        import docker.errors

        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            try:
                self.client.images.pull(image)
            except docker.errors.DockerException as exc:
                raise TargetError(
                    f"image {image} is not in the Docker engine and pulling it failed ({_first_line(exc)}): "
                    "without a registry, build local images (scripts/build-images.sh) and set local.images"
                ) from exc

    def _wait_listening(self, name: str, port: int, deadline: float) -> None:
        while not tcp_open(port):
            container = self._container(name)
            if container.status in ("exited", "dead") or time.monotonic() > deadline:
                tail = container.logs(tail=5).decode(errors="replace").strip().replace("\n", " | ")
                raise TargetError(f"{name} container ({container.image.tags}) not listening on {port}: {tail}")
            time.sleep(0.1)  # poll

    def start_stopped(self) -> None:
        for container in self.containers():
            if container.status in ("created", "exited"):
                container.start()

    # --- faults ---------------------------------------------------------------------------------
    def stop(self, name: str) -> None:
        container = self._container(name)
        if container.status == "paused":
            container.unpause()  # a frozen process cannot shut down
        container.stop(timeout=10)

    def start(self, name: str) -> None:
        container = self._container(name)
        if container.status == "paused":
            container.unpause()
        elif container.status != "running":
            container.start()

    def hang(self, name: str) -> bool:
        container = self._container(name)
        if container.status != "running":
            return False
        container.pause()
        return True

    def release(self, name: str) -> bool:
        container = self._container(name)
        if container.status != "paused":
            return False
        container.unpause()
        return True

    def state_of(self, name: str, address: str) -> DependencyState:
        try:
            container = self._container(name)
        except TargetError:
            return DependencyState(name, "stopped", address)
        state = {"running": "running", "paused": "frozen", "restarting": "running"}.get(container.status, "stopped")
        pid = container.attrs.get("State", {}).get("Pid") or None
        image = (container.image.tags or [container.attrs.get("Config", {}).get("Image", "")])[0]
        return DependencyState(name, state, address, pid, container=container.short_id, image=image)

    # --- cleanup --------------------------------------------------------------------------------
    def teardown(self) -> list[str]:
        removed = []
        for container in self.containers():
            container.remove(force=True, v=True)  # paused or running: killed; its anonymous volumes go too
            removed.append(container.name)
        return removed
