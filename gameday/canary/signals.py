"""While a canary changes replicas, the first SIGINT or SIGTERM interrupts it and every later one waits.

The first signal does what the handler in place does (Ctrl-C's KeyboardInterrupt, the CLI's SIGTERM exception), so
the canary rolls back on the way out. A second one, from an impatient operator or a supervisor of the process,
must not cut that rollback short: a replica half-switched when it landed would stay stopped, out of the load
balancer, with its ledger entry abandoned. The handler itself decides which signal is the first, so no second
signal can slip in between the interruption and the rollback's own protection.

The first signal's exception is also left pending (:mod:`gameday.interrupts`): Python drops it when the handler
runs inside a finalizer, and the canary's safe points (its step loop, its waits) raise it again; the rollback, once
it began (:meth:`Interruptions.hold`), has none.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from gameday import interrupts

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interruptions:
    """The signals received in the block; once :meth:`hold` is called (or one has interrupted), none interrupts."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.held = False

    def hold(self) -> None:
        """From now on signals are only noted, and a pending interrupt is not raised again: a rollback is under
        way (after the interruption, or after an error)."""
        self.held = True
        interrupts.clear()


@contextlib.contextmanager
def first_interrupts() -> Iterator[Interruptions]:
    """Handlers for SIGINT and SIGTERM for the block: the first one interrupts, the others are only noted. Outside
    the main thread (where Python runs no handler) the block runs unprotected."""
    seen = Interruptions()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def handler(signum: int, frame: FrameType | None) -> None:
        chained = previous[signal.Signals(signum)]
        if chained == signal.SIG_IGN:
            return
        seen.received.append(signum)
        if seen.held:
            return  # the rollback goes on
        seen.held = True  # before raising: no second signal can slip in before the rollback
        if callable(chained):
            interrupts.keep(chained, signum, frame)  # raises: KeyboardInterrupt, or the CLI's SIGTERM exception
        interrupts.interrupt(KeyboardInterrupt())  # the default action would end the process without a rollback

    for sig in SIGNALS:
        signal.signal(sig, handler)
    try:
        yield seen
    finally:
        interrupts.clear()  # the block's interrupt, if any, has landed (the rollback after it is over)
        for sig, chained in previous.items():
            signal.signal(sig, chained)
