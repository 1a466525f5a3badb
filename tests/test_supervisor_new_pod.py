"""A rollout's replica is a new pod, and a new pod's crash loop counts from zero: on a supervisord of its own, a
program stopped while backing off (a rollout undo of a crash-looping release) and replaced crashes its full
``startretries`` again before supervisord gives up on it. With a plain stop and start supervisord kept its count, and
the next release's first crash was FATAL at once (a bench trial's rollout stalled at that replica)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gameday.state import StateDir
from gameday.targets.local.programs import Program, supervisor_config
from gameday.targets.local.supervisor import Supervisor
from tests.helpers import wait_for

RETRIES = 3  # FATAL at the fourth crash in a row; a back-off of 3 s after the third, for the test to stop it in


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    root = Path(tempfile.mkdtemp(dir="/tmp", prefix="gd-sv-"))  # short: the socket's path has a length limit
    state = StateDir(root).ensure()
    crasher = Program(name="crasher", kind="replica", command=[sys.executable, "-c", "raise SystemExit(1)"], port=0,
                      autostart=False, startsecs=5, startretries=RETRIES)
    state.path("supervisord.conf").write_text(supervisor_config(state, [crasher]))
    sv = Supervisor(state)
    sv.launch({})
    try:
        wait_for(sv.alive, 15, what="supervisord answering")
        yield sv
    finally:
        sv.shutdown()
        wait_for(lambda: sv.pid() is None, 15, what="supervisord gone")
        shutil.rmtree(root, ignore_errors=True)


def _exits(sv: Supervisor) -> int:
    return (sv.state.logs / "supervisord.log").read_text().count("exited: crasher")


def _stopped_while_backing_off(sv: Supervisor) -> None:
    """Three crashes, then stopped during the back-off before the fourth start: supervisord's count is at 3."""
    sv.start("crasher")
    wait_for(lambda: _exits(sv) == RETRIES, 20, what=f"{RETRIES} crashes")
    assert sv.info("crasher")["statename"] == "BACKOFF"  # its next start is RETRIES s away
    sv.stop("crasher")


def test_a_replaced_program_crashes_its_full_retries_before_it_is_given_up(supervisor: Supervisor) -> None:
    _stopped_while_backing_off(supervisor)
    supervisor.replace("crasher")
    supervisor.start("crasher")
    wait_for(lambda: supervisor.info("crasher")["statename"] == "FATAL", 20, what="FATAL")
    assert _exits(supervisor) - RETRIES == RETRIES + 1, "a new pod crashes 1 + startretries times, then is given up"


def test_a_program_only_stopped_keeps_its_count_which_is_why_a_rollout_replaces_it(supervisor: Supervisor) -> None:
    """What the rollout did before: the count survives a stop and start, so one crash is FATAL."""
    _stopped_while_backing_off(supervisor)
    supervisor.start("crasher")
    wait_for(lambda: supervisor.info("crasher")["statename"] == "FATAL", 20, what="FATAL")
    assert _exits(supervisor) - RETRIES == 1
