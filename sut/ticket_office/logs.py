"""Logging: one JSON object per line on stdout, ours and uvicorn's.

A line is ``{"ts", "level", "service", "instance", "logger", "msg", ...fields}``; request lines add
``method``, ``path``, ``route``, ``status`` and ``duration_ms``. Tracebacks are folded into one
``error`` field, so every event stays one line. Callers never pass secrets (tokens, passwords, DSNs).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback

from . import SERVICE_NAME

LOGGER_NAME = "ticket_office"
FIELDS_ATTR = "fields"  # logging ``extra={"fields": {...}}``: structured fields of one line

# Libraries that would log every failed reconnect: our own code logs the transitions.
_QUIET_LOGGERS = ("asyncio", "asyncpg")


class JsonLineFormatter(logging.Formatter):
    """A log record as a single JSON line."""

    def __init__(self, instance: str) -> None:
        super().__init__()
        self._instance = instance

    def format(self, record: logging.LogRecord) -> str:
        """Render the record, its structured fields and any exception on one line."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, object] = {
            "ts": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": SERVICE_NAME,
            "instance": self._instance,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, FIELDS_ATTR, None) or {})
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            frames = traceback.extract_tb(exc.__traceback__)
            where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
            line["error"] = f"{type(exc).__name__}: {exc}{where}"
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(instance: str, level: int = logging.INFO) -> None:
    """Send every logger (ours and uvicorn's) to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLineFormatter(instance))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def get_logger(component: str) -> logging.Logger:
    """The logger of one component of the service."""
    return logging.getLogger(f"{LOGGER_NAME}.{component}")
