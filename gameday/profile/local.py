"""How the local target runs the service: its command, configuration, files, releases and processes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from gameday.profile.base import Name, StrictModel


class ConfigFile(StrictModel):
    """A file rendered for each replica before it starts (many services read a file, not the environment)."""

    name: Name = Field(description="usable as {file.<name>}: the rendered file's path")
    format: Literal["text", "json", "env"] = Field(
        "text", description="text: the template rendered; json/env: the live configuration plus `values`")
    template: str | None = Field(None, description="template file, relative to the profile (text format)")
    content: str | None = Field(None, description="inline template (text format)")
    values: dict[str, str] = Field(default_factory=dict, description="json/env: extra keys, e.g. the version")

    @model_validator(mode="after")
    def _source(self) -> ConfigFile:
        if self.format == "text" and (self.template is None) == (self.content is None):
            raise ValueError("a text file needs exactly one of template or content")
        return self


class Database(StrictModel):
    """The database, user and password the local target creates in its PostgreSQL for the service."""

    name: str = Field("app", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="database created for the service")
    user: str = Field("app", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="its owner")
    password_env: str | None = Field(
        None, description="environment variable holding the password (never written in the profile)")


class Release(StrictModel):
    """A release the failed-deployment experiment rolls out: a version plus what makes it that version."""

    version: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$",
                         description="the release's version ({version})")
    environment: dict[str, str] = Field(default_factory=dict, description="environment added for this release")
    command: list[str] | None = Field(None, description="a command replacing local.command for this release")


class Readiness(StrictModel):
    """The replicas' readiness probe, with a kubelet's meaning: a probe unanswered within ``timeout_s`` fails, and a
    replica is out of service after ``failure_threshold`` failures in a row. A service with one synchronous worker
    answers its probe only after the requests queued ahead of it: give it the timeout its readinessProbe has."""

    timeout_s: float = Field(1.0, gt=0, le=60, description="seconds a readiness probe waits (timeoutSeconds)")
    failure_threshold: int = Field(2, ge=1, le=10, description="failures in a row before a replica is not ready "
                                   "(failureThreshold)")


class BadRelease(Release):
    """The known-bad release; a service that has none gets one from the launcher: its good release, killed a while
    after it became ready (``fail_after_ready_s``), at every start: a real crash loop, no user script."""

    fail_after_ready_s: float | None = Field(
        None, gt=0, le=600, description="run the good release (local.command) and SIGKILL it this long after its "
        "readiness probe first passes, at every start (local target)")


class Process(StrictModel):
    """A process beside the web replicas: a background worker (Celery, Sidekiq) or a scheduler. Rendered like the
    replica's command (same placeholders and environment, its release's ``{version}``), supervised, and restarted
    with the release; it serves no HTTP and is no load-balancer server."""

    name: Name = Field(description="the process's name: its program is `<replica>-<name>` (per replica) or `<name>`")
    command: list[str] = Field(min_length=1, description="its command; placeholders as local.command")
    per: Literal["replica", "service"] = Field(
        "replica", description="replica: one beside each replica, in its pod (killed and frozen with it); "
        "service: one for the whole service (a scheduler)")
    environment: dict[str, str] = Field(
        default_factory=dict, description="environment added to the replica's (local.environment)")


class Local(StrictModel):
    """How the local target runs the service: N replicas under supervisor behind HAProxy."""

    command: list[str] = Field(min_length=1, description="one replica's command; {port} and {replica} differ")
    environment: dict[str, str] = Field(default_factory=dict, description="each replica's environment")
    environment_from_config: bool = Field(
        False, description="also pass every live configuration key as an environment variable")
    working_dir: str = Field(".", description="relative to the profile file")
    replicas: int = Field(3, ge=1, le=16, description="how many replicas behind the load balancer")
    config: dict[str, str] = Field(
        default_factory=dict, description="the live configuration (the ConfigMap): read by replicas at (re)start")
    files: list[ConfigFile] = Field(default_factory=list, description="files rendered for each replica")
    setup: list[list[str]] = Field(
        default_factory=list, description="commands run once after the dependencies are up (migrations)")
    start_timeout_s: float = Field(60.0, gt=0, le=600, description="seconds `gameday up` waits for a serving stack")
    start_seconds: int = Field(5, ge=0, le=120, description="a replica up this long counts as started")
    readiness: Readiness = Field(default_factory=Readiness, description="the replicas' readiness probe (the load "
                                 "balancer's health check and `gameday status` use it)")
    lb_timeout_s: float = Field(2.0, gt=0, le=300, description="the load balancer's server timeout: a request "
                                "unanswered this long gets its 504 (an ingress' proxy-read-timeout)")
    start_retries: int = Field(2, ge=0, le=20, description="restarts before it counts as crash-looping")
    database: Database = Field(default_factory=Database, description="created in the local PostgreSQL")
    release: str = Field("1.0.0", description="the version the stack starts with ({version})")
    bad_release: BadRelease | None = Field(None, description="a release that fails after passing its probes")
    slow_release: Release | None = Field(None, description="a correct but slower release (canary latency check)")
    releases: list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")]] = \
        Field(default_factory=list, description="other known-good releases (a canary refuses unknown versions)")
    bad_config: dict[str, str] = Field(
        default_factory=dict, description="configuration changes that break the service (bad-config experiment)")
    processes: list[Process] = Field(
        default_factory=list, description="processes beside the web replicas: workers, schedulers")

    @field_validator("processes")
    @classmethod
    def _distinct_processes(cls, processes: list[Process]) -> list[Process]:
        names = [p.name for p in processes]
        if len(set(names)) != len(names):
            raise ValueError("process names must be distinct")
        return processes

