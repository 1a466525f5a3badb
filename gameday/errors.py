"""Errors that end a command with one clear line and a non-zero exit."""

from __future__ import annotations


class GamedayError(Exception):
    """Base of every error that is reported as one line, never a traceback."""

    exit_code = 1


class UsageError(GamedayError):
    """Bad input: an unknown fault, a malformed experiment, a bad parameter."""

    exit_code = 2


class SafetyError(GamedayError):
    """Refused: the target is not allowlisted, or the ledger still holds faults."""

    exit_code = 3
