"""The state directory: every runtime file (pids, ports, ledger, logs) lives here, never in the source tree."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


class StateDir:
    """Paths inside one state directory, created on first use."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def ensure(self) -> StateDir:
        """Create the directory (traversable, so a service user such as postgres can reach its part)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        return self

    def path(self, *parts: str) -> Path:
        """A path inside the state directory."""
        return self.root.joinpath(*parts)

    def subdir(self, *parts: str) -> Path:
        """A directory inside the state directory, created if missing."""
        p = self.path(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def ledger(self) -> Path:
        """The fault ledger."""
        return self.path("ledger.json")

    @property
    def logs(self) -> Path:
        """Where every component writes its log."""
        return self.subdir("logs")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a reader never sees half a file, even if we are killed mid-write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path, default: Any = None) -> Any:
    """Read JSON, or return ``default`` when the file does not exist."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default
