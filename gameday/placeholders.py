"""``{name}`` placeholders: one syntax for commands, environment, configuration files, paths and journeys.

A profile is written by someone who did not write gameday, so the syntax is the one they already know from
shell-ish templating: ``{port}``, ``{postgres.dsn}``, ``{order_id}``. It is deliberately not ``str.format``: a JSON or
TOML file is full of braces, and only a brace pair around a plain dotted name is a placeholder (``{"a": 1}`` is
left alone). ``{{`` and ``}}`` stand for literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

PATTERN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)\}")


class MissingPlaceholder(KeyError):
    """A placeholder that has no value where it is rendered."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"placeholder {{{self.name}}} has no value here"


def names(text: str) -> Iterator[str]:
    """Every placeholder name in ``text``, in order (escaped braces are not placeholders)."""
    for match in PATTERN.finditer(text):
        if match.group(1):
            yield match.group(1)


def render(text: str, values: Mapping[str, Any] | Callable[[str], Any]) -> str:
    """``text`` with every placeholder replaced; raise :class:`MissingPlaceholder` for one without a value."""
    lookup = values if callable(values) else _mapping_lookup(values)

    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        return str(lookup(match.group(1)))

    return PATTERN.sub(one, text)


def render_value(value: Any, values: Mapping[str, Any] | Callable[[str], Any]) -> Any:
    """Render strings inside a JSON-like value; a string that is exactly one placeholder keeps the value's type.

    So ``{"product_id": "{product_id}"}`` sends the captured integer, not its text.
    """
    lookup = values if callable(values) else _mapping_lookup(values)
    if isinstance(value, str):
        whole = PATTERN.fullmatch(value)
        if whole and whole.group(1):
            return lookup(whole.group(1))
        return render(value, lookup)
    if isinstance(value, list):
        return [render_value(v, lookup) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, lookup) for k, v in value.items()}
    return value


def value_names(value: Any) -> Iterator[str]:
    """Every placeholder name in a JSON-like value."""
    if isinstance(value, str):
        yield from names(value)
    elif isinstance(value, list):
        for v in value:
            yield from value_names(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from value_names(v)


def _mapping_lookup(values: Mapping[str, Any]) -> Callable[[str], Any]:
    def lookup(name: str) -> Any:
        if name not in values:
            raise MissingPlaceholder(name)
        return values[name]

    return lookup
