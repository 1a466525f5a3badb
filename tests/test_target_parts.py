"""The targets are cut by resource: each a composition of parts. (That neither imports the other and that no module
is over 400 lines are checked for the whole package by tests/test_layers.py: the import-linter contracts.)"""

from __future__ import annotations

import inspect

import pytest

from gameday.targets.base import Target
from gameday.targets.kubernetes.target import KubernetesTarget
from gameday.targets.local.target import LocalTarget

MAX_METHODS = 25


@pytest.mark.parametrize("target", [LocalTarget, KubernetesTarget], ids=lambda t: t.__name__)
def test_a_target_is_its_parts(target: type[Target]) -> None:
    """Every operation of the interface is implemented by a part; no class of the target is over the size limit, and
    the target class itself only composes (its status aside)."""
    assert not target.__abstractmethods__
    parts = [c for c in target.__mro__ if c.__module__.startswith(target.__module__.rsplit(".", 1)[0])]
    assert len(parts) >= 7  # the core, replicas, rollouts, configuration, dependencies, network, canary
    for part in [*parts, *Target.__mro__]:
        methods = [name for name, value in vars(part).items() if inspect.isfunction(value)
                   or isinstance(value, property | staticmethod | classmethod)]
        assert len(methods) <= MAX_METHODS, (part.__name__, len(methods))

