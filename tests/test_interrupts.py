"""A signal handler's exception that Python drops (raised inside a finalizer) still stops the work at its next safe
point, and an interrupt never turns into an ordinary failure. Fast: a fake target, no stack."""

from __future__ import annotations

import contextlib
import gc
import signal
import socket
import socketserver
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Any
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

import pytest

from gameday import cli, faults, interrupts
from gameday.canary.analysis import Tolerances
from gameday.canary.run import Step, measure_step
from gameday.canary.signals import first_interrupts
from gameday.chaos.journal import JournalRecorder
from gameday.chaos.runner import Interrupted, _SignalGuard
from gameday.config import Settings
from gameday.ledger import Ledger
from gameday.run import session
from gameday.run.background import Background
from gameday.state import StateDir
from gameday.targets.local.supervisor import Supervisor
from gameday.targets.model import TargetError


class _LosesASignal:
    """Dropped by the fault's code like an ``HTTPResponse`` after an XML-RPC call: its finalizer runs Python code,
    and the signal's handler runs there (raise_signal runs it at once), so CPython discards its exception."""

    def __init__(self, sig: signal.Signals = signal.SIGINT) -> None:
        self.sig = sig

    def __del__(self) -> None:
        signal.raise_signal(self.sig)


class FakeTarget:
    """A local-looking target that counts the kill rounds and can lose a signal during one of them."""

    def __init__(self, lose_in_round: int | None = None, fail_undo: bool = False) -> None:
        self.rounds = 0
        self.started = 0
        self.lose_in_round = lose_in_round
        self.fail_undo = fail_undo

    def identity(self) -> dict[str, Any]:
        return {"kind": "local", "state_dir": "/nonexistent"}

    def terminate_replicas(self, names: list[str] | None = None) -> list[str]:
        self.rounds += 1
        if self.rounds == self.lose_in_round:
            _LosesASignal()  # freed at once: the handler runs in its finalizer
        return ["replica-0"]

    def start_replicas(self, names: list[str] | None = None) -> list[str]:
        self.started += 1
        if self.fail_undo:
            raise TargetError("the local stack is not running (gameday up)")
        return ["replica-0"]

    def wait_healthy(self, timeout: float = 60.0) -> bool:
        return True


@pytest.fixture
def lost() -> Iterator[list[BaseException | None]]:
    """Every exception Python discarded (an unraisable one) during the test."""
    seen: list[BaseException | None] = []
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: seen.append(unraisable.exc_value)
    try:
        yield seen
    finally:
        sys.unraisablehook = hook


@pytest.fixture
def guard(tmp_path: Path) -> Iterator[_SignalGuard]:
    """The chaos runner's signal guard, holding SIGINT/SIGTERM for the test."""
    signals = _SignalGuard(JournalRecorder(tmp_path / "journal.json", "test"))
    signals.install()
    try:
        yield signals
    finally:
        signals.restore()
        interrupts.clear()


def test_a_lost_interrupt_stops_the_fault_at_its_next_round_and_undoes_it(
    guard: _SignalGuard, lost: list[BaseException | None], tmp_path: Path, settings: Settings
) -> None:
    target, book = FakeTarget(lose_in_round=3), Ledger(tmp_path / "ledger.json")
    with pytest.raises(Interrupted):
        faults.inject(target, book, "kill-replicas", {"rounds": 16, "interval": 0.01}, settings.service)
    assert [type(e) for e in lost] == [Interrupted]  # Python did drop the handler's exception
    assert target.rounds == 3  # stopped at the safe point after the round it landed in (not 16 rounds)
    assert target.started == 1 and book.empty()  # undone, ledger emptied
    assert guard.first == "SIGINT"


def test_an_interrupt_stays_one_when_its_undo_fails(
    guard: _SignalGuard, lost: list[BaseException | None], tmp_path: Path, settings: Settings
) -> None:
    target, book = FakeTarget(lose_in_round=1, fail_undo=True), Ledger(tmp_path / "ledger.json")
    with pytest.raises(Interrupted) as raised:  # not the TargetError: chaostoolkit would go on after a failure
        faults.inject(target, book, "kill-replicas", {"rounds": 4, "interval": 0.01}, settings.service)
    assert isinstance(raised.value.__cause__, TargetError) and len(lost) == 1 and target.rounds == 1
    assert [e.fault for e in book.entries()] == ["kill-replicas"]  # left for the runner's cleanup / gameday abort


def test_once_the_undo_began_signals_are_only_noted(guard: _SignalGuard, capsys: pytest.CaptureFixture[str]) -> None:
    guard.undo_begins()
    signal.raise_signal(signal.SIGTERM)  # no exception: the rollback goes on
    interrupts.checkpoint()
    signal.raise_signal(signal.SIGINT)
    assert guard.first == "SIGTERM"  # the exit code is still the first signal's
    assert [s["signal"] for s in guard.recorder.extra["signals"]] == ["SIGTERM", "SIGINT"]
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("gameday: SIGTERM: undoing this run's faults first")
    assert err[1].startswith("gameday: SIGINT: already stopping")


def test_safe_points_raise_only_in_the_main_thread() -> None:
    interrupts.set_pending(Interrupted("SIGINT"))
    try:
        raised: list[BaseException] = []

        def worker() -> None:
            try:
                interrupts.pause(0)
            except BaseException as exc:  # what a worker thread would see
                raised.append(exc)

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(5)
        assert raised == []
        with pytest.raises(Interrupted):
            interrupts.checkpoint()
    finally:
        interrupts.clear()
    interrupts.checkpoint()  # cleared: nothing raised



