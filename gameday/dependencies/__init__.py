"""Dependency kinds: how to address, check and describe a postgres, a redis, a kafka, an http or a tcp dependency.

One module per kind, each registering itself (the way krkn finds its scenario plugins by walking a package): a new
kind is one new module here. The targets (to start, stop and hang one), the diagnosis (the runbook's step 3) and the
profile (which placeholders a kind offers) all come here; nothing else names a kind.
"""

from __future__ import annotations

import importlib
import pkgutil

from gameday.dependencies.base import KINDS, Address, DependencyCheck, DependencyKind, kind_for_program, kind_of

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["KINDS", "Address", "DependencyCheck", "DependencyKind", "kind_for_program", "kind_of"]
