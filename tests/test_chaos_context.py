"""The run's context as chaos activities get it: built once per run and thread from the configuration chaostoolkit
hands them (settings, profile and runbook shared by the threads, a target per thread), built again for a new run or
an edited profile file, and loaded from the environment each time for a plain ``chaos run``."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from gameday.chaos.context import forget_contexts, run_context
from gameday.chaos.probe_state import reset_run_state
from gameday.config import Settings
from gameday.context import RunContext
from gameday.profile import DEFAULT_PROFILE


def _configuration(tmp_path: Path) -> tuple[dict[str, object], Path]:
    profile = tmp_path / "profile.yaml"
    shutil.copy(DEFAULT_PROFILE, profile)
    settings = Settings(profile=profile, state_dir=tmp_path / "state")
    return RunContext.from_settings(settings).configuration(), profile


def _in_a_thread(configuration: dict[str, object]) -> RunContext:
    got: list[RunContext] = []
    thread = threading.Thread(target=lambda: got.append(run_context(configuration)))
    thread.start()
    thread.join()
    return got[0]


def test_one_run_builds_its_context_once_per_thread(tmp_path: Path) -> None:
    configuration, _ = _configuration(tmp_path)
    forget_contexts()
    first = run_context(configuration)
    assert run_context(configuration) is first
    assert run_context(configuration).target is first.target  # the target too, in this thread
    other = _in_a_thread(configuration)
    assert other is not first and other.target is not first.target  # a target's clients stay in their thread
    assert other.settings is first.settings and other.profile is first.profile  # parsed once, shared
    assert other.runbook is first.runbook


def test_a_new_run_or_an_edited_profile_builds_it_again(tmp_path: Path) -> None:
    configuration, profile = _configuration(tmp_path)
    forget_contexts()
    first = run_context(configuration)
    reset_run_state()  # what the runner does at the start of every run
    second = run_context(configuration)
    assert second is not first and second.settings is not first.settings
    assert _in_a_thread(configuration).settings is second.settings
    profile.write_text(profile.read_text().replace("name: ecommerce-backend", "name: edited-backend", 1))
    stat = profile.stat()
    os.utime(profile, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a later version of the file
    edited = run_context(configuration)
    assert edited is not second and edited.profile.service.name == "edited-backend"


def test_without_the_runs_settings_the_context_is_loaded_each_time(tmp_path: Path) -> None:
    forget_contexts()
    assert run_context(None) is not run_context(None)  # plain chaos run: the environment, read each time
    assert run_context({"gameday_runbook": "service-outage"}) is not run_context({"gameday_runbook": "service-outage"})
