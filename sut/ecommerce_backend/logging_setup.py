"""One-line-per-event logging to stdout: ``<UTC ISO time> <LEVEL> pod=<pod> <message>``."""

from __future__ import annotations

import logging
import sys
import time
import traceback
from types import TracebackType

LOGGER_NAME = "ecommerce"

# Third-party loggers that would repeat every failed reconnect; our own code logs the transitions.
_QUIET_LOGGERS = ("aiokafka", "kafka", "asyncio")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class OneLineFormatter(logging.Formatter):
    """Formats records as a single line with a UTC millisecond timestamp and the pod name."""

    def __init__(self, pod: str) -> None:
        super().__init__()
        self._pod = pod

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """ISO-8601 UTC with milliseconds and a ``Z`` suffix."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"

    def formatException(self, ei: ExcInfo) -> str:  # type: ignore[override]
        """The exception type, message and innermost frame, on one line."""
        exc_type, exc, tb = ei
        where = ""
        frames = traceback.extract_tb(tb) if tb is not None else []
        if frames:
            last = frames[-1]
            where = f" at {last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"
        return f"{exc_type.__name__}: {exc}{where}"

    def format(self, record: logging.LogRecord) -> str:
        """Render the record on exactly one line."""
        message = record.getMessage()
        if record.exc_info:
            message = f"{message} | {self.formatException(record.exc_info)}"  # type: ignore[arg-type]
        message = message.replace("\r", " ").replace("\n", " | ")
        return f"{self.formatTime(record)} {record.levelname} pod={self._pod} {message}"


def configure_logging(pod: str, level: int = logging.INFO) -> logging.Logger:
    """Route every logger (ours and uvicorn's) to stdout in the one-line format; return ours."""
    logging.addLevelName(logging.CRITICAL, "FATAL")  # the runbook's wording for a crashing release
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(OneLineFormatter(pod))
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
    return logging.getLogger(LOGGER_NAME)


def get_logger(component: str | None = None) -> logging.Logger:
    """The service logger, or a child of it for one component."""
    return logging.getLogger(LOGGER_NAME if component is None else f"{LOGGER_NAME}.{component}")
