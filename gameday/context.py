"""One run context, built once by the CLI and handed down: the settings, the service profile, the runbook followed,
the state directory and the target.

Lower layers never read the settings from a global: the CLI builds a :class:`RunContext` (``from_settings``) and
passes it, or its parts, down. chaostoolkit activities receive it the way chaostoolkit-lib intends, through the
experiment's ``configuration``: the runner puts :meth:`RunContext.configuration` into it, chaostoolkit hands it to
every activity that declares a ``configuration`` argument, and the activity rebuilds the context with
:meth:`RunContext.from_configuration`. An experiment run by plain ``chaos run`` carries no gameday settings: its
activities load them as any gameday command does (environment, ``GAMEDAY_CONFIG``, defaults).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from gameday.config import Settings
from gameday.profile import Profile
from gameday.runbook.package import Runbook, find
from gameday.targets import get_target
from gameday.targets.base import Target

RUNBOOK_KEY = "gameday_runbook"  # the experiment's configuration key naming its runbook package
SETTINGS_KEY = "gameday_settings"  # the run's settings, as the runner hands them to the activities
# the load a game day keeps the service under, as its experiments' steady state may read it: {"timeline": its
# per-second file, "baseline_p95_ms"/"baseline_spread_ms": that load's before any fault, "burst_p95_ms"/
# "burst_spread_ms": the steady state's own burst's before any fault}
LOAD_KEY = "gameday_load"
# left out of what an experiment's configuration carries (the journal keeps a copy of it): the history store's URL
# may hold a password, and no activity reads it
NOT_HANDED_DOWN = frozenset({"history"})


@dataclass(frozen=True)
class RunContext:
    """What one command (or one experiment run) works with; immutable, its target and runbook built once, on use."""

    settings: Settings
    runbook_name: str

    @classmethod
    def from_settings(cls, settings: Settings, runbook: str | None = None) -> RunContext:
        """The context of ``settings``, following ``runbook`` (default: the profile's first runbook)."""
        return cls(settings, runbook or settings.service.runbook)

    @classmethod
    def from_configuration(cls, configuration: Mapping[str, Any] | None) -> RunContext:
        """The context an activity was handed in chaostoolkit's ``configuration``: the runner's settings, else (an
        experiment run by plain ``chaos run``) the settings loaded from the environment; the runbook the experiment
        names, else the profile's."""
        configuration = configuration or {}
        handed = configuration.get(SETTINGS_KEY)
        settings = Settings(**handed) if isinstance(handed, Mapping) else Settings()
        runbook = configuration.get(RUNBOOK_KEY)
        return cls.from_settings(settings, str(runbook) if runbook else None)

    def configuration(self) -> dict[str, Any]:
        """What an experiment's chaostoolkit ``configuration`` carries so that its activities rebuild this context."""
        return {SETTINGS_KEY: self.settings.model_dump(mode="json", exclude=set(NOT_HANDED_DOWN)),
                RUNBOOK_KEY: self.runbook_name}

    @property
    def profile(self) -> Profile:
        """The service profile (the settings' own)."""
        return self.settings.service

    @property
    def state_dir(self) -> Path:
        """Where the local target's runtime state lives."""
        return self.settings.state_dir

    @cached_property
    def target(self) -> Target:
        """The configured target, built once for this context."""
        return get_target(self.settings)

    @cached_property
    def runbook(self) -> Runbook:
        """The runbook package followed, loaded once for this context."""
        return find(self.runbook_name)

    def for_thread(self) -> RunContext:
        """This context for another thread: the same settings (the profile loaded once) and, when loaded, the same
        runbook package; a target of its own, built on use (a target's clients are not shared across threads)."""
        twin = RunContext(self.settings, self.runbook_name)
        if "runbook" in self.__dict__:  # where cached_property keeps what it loaded
            twin.__dict__["runbook"] = self.__dict__["runbook"]
        return twin
