"""supervisord's socket on a busy runner: a dropped connection while its process lives is asked again, not taken for
a stack that is down (``up`` once stopped a heavy service's whole stack for it); a dead supervisord is still down."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from gameday.state import StateDir
from gameday.targets.local.supervisor import NOT_RUNNING, Supervisor
from gameday.targets.model import TargetError

ANSWER = xmlrpc.client.dumps(({"statename": "RUNNING"},), methodresponse=True).encode()


def _serve(listener: socket.socket, drop_first: int, seen: list[int]) -> None:
    """Answer getState on a Unix socket, after closing the first ``drop_first`` connections unanswered."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            seen.append(1)
            data = b""
            while b"</methodCall>" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            if len(seen) <= drop_first:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                continue  # closed without an answer, as an overloaded server drops a connection
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\nContent-Length: "
                         + str(len(ANSWER)).encode() + b"\r\n\r\n" + ANSWER)


@pytest.fixture
def sockdir() -> Iterator[Path]:
    # a short path: a Unix socket's path is limited to ~100 bytes, pytest's tmp_path may be longer
    with tempfile.TemporaryDirectory(prefix="gd-sv-") as d:
        yield Path(d)


def _supervisor(directory: Path, drop_first: int, pid: int | None) -> tuple[Supervisor, list[int], socket.socket]:
    state = StateDir(directory)
    sup = Supervisor(state)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sup.socket))
    listener.listen(8)
    seen: list[int] = []
    threading.Thread(target=_serve, args=(listener, drop_first, seen), daemon=True).start()
    if pid is not None:
        sup.pidfile.write_text(str(pid))
    return sup, seen, listener


def test_a_dropped_connection_while_supervisord_lives_is_asked_again(sockdir: Path) -> None:
    sup, seen, listener = _supervisor(sockdir, drop_first=2, pid=os.getpid())  # a live pid stands for supervisord
    try:
        assert sup.alive()
        assert len(seen) == 3  # two dropped, the third answered
    finally:
        listener.close()


def test_a_dead_supervisord_is_not_running_at_once(sockdir: Path) -> None:
    sup, seen, listener = _supervisor(sockdir, drop_first=100, pid=None)
    try:
        with pytest.raises(TargetError) as raised:
            sup.processes()
        assert str(raised.value) == NOT_RUNNING
        # not asked again for its deadline: nothing lives to answer (xmlrpc's own transport repeats a reset once)
        assert len(seen) <= 2
    finally:
        listener.close()
