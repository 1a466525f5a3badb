"""JSONPath, as the profile's assertions and captures use it: parsed once per path, quietly."""

from __future__ import annotations

import contextlib
import io
import threading
from functools import lru_cache
from typing import Any

from jsonpath2.path import Path as JsonPath

_PARSING = threading.Lock()


@lru_cache(maxsize=1024)  # parsing is slow (an ANTLR grammar); every call of an endpoint asks for the same paths
def compile_path(path: str) -> JsonPath:
    """The parsed path; ValueError (one line) when it is not a JSONPath."""
    # ANTLR's default listener prints each syntax error on stderr before jsonpath2's own raises it: that stray
    # line is swallowed (the paths of a profile are parsed once, when it is loaded), gameday's line says it all
    with _PARSING, contextlib.redirect_stderr(io.StringIO()):
        try:
            return JsonPath.parse_str(path)
        except Exception as exc:  # jsonpath2 raises its parser's own error types
            raise ValueError(f"not a JSONPath: {path!r}") from exc


def json_matches(path: str, body: Any) -> list[Any]:
    """The values ``path`` matches in ``body`` (empty when none)."""
    return [m.current_value for m in compile_path(path).match(body)]

