"""An interrupt that cannot be lost: SIGINT/SIGTERM stays pending until it stops the work, raised again at safe points.

Python runs a signal handler in the main thread at its next bytecode boundary, and that may be inside a finalizer:
every XML-RPC call to supervisord drops an ``HTTPResponse`` whose finalizer runs its Python ``close()``, and an
unclosed socket's warning runs ``socket.__repr__``. CPython discards an exception raised there (silently, for an I/O
object), and the work goes on as if no signal had come: measured, 54 of 277 SIGINTs sent during a loop of supervisord
calls were lost that way, and a game day's Ctrl-C once let the method run on for 11 s. So a handler that interrupts
also leaves its exception pending here, and every safe point (between a fault's rounds, between a wait's polls,
between two chaostoolkit activities) raises it again, until whoever stops the work says it arrived (:func:`clear`).
Undo code that runs while the interrupt is still on its way out (a fault undone at once) runs in :func:`undoing`:
its waits must not cut it short.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, NoReturn

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_pending: BaseException | None = None
_undoing = 0  # undo blocks under way: safe points in them do not raise


def set_pending(interrupt: BaseException) -> None:
    """``interrupt`` (the handler's exception) must stop the work: safe points raise it until :func:`clear`."""
    global _pending
    _pending = interrupt


def clear() -> None:
    """The interrupt stopped the work (or the undo has begun): safe points no longer raise it."""
    global _pending
    _pending = None


def checkpoint() -> None:
    """A safe point: raise the pending interrupt, in the main thread only (the one a signal stops)."""
    interrupt = _pending
    if interrupt is not None and not _undoing and threading.current_thread() is threading.main_thread():
        raise interrupt.with_traceback(None)


def pause(seconds: float) -> None:
    """Sleep between two safe points (a fault's cadence, a poll's interval): never undo code."""
    checkpoint()
    time.sleep(seconds)
    checkpoint()


@contextlib.contextmanager
def undoing() -> Iterator[None]:
    """Undo code in the block (its waits use :func:`pause` too): its safe points do not raise; whatever interrupt
    is pending stays so for after it."""
    global _undoing
    _undoing += 1
    try:
        yield
    finally:
        _undoing -= 1


def keep(handler: Callable[[int, FrameType | None], Any], signum: int, frame: FrameType | None) -> None:
    """Run a signal handler; the exception it raises (KeyboardInterrupt, the CLI's SIGTERM exception) is left
    pending, for the next safe point to raise again if Python drops it."""
    try:
        handler(signum, frame)
    except BaseException as interrupt:
        set_pending(interrupt)
        raise


def interrupt(exc: BaseException) -> NoReturn:
    """Raise a signal handler's own exception, left pending first."""
    set_pending(exc)
    raise exc


@contextlib.contextmanager
def kept() -> Iterator[None]:
    """In the block, SIGINT and SIGTERM do what the handlers in place do, their exceptions left pending (only
    handlers that are Python functions: Ctrl-C's, the CLI's SIGTERM one); the block's end is a safe point, and
    nothing stays pending after it. Outside the main thread (where Python runs no handler) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    wrapped = {sig: handler for sig, handler in previous.items() if callable(handler)}

    def handler(signum: int, frame: FrameType | None) -> None:
        keep(wrapped[signal.Signals(signum)], signum, frame)

    for sig in wrapped:
        signal.signal(sig, handler)
    try:
        yield
        checkpoint()
    finally:
        clear()
        for sig in wrapped:
            signal.signal(sig, previous[sig])
