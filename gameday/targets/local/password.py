"""The local stack's one secret, the database password, kept where only its owner reads it: saved for the processes
that restart replicas later, written into files of mode 0600, and masked in whatever output may echo it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gameday.state import StateDir

SECRET_FILE = ("service", "secret.json")


def save_password(state: StateDir, password: str) -> None:
    """Keep the password for the processes that restart replicas later (``rollout restart`` in another shell)."""
    path = state.path(*SECRET_FILE)
    if not password:
        path.unlink(missing_ok=True)
        return
    write_private(path, json.dumps({"password": password}))


def redact(text: str, secret: str) -> str:
    """``text`` with the secret replaced: output of a setup command or PostgreSQL may echo it."""
    return text.replace(secret, "***") if secret else text


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it may hold the database password), in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
