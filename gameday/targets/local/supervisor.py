"""A thin client for supervisord's XML-RPC interface over its Unix socket in the state directory.

Each call opens its own connection and closes it, and its response, before it returns: left to their finalizers
(supervisor's transport keeps the connection, xmlrpc never closes the response), they ran Python code at a random
later moment, where a signal handler's exception is dropped (:mod:`gameday.interrupts`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import UnixStreamHTTPConnection

from gameday.state import StateDir, read_json
from gameday.targets.model import TargetError

NOT_RUNNING = "the local stack is not running (gameday up)"  # what every command that needs it says
STACK_FILE = "stack.json"  # the stack's record (written by ``up``): its programs, each with the pod it is part of
STOPPING_LIMIT_S = 30.0  # longer than any program's stopwaitsecs, after which supervisord SIGKILLs it


class SpawnFailed(TargetError):
    """The program died before supervisord answered the start (SPAWN_ERROR): it still gets its start retries, and
    is FATAL only when supervisord gives up on it."""


class _ClosingTransport(xmlrpc.client.Transport):
    """XML-RPC over a Unix socket, one connection per call, closed with its response before the call returns.

    A call whose connection fails while supervisord's process lives is asked again for up to ``RETRY_S``: on a
    runner at load 20-40 its single-threaded socket server once dropped one connection while it spawned a heavy
    service's replicas, and ``up`` took that for a stack that was not running and stopped it. Asked again, a start
    already done answers ALREADY_STARTED and a stop NOT_RUNNING, both handled by their callers."""

    RETRY_S = 5.0  # supervisord's own socket, not the service: the pause of one busy scheduler round or a few

    def __init__(self, socket_path: Path, alive: Any = None) -> None:
        super().__init__()
        self.socket_path = socket_path
        self.alive = alive or (lambda: False)

    def single_request(self, host: Any, handler: str, request_body: bytes, verbose: bool = False) -> Any:
        deadline = time.monotonic() + self.RETRY_S
        while True:
            try:
                return self._request_once(handler, request_body, verbose)
            except OSError:
                if time.monotonic() >= deadline or not self.alive():
                    raise
                time.sleep(0.1)  # its process lives: the next connection, within the deadline above

    def _request_once(self, handler: str, request_body: bytes, verbose: bool) -> Any:
        self.verbose = verbose  # parse_response reads it
        connection = UnixStreamHTTPConnection("localhost")  # supervisord's own client names it so, too
        connection.socketfile = str(self.socket_path)
        try:
            connection.request("POST", handler, request_body,
                               {"Content-Type": "text/xml", "Accept": "text/xml", "User-Agent": self.user_agent})
            with connection.getresponse() as response:
                if response.status != 200:
                    raise xmlrpc.client.ProtocolError(f"unix://{self.socket_path}{handler}", response.status,
                                                      response.reason, dict(response.getheaders()))
                return self.parse_response(response)
        finally:
            connection.close()


class Supervisor:
    """Start, stop and signal the programs of one local stack.

    A replica's name stands for its pod: starting, stopping or signalling ``replica-0`` does the same to the
    processes declared beside it (``replica-0-worker``, ``local.processes``), as a pod's containers live and die
    together. So a rollout restarts a replica's worker on the new release, and kill-replicas kills it too.
    """

    def __init__(self, state: StateDir) -> None:
        self.state = state
        self.socket = state.path("supervisor.sock")
        self.config = state.path("supervisord.conf")
        self.pidfile = state.path("supervisord.pid")

    def _proxy(self) -> Any:
        transport = _ClosingTransport(self.socket, alive=lambda: self.pid() is not None)
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def pid(self) -> int | None:
        """supervisord's pid when it is alive, else None."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def alive(self) -> bool:
        """Whether supervisord answers on its socket."""
        if not self.socket.exists() or self.pid() is None:
            return False
        try:
            return self._proxy().getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False

    def launch(self, environment: dict[str, str]) -> None:
        """Start supervisord (it daemonizes and starts every program in priority order)."""
        env = {**os.environ, **environment}
        result = subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.config)],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            # its last line is "For help, use ... -h"; the reason is the "Error: ..." line before it
            reason = next((ln for ln in lines if ln.startswith("Error:")), lines[-1] if lines else result.returncode)
            raise TargetError(f"supervisord failed to start: {reason}")

    def shutdown(self) -> None:
        """Ask supervisord to stop every program and exit."""
        try:
            self._proxy().shutdown()
        except (OSError, xmlrpc.client.Error):
            pid = self.pid()
            if pid:
                os.kill(pid, signal.SIGTERM)

    def processes(self) -> dict[str, dict[str, Any]]:
        """Every program's process info, by name."""
        try:
            return {p["name"]: p for p in self._proxy().getAllProcessInfo()}
        except (OSError, xmlrpc.client.Error) as exc:
            pid = self.pid()
            if pid is not None:  # its process lives: say what its socket did, not that the stack is down
                raise TargetError(f"supervisord (pid {pid}) did not answer on {self.socket}: {exc}") from exc
            raise TargetError(NOT_RUNNING) from exc

    def info(self, name: str) -> dict[str, Any]:
        """One program's process info."""
        try:
            return self._proxy().getProcessInfo(name)
        except xmlrpc.client.Fault as exc:
            raise TargetError(f"no program {name!r} in the local stack") from exc
        except OSError as exc:
            raise TargetError(NOT_RUNNING) from exc

    def pod(self, name: str) -> list[str]:
        """The programs of ``name``'s pod, itself first: for a replica, the processes declared beside it."""
        programs = (read_json(self.state.path(STACK_FILE)) or {}).get("programs") or []
        return [name, *(p["name"] for p in programs if p.get("pod") == name)]

    def start(self, name: str, wait: bool = False) -> None:
        """Start a program and the rest of its pod (its processes first); already started is fine."""
        for companion in self.pod(name)[1:]:
            self._start(companion, False)
        self._start(name, wait)

    def _start(self, name: str, wait: bool) -> None:
        try:
            self._proxy().startProcess(name, wait)
        except xmlrpc.client.Fault as exc:
            if "SPAWN_ERROR" in exc.faultString:
                raise SpawnFailed(f"cannot start {name}: {exc.faultString}") from exc
            if "ALREADY_STARTED" not in exc.faultString:
                raise TargetError(f"cannot start {name}: {exc.faultString}") from exc
        except OSError as exc:  # no supervisord on the socket: the stack is down
            raise TargetError(NOT_RUNNING) from exc

    def stop(self, name: str, wait: bool = True) -> None:
        """Stop a program and the rest of its pod; already stopped is fine (see :meth:`_stop`)."""
        for program in self.pod(name):
            self._stop(program, wait)

    def _stop(self, name: str, wait: bool) -> None:
        """Stop one program; already stopped is fine.

        With ``wait``, returns once it is stopped, also when an earlier stop is still under way (a caller
        interrupted mid-stop): supervisord answers NOT_RUNNING for a STOPPING program, and a start sent before it
        is stopped is silently dropped, which once left a replica stopped after an interrupted canary.
        """
        try:
            self._proxy().stopProcess(name, wait)
        except OSError as exc:  # no supervisord on the socket: the stack is down
            raise TargetError(NOT_RUNNING) from exc
        except xmlrpc.client.Fault as exc:
            if "NOT_RUNNING" not in exc.faultString:
                raise TargetError(f"cannot stop {name}: {exc.faultString}") from exc
            deadline = time.monotonic() + STOPPING_LIMIT_S
            while wait and self.info(name).get("statename") == "STOPPING":
                if time.monotonic() > deadline:
                    raise TargetError(f"{name} still stopping after {STOPPING_LIMIT_S:.0f}s") from None
                time.sleep(0.05)  # poll: supervisord SIGKILLs it after its stopwaitsecs

    def replace(self, name: str) -> None:
        """Stop ``name``'s pod for a new one (a rollout, a canary): each program is stopped, then removed from
        supervisord and added back from its configuration, so the new pod's crash loop starts counting at zero, as a
        new pod's restart back-off does. supervisord zeroes its retry count only once a start lasted ``startsecs``:
        a replica stopped while backing off (a rollout undo of a crash-looping release) kept its count, and the next
        bad release went FATAL at its first crash (measured in the bench: the rollout stalled at that replica
        before it was ever ready, the others kept serving the good release, no probe failed for 30 s).

        Not started: the caller renders the new release first. Asked again after a dropped connection (see
        :class:`_ClosingTransport`), a removal already done answers BAD_NAME and an addition ALREADY_ADDED."""
        for program in self.pod(name):
            self._stop(program, True)
            for call, done in (("removeProcessGroup", "BAD_NAME"), ("addProcessGroup", "ALREADY_ADDED")):
                try:
                    getattr(self._proxy(), call)(program)
                except OSError as exc:
                    raise TargetError(NOT_RUNNING) from exc
                except xmlrpc.client.Fault as exc:
                    if done not in exc.faultString:
                        raise TargetError(f"cannot replace {program}: {exc.faultString}") from exc

    def signal_group(self, name: str, sig: signal.Signals) -> int | None:
        """Send a signal to a program's whole process group (postgres backends included), and to those of the
        rest of its pod (a replica's worker); the program's own pid, or None when it was not running."""
        for companion in self.pod(name)[1:]:
            self._signal_group(companion, sig)
        return self._signal_group(name, sig)

    def _signal_group(self, name: str, sig: signal.Signals) -> int | None:
        pid = self.info(name).get("pid") or 0
        if pid <= 0:
            return None
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return None
        return pid


def log_path(state: StateDir, name: str) -> Path:
    """Where a program's output goes."""
    return state.logs / f"{name}.log"
