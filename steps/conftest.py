"""Fixtures and hooks of the runbook features: which target, faults with guaranteed undo, runbook tags.

Which target:
- nothing chosen (no ``--gameday-target``, no ``GAMEDAY_TARGET``/``TARGET``): the shared local test stack of
  the root conftest (``healthy``: restored before and after each scenario). This is what ``make test`` does.
- chosen (``--gameday-target local|kubernetes`` or the environment): that target as configured
  (``GAMEDAY_STATE_DIR`` for local; context/namespace/base URL for kubernetes), judged AS FOUND: nothing is
  restored before a scenario, so the Verification feature tells the truth about a running deployment.
  Scenarios that inject faults wait for the target to be healthy first and after their undo.

Steps use only the Target interface and HTTP to ``target.base_url()``.

Tags ``@runbook:<section>:<item>`` become the marker ``runbook(section, item)`` (see features/README.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gameday.config import Settings, get_settings, use_settings
from gameday.ledger import Ledger
from gameday.state import StateDir
from gameday.targets import get_target
from gameday.targets.base import Target
from gameday.targets.model import TargetError
from gameday.verify.verdicts import Verdict
from steps.common_steps import *  # noqa: F403 - pytest-bdd step definitions are fixtures of this conftest
from steps.detection_steps import *  # noqa: F403
from steps.support import FaultScope, RunMeasurements
from steps.symptom_steps import *  # noqa: F403
from steps.verification_steps import *  # noqa: F403

TARGET_ENV = ("GAMEDAY_TARGET", "TARGET")


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--gameday-target``: run the features against a chosen target, as found."""
    group = parser.getgroup("gameday", "gameday runbook features")
    group.addoption("--gameday-target", choices=("local", "kubernetes"), default=None,
                    help="run the features against this target as found (default: the shared local test stack; "
                         "also GAMEDAY_TARGET or TARGET)")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``runbook`` marker; make sure the Cucumber JSON's directory exists."""
    config.addinivalue_line("markers", "runbook(section, item): the runbook line a scenario covers "
                                       "(from its @runbook:<section>:<item> tag)")
    path = getattr(config.option, "cucumber_json_path", None)
    if path:
        Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def pytest_bdd_apply_tag(tag: str, function: Any) -> bool | None:
    """``@runbook:verification:error-rate`` -> ``@pytest.mark.runbook("verification", "error-rate")``."""
    if tag.startswith("runbook:"):
        pytest.mark.runbook(*tag.split(":")[1:])(function)
        return True
    return None


def chosen_target(config: pytest.Config) -> str | None:
    """The target named by the option or the environment, or None (the shared test stack)."""
    option = config.getoption("--gameday-target", default=None)
    if option:
        return str(option)
    return next((os.environ[v] for v in TARGET_ENV if os.environ.get(v)), None)


@pytest.fixture(scope="session")
def as_found(pytestconfig: pytest.Config) -> bool:
    """Whether a target was chosen explicitly (judged as found) rather than the shared test stack."""
    return chosen_target(pytestconfig) is not None


@pytest.fixture(scope="session")
def verify_settings(request: pytest.FixtureRequest, as_found: bool) -> Settings:
    """The settings of the run: the root conftest's for the shared stack, else the chosen target's."""
    if not as_found:
        return request.getfixturevalue("settings")
    name = chosen_target(request.config)
    settings = get_settings()
    if settings.target != name:
        settings = use_settings(settings.model_copy(update={"target": name}))
    return settings


@pytest.fixture(scope="session")
def chosen_service(as_found: bool, verify_settings: Settings) -> Target | None:
    """The explicitly chosen target, checked reachable once (None for the shared stack)."""
    if not as_found:
        return None
    target = get_target(verify_settings)
    try:
        target.reachable()
    except TargetError as exc:
        pytest.fail(f"gameday target {verify_settings.target} is not reachable: {exc}", pytrace=False)
    return target


@pytest.fixture
def service(request: pytest.FixtureRequest, chosen_service: Target | None) -> Target:
    """The target of this scenario (the shared stack made healthy, or the chosen one as found)."""
    if chosen_service is None:
        return request.getfixturevalue("healthy")
    return chosen_service


@pytest.fixture(scope="session")
def run_measurements(verify_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> RunMeasurements:
    """Load windows of this run (the baseline before any fault, the latest healthy window)."""
    return RunMeasurements(verify_settings, tmp_path_factory.mktemp("gameday-load"))


@pytest.fixture
def fault(service: Target, verify_settings: Settings, run_measurements: RunMeasurements,
          as_found: bool) -> Iterator[FaultScope]:
    """Inject faults for one scenario; every one is undone at its end (the shared stack is then restored)."""
    ledger = Ledger(StateDir(verify_settings.state_dir).ensure().ledger)
    scope = FaultScope(service, ledger, run_measurements)
    try:
        yield scope
    finally:
        scope.close()
        if as_found and scope.names and not service.wait_healthy(timeout=60):
            pytest.fail(f"the target did not return to healthy after undoing {', '.join(scope.names)}")


@pytest.fixture
def scenario_state() -> dict[str, Any]:
    """What one step leaves for the next within a scenario."""
    return {}


@pytest.fixture
def record_verdict(request: pytest.FixtureRequest) -> Any:
    """Attach a verdict to the test report (a JUnit property) and return it."""

    def record(verdict: Verdict) -> Verdict:
        request.node.user_properties.append((f"verdict:{verdict.item or verdict.name}",
                                             json.dumps(verdict.to_dict(), default=str, ensure_ascii=False)))
        return verdict

    return record
