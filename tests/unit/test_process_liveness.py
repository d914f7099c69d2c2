"""Proof that a row's writer is gone: only for this host and boot, with pid AND start time checked."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time

from wagate import process_liveness
from wagate.process_liveness import ProcessIdentity, is_gone, row_writer_gone, writer_of


def identity_of(process: subprocess.Popen[bytes]) -> ProcessIdentity:
    me = process_liveness.current()
    started = process_liveness._start_ticks(process.pid)
    assert started is not None
    return dataclasses.replace(me, pid=process.pid, started=started)


def test_this_process_and_a_live_one_are_not_gone() -> None:
    assert not is_gone(process_liveness.current())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not is_gone(identity_of(child))
    finally:
        child.kill()
        child.wait()


def test_a_killed_process_is_gone_even_before_it_is_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    writer = identity_of(child)
    child.kill()
    # Not waited for yet: a zombie runs no code, so it is gone.
    deadline = time.monotonic() + 5
    while not is_gone(writer) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert is_gone(writer)
    child.wait()
    assert is_gone(writer)


def test_a_zombie_is_told_apart_from_a_running_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    assert not process_liveness.is_zombie(child.pid)
    child.kill()
    deadline = time.monotonic() + 5
    while not process_liveness.is_zombie(child.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process_liveness.is_zombie(child.pid)  # killed, not yet reaped
    child.wait()
    assert not process_liveness.is_zombie(child.pid)  # reaped: no such process at all


def test_a_reused_pid_is_not_its_predecessor() -> None:
    me = process_liveness.current()
    assert is_gone(dataclasses.replace(me, started=me.started - 1))


def test_an_earlier_boot_is_gone_and_another_host_is_never_proven_gone() -> None:
    me = process_liveness.current()
    assert is_gone(dataclasses.replace(me, boot="an-earlier-boot"))
    assert not is_gone(dataclasses.replace(me, host="another-host", pid=999_999_999))


def test_rows_without_or_with_broken_identity_wait_for_their_expiry() -> None:
    assert writer_of(None) is None and not row_writer_gone({"owner": "c1"})
    broken = {**process_liveness.current().attributes(), "owner_pid": "not a pid"}
    assert writer_of(broken) is None and not row_writer_gone(broken)
    assert writer_of(process_liveness.current().attributes()) == process_liveness.current()
