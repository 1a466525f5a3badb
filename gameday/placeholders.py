"""``{name}`` placeholders: one syntax for commands, environment, configuration files, paths and journeys.

A profile is written by someone who did not write gameday, so the syntax is the one they already know from
shell-ish templating: ``{port}``, ``{postgres.dsn}``, ``{order_id}``. It is deliberately not ``str.format``: a JSON or
TOML file is full of braces, and only a brace pair around a plain dotted name is a placeholder (``{"a": 1}`` is
left alone). ``{{`` and ``}}`` stand for literal braces.

``{env.NAME}`` is a secret (a token, a key): its value is sent, never printed or stored. :func:`env_value` is the
one way to render it, and it remembers the value in :data:`SECRETS`, the one place that knows the secrets of this
process; :func:`mask` and :func:`mask_value` replace them with ``***`` where text leaves gameday (a call's
description, the journal, the report, the history), wherever in the text the profile put them: path, query,
header or body.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

PATTERN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)\}")
ENV_PREFIX = "env."
MASK = "***"
# a shorter value cannot be told from ordinary text: masking "eu" would mask every "eu" of every line
MIN_SECRET_LENGTH = 4


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


class Secrets:
    """The values of ``{env.NAME}`` this process rendered, and the masking of them in any text.

    A value is also masked in the forms it takes on its way out: percent-encoded (a path or query as sent on the
    wire) and JSON-escaped (a journal written as text). Thread-safe: the smoke gate's users render concurrently.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        """Remember ``value`` as a secret (one shorter than :data:`MIN_SECRET_LENGTH` is not maskable)."""
        if len(value) < MIN_SECRET_LENGTH:
            return
        forms = {value, quote(value, safe=""), quote(value), quote_plus(value), json.dumps(value)[1:-1]}
        with self._lock:
            if forms <= self._forms:
                return
            self._forms |= forms
            longest_first = sorted(self._forms, key=len, reverse=True)  # a value inside another is masked whole
            self._pattern = re.compile("|".join(map(re.escape, longest_first)))

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text

    def mask_value(self, value: Any) -> Any:
        """A JSON-like value with every secret masked in its strings, keys included (tuples become lists); any
        other object whose text holds a secret becomes that text masked (what a writer's ``default=str`` writes)."""
        if self._pattern is None or value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, list | tuple):
            return [self.mask_value(v) for v in value]
        if isinstance(value, dict):
            return {self.mask(k) if isinstance(k, str) else k: self.mask_value(v) for k, v in value.items()}
        text = str(value)
        masked = self.mask(text)
        return value if masked == text else masked


SECRETS = Secrets()


def env_value(name: str, environ: Mapping[str, str]) -> str:
    """The value of ``{env.NAME}`` (``name`` is ``NAME``), remembered in :data:`SECRETS` before anything can show it."""
    if name not in environ:
        raise MissingPlaceholder(ENV_PREFIX + name)
    value = environ[name]
    SECRETS.add(value)
    return value


def mask(text: str) -> str:
    """``text`` with every ``{env.NAME}`` value rendered in this process replaced by ``***``."""
    return SECRETS.mask(text)


def mask_value(value: Any) -> Any:
    """A JSON-like value (a journal, a report) with every ``{env.NAME}`` value masked in its strings."""
    return SECRETS.mask_value(value)


def _mapping_lookup(values: Mapping[str, Any]) -> Callable[[str], Any]:
    def lookup(name: str) -> Any:
        if name not in values:
            raise MissingPlaceholder(name)
        return values[name]

    return lookup
