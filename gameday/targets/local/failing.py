"""A failed deployment for a service that has no bad release: its good release, killed a while after it got ready.

``local.bad_release: {version: ..., fail_after_ready_s: N}`` rolls out a release whose replicas run the service's
own command, and the replica's launcher (:mod:`.launch`, which loads this file by path: it imports no package)
kills it N s after its readiness probe first answers 200, at every start: SIGKILL of every process of the replica's
process group but the launcher (the service and any worker it forked), as the kernel's OOM killer would end them,
then the launcher exits 137 (128 + SIGKILL), as a wrapper script whose service was killed does. Supervisor sees the
replica's process die unexpectedly and restarts it; it gets ready, and dies again: a real crash loop, seen from
outside only as restarts and failing health checks, and undone by ``rollout undo`` like any release. Nothing is
written to the service's log: the diagnosis must find it as it would find a real one.
"""

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

POLL_S = 0.2  # readiness polled until it first passes; then the launcher only waits
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through an http_proxy


def ready(url: str) -> bool:
    """Whether the readiness probe answers 200 now."""
    try:
        with _DIRECT.open(url, timeout=1.0) as answer:
            return bool(answer.status == 200)
    except (OSError, ValueError):  # refused, timed out, a 503 (HTTPError is an OSError)
        return False


def run(command: list[str], env: dict[str, str], ready_url: str, after_s: float) -> int:
    """Run ``command`` as a child; ``after_s`` after ``ready_url`` first answers 200, SIGKILL it with every process
    of the group (:func:`kill_group_but_me`) and return 137. Returns the child's exit status when it ends first
    (128 + the signal's number when a signal ended it)."""
    if os.getpgrp() != os.getpid():
        os.setpgrp()  # supervisor makes its programs group leaders; run by hand, the group killed is this one only
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        # supervisor stops the whole group (stopasgroup): the child got the signal too; wait for it to exit
        # rather than leave it holding the port
        signal.signal(sig, lambda *_: None)
    child = subprocess.Popen(command, env=env)
    kill_at: float | None = None
    while (code := child.poll()) is None:
        if kill_at is None and ready(ready_url):
            kill_at = time.monotonic() + after_s
        if kill_at is not None and time.monotonic() >= kill_at:
            kill_group_but_me()
            child.wait()
            return 128 + signal.SIGKILL
        time.sleep(POLL_S)  # poll
    return 128 - code if code < 0 else code


def kill_group_but_me() -> None:
    """SIGKILL every other process of this process group, again until none is left (one may fork meanwhile)."""
    group, me = os.getpgrp(), os.getpid()
    for _ in range(50):
        others = [pid for pid in _members(group) if pid != me]
        if not others:
            return
        for pid in others:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)  # poll: the killed leave the process table as they are reaped


def _members(group: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, _, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(pgrp) == group and state != "Z":
            found.append(int(entry.name))
    return found
