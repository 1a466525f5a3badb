"""Run locust headless in a SUBPROCESS, bounded in users and time; the timeline file is what crosses back.

gameday never imports locust (it gevent-patches the process it is imported in). A run is::

    python -m locust -f LOCUSTFILE,gameday/load/locust_timeline.py --headless -u N -r N -t Ts --host URL \\
        --json-file OUT/stats --exit-code-on-error 0 --only-summary

with ``GAMEDAY_TIMELINE_FILE=OUT/timeline.jsonl`` so that the plugin writes one line per second, which
other modules read live (:meth:`LoadRun.timeline`). With ``workers > 0`` it is locust's distributed mode
on this machine: one ``--master --expect-workers N`` and N ``--worker`` processes.

Every run has a user count and a time limit; a run that overstays its limit (plus start-up grace) is
killed, process group and all. Nothing is left running after :meth:`LoadRun.stop` or the ``with`` block.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from gameday.errors import GamedayError, UsageError
from gameday.load.timeline import Timeline
from gameday.profile import ENV_VAR as PROFILE_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LOCUSTFILE = REPO_ROOT / "loadtests" / "locustfile.py"
TIMELINE_PLUGIN = Path(__file__).resolve().with_name("locust_timeline.py")
TIMELINE_ENV = "GAMEDAY_TIMELINE_FILE"

MAX_USERS = 200
MAX_DURATION_S = 3600.0
MAX_WORKERS = 8
START_GRACE_S = 20.0  # interpreter + locust import + (distributed) workers connecting
STOP_GRACE_S = 10.0  # SIGTERM -> stats written -> exit


@dataclass(frozen=True)
class LoadSpec:
    """What to run: against which URL, how many users, for how long."""

    host: str
    users: int = 5
    duration_s: float = 10.0
    spawn_rate: float | None = None  # users started per second (default: all at once)
    workers: int = 0  # > 0: distributed mode, one master and this many workers
    locustfile: Path = DEFAULT_LOCUSTFILE
    wait: tuple[float, float] | None = None  # seconds between a user's tasks (GAMEDAY_LOAD_WAIT)
    request_timeout_s: float | None = None  # a request slower than this fails (GAMEDAY_LOAD_TIMEOUT)
    out_dir: Path | None = None  # where timeline, stats and log go (default: a new temporary directory)
    profile: Path | None = None  # the service profile the default locustfile builds its users from

    def validate(self) -> LoadSpec:
        """Raise UsageError (one line) on anything unbounded or malformed."""
        url = urlparse(self.host)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise UsageError(f"load host {self.host!r}: expected an http(s) URL")
        if not 1 <= self.users <= MAX_USERS:
            raise UsageError(f"load users must be 1-{MAX_USERS}, got {self.users}")
        if not 1 <= self.duration_s <= MAX_DURATION_S:
            raise UsageError(f"load duration must be 1-{MAX_DURATION_S:.0f} s, got {self.duration_s:g}")
        if not 0 <= self.workers <= MAX_WORKERS:
            raise UsageError(f"load workers must be 0-{MAX_WORKERS}, got {self.workers}")
        if self.spawn_rate is not None and self.spawn_rate <= 0:
            raise UsageError(f"spawn rate must be positive, got {self.spawn_rate:g}")
        if self.wait is not None and not 0 <= self.wait[0] <= self.wait[1] <= 60:
            raise UsageError(f"wait must be 0 <= MIN <= MAX <= 60 s, got {self.wait}")
        if not Path(self.locustfile).is_file():
            raise UsageError(f"locustfile not found: {self.locustfile}")
        return self


@dataclass
class LoadResult:
    """What a finished run left: the timeline, locust's end-of-run stats, the exit code."""

    exit_code: int | None
    timeline: Timeline
    stats: list[dict[str, Any]]
    out_dir: Path
    started_at: float
    ended_at: float
    killed: bool = False
    log_tail: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """Requests in locust's own end-of-run stats."""
        return sum(int(e.get("num_requests", 0)) for e in self.stats)

    @property
    def failures(self) -> int:
        """Failures in locust's own end-of-run stats."""
        return sum(int(e.get("num_failures", 0)) for e in self.stats)

    @property
    def tool_error(self) -> str | None:
        """One line when locust itself failed (not the service under load): a bad locustfile, a crash."""
        if self.killed:
            return "locust overstayed its time limit and was killed"
        if self.exit_code not in (0, None):
            last = next((line for line in reversed(self.log_tail) if line.strip()), "no output")
            return f"locust exited with {self.exit_code}: {last.strip()}"
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "exit_code": self.exit_code,
            "killed": self.killed,
            "out_dir": str(self.out_dir),
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "locust_totals": {"requests": self.requests, "failures": self.failures},
            "timeline": self.timeline.summary(),
        }


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for the master's worker connections)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoadRun:
    """One bounded locust run in subprocesses; use as a context manager so it always ends."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec.validate()
        # absolute: locust runs with the output directory as its working directory
        out = Path(spec.out_dir) if spec.out_dir else Path(tempfile.mkdtemp(prefix="gameday-load-"))
        self.out_dir = out.resolve()
        self.timeline_path = self.out_dir / "timeline.jsonl"
        self.stats_base = self.out_dir / "stats"  # locust appends .json
        self.log_path = self.out_dir / "locust.log"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started_at = 0.0
        self.deadline = 0.0
        self.killed = False
        self._result: LoadResult | None = None

    # --- commands ----------------------------------------------------------------------------
    def _files(self) -> str:
        return f"{self.spec.locustfile},{TIMELINE_PLUGIN}"

    def commands(self, port: int | None = None) -> list[list[str]]:
        """The command lines: the headless (master) process first, then the workers."""
        s = self.spec
        rate = s.spawn_rate if s.spawn_rate is not None else s.users
        base = [sys.executable, "-m", "locust", "-f", self._files(), "--loglevel", "WARNING"]
        main = [
            *base, "--headless", "-u", str(s.users), "-r", f"{rate:g}", "-t", f"{math.ceil(s.duration_s)}s",
            "--host", s.host, "--json-file", str(self.stats_base), "--exit-code-on-error", "0", "--only-summary",
        ]
        if not s.workers:
            return [main]
        assert port is not None
        main += ["--master", "--expect-workers", str(s.workers), "--expect-workers-max-wait", f"{START_GRACE_S:.0f}",
                 "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
        worker = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port), "--host", s.host]
        return [main] + [list(worker) for _ in range(s.workers)]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env[TIMELINE_ENV] = str(self.timeline_path)
        env["PYTHONUNBUFFERED"] = "1"
        if self.spec.wait is not None:
            env["GAMEDAY_LOAD_WAIT"] = f"{self.spec.wait[0]:g},{self.spec.wait[1]:g}"
        if self.spec.request_timeout_s is not None:
            env["GAMEDAY_LOAD_TIMEOUT"] = f"{self.spec.request_timeout_s:g}"
        if self.spec.profile is not None:
            env[PROFILE_ENV] = str(Path(self.spec.profile).resolve())  # locust runs in the output directory
        return env

    # --- life cycle --------------------------------------------------------------------------
    def start(self) -> LoadRun:
        """Start the locust process(es); returns at once (the timeline fills while it runs)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for stale in (self.timeline_path, self.stats_base.with_suffix(".json")):
            stale.unlink(missing_ok=True)
        port = free_port() if self.spec.workers else None
        env = self._env()
        self.started_at = time.time()
        self.deadline = time.monotonic() + START_GRACE_S + self.spec.duration_s + STOP_GRACE_S
        with self.log_path.open("ab") as log:
            try:
                for cmd in self.commands(port):
                    self.procs.append(subprocess.Popen(
                        cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                        cwd=self.out_dir, start_new_session=True,
                    ))
            except OSError as exc:
                self._kill_all()
                raise GamedayError(f"could not start locust: {exc}") from exc
        return self

    def timeline(self) -> Timeline:
        """The timeline written so far (read live while locust runs)."""
        return Timeline.read(self.timeline_path)

    def running(self) -> bool:
        """Whether the headless (master) process is still running."""
        return bool(self.procs) and self.procs[0].poll() is None

    def wait(self, timeout: float | None = None) -> LoadResult:
        """Wait for the run to end by itself (its time limit), never past its deadline; then collect."""
        limit = self.deadline if timeout is None else min(self.deadline, time.monotonic() + timeout)
        while self.running() and time.monotonic() < limit:
            time.sleep(0.2)  # poll
        if self.running() and time.monotonic() >= self.deadline:
            return self.stop()
        if self.running():
            raise GamedayError(f"locust still running after {timeout:g}s (its limit is later)")
        return self._finish()

    def stop(self, grace: float = STOP_GRACE_S) -> LoadResult:
        """End the run now: SIGTERM (locust writes its stats and the last timeline lines), then SIGKILL."""
        if self._result is not None:
            return self._result
        for proc in self.procs[:1]:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + grace
        while any(p.poll() is None for p in self.procs) and time.monotonic() < end:
            time.sleep(0.1)  # poll
        if any(p.poll() is None for p in self.procs):
            self.killed = True
        return self._finish()

    def _kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def _finish(self) -> LoadResult:
        if self._result is not None:
            return self._result
        # workers follow their master out; any straggler is killed
        end = time.monotonic() + 5
        while any(p.poll() is None for p in self.procs[1:]) and time.monotonic() < end:
            time.sleep(0.1)  # poll
        if any(p.poll() is None for p in self.procs):
            self.killed = True
        self._kill_all()
        stats: list[dict[str, Any]] = []
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            stats = json.loads(self.stats_base.with_suffix(".json").read_text())
        log_tail: list[str] = []
        with contextlib.suppress(FileNotFoundError):
            log_tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
        self._result = LoadResult(
            exit_code=self.procs[0].returncode if self.procs else None,
            timeline=self.timeline(),
            stats=stats,
            out_dir=self.out_dir,
            started_at=self.started_at,
            ended_at=time.time(),
            killed=self.killed,
            log_tail=log_tail,
        )
        return self._result

    def __enter__(self) -> LoadRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_load(spec: LoadSpec) -> LoadResult:
    """Run to the end of the spec's time limit and return the result."""
    with LoadRun(spec) as run:
        return run.wait()