class _LosesASignalMeasuring:
    """A canary driver whose load-balancer records cannot be read (each step stays inconclusive until its
    timeout), and whose first reading loses a SIGINT."""

    def __init__(self) -> None:
        self.readings = 0

    def served(self, window: Any) -> Any:
        self.readings += 1
        if self.readings == 1:
            _LosesASignal()
        raise TargetError("load balancer runtime API unreachable")


def test_a_lost_interrupt_stops_the_canary_at_its_next_poll_but_never_its_rollback(
    lost: list[BaseException | None],
) -> None:
    driver, step = _LosesASignalMeasuring(), Step(1, 3, time.time())
    with first_interrupts() as seen:
        with pytest.raises(KeyboardInterrupt):  # not measuring on for the step's 10 s
            measure_step(driver, None, step, Tolerances(), 10.0, lambda: True)  # type: ignore[arg-type]
        assert [type(e) for e in lost] == [KeyboardInterrupt] and driver.readings == step.evaluations == 1
        seen.hold()  # what run_canary does before its rollback
        interrupts.pause(0)  # the rollback's waits raise nothing
        signal.raise_signal(signal.SIGTERM)  # a later signal is only noted
    assert seen.received == [signal.SIGINT, signal.SIGTERM]


class _LosesASignalTimeline:
    """The load's timeline, empty (the baseline keeps waiting for load); its first reading loses a signal."""

    def __init__(self, sig: signal.Signals) -> None:
        self.sig, self.reads = sig, 0

    def __call__(self) -> _LosesASignalTimeline:
        return self

    def window(self, start: float, end: float) -> Any:
        self.reads += 1
        if self.reads == 1:
            _LosesASignal(self.sig)
        return SimpleNamespace(duration=0.0, requests=0)


def test_a_lost_sigterm_ends_the_game_days_wait_at_its_next_poll_but_not_its_undo(
    lost: list[BaseException | None],
) -> None:
    day = Background.__new__(Background)  # only what the baseline's wait reads
    day.options = SimpleNamespace(baseline_s=1.0)  # type: ignore[assignment]
    day.timeline = timeline = _LosesASignalTimeline(signal.SIGTERM)  # type: ignore[method-assign]
    previous = signal.signal(signal.SIGTERM, cli._on_sigterm)  # as `gameday` runs
    try:
        with pytest.raises(cli.Terminated), interrupts.kept():  # not waiting on for the baseline's 31 s
            day.measure_baseline()
        assert [type(e) for e in lost] == [cli.Terminated] and timeline.reads == 1
        interrupts.checkpoint()  # nothing left pending after the run
        interrupts.set_pending(cli.Terminated())
        with session._signals_deferred():  # the game day's undo
            interrupts.pause(0)
        interrupts.checkpoint()
    finally:
        signal.signal(signal.SIGTERM, previous)
        interrupts.clear()


# --- the supervisord client leaves nothing for a finalizer ---------------------------------------------------


class _UnixXMLRPCServer(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    """A stand-in supervisord: XML-RPC over HTTP/1.1 (keep-alive, as supervisord answers) on a Unix socket."""

    address_family = socket.AF_UNIX
    daemon_threads = True
    allow_reuse_address = False


class _KeepAlive(SimpleXMLRPCRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = False  # a Unix socket has no TCP options


@pytest.fixture
def supervisord(tmp_path: Path) -> Iterator[Supervisor]:
    """A :class:`Supervisor` client talking to a fake supervisord (real HTTP over a real Unix socket)."""
    state = StateDir(tmp_path)
    server = _UnixXMLRPCServer(str(state.path("supervisor.sock")), _KeepAlive, logRequests=False)
    programs = {"replica-0": {"name": "replica-0", "statename": "RUNNING", "pid": 4242}}
    server.register_function(lambda: list(programs.values()), "supervisor.getAllProcessInfo")
    server.register_function(lambda name: programs[name], "supervisor.getProcessInfo")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Supervisor(state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def _finalizers_watched() -> Iterator[list[str]]:
    """What the block's leftovers ran in their finalizers: an I/O object's ``close()`` called by its finalizer
    (CPython marks it ``_finalizing``), an unclosed socket's warning (it runs ``socket.__repr__``). A signal
    handler's exception raised there would be dropped."""
    ran: list[str] = []
    gc.collect()  # what earlier tests of this worker left in reference cycles is theirs, not the block's (an
    # unclosed AF_UNIX socket of another test, collected inside the block, once failed this in a make test)

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_name == "close":
            owner = frame.f_locals.get("self")
            if getattr(owner, "__dict__", {}).get("_finalizing"):
                ran.append(f"{type(owner).__name__}.close() in its finalizer")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        sys.setprofile(profile)
        try:
            yield ran
            gc.collect()  # leftovers in reference cycles too
        finally:
            sys.setprofile(None)
    ran += [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def test_a_supervisor_call_leaves_no_response_or_socket_for_a_finalizer(supervisord: Supervisor) -> None:
    with _finalizers_watched() as ran:
        for _ in range(3):
            assert list(supervisord.processes()) == ["replica-0"]
            assert supervisord.info("replica-0")["pid"] == 4242
    assert ran == []
