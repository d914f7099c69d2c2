"""Messages in flight to a process that was killed are visible again at once, not after their timeout.

Another process receives from the same SQLite queue file (visibility 300 s) and holds the messages; once it
is killed, this process receives them within a couple of seconds, with their receive count raised. While
it lives, nothing it holds is handed out again. FIFO groups are unblocked the same way.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wagate.adapters.local.sqlite_queue import QueueDefinition, SqliteQueues

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = {
    "Work": QueueDefinition("Work", fifo=False, visibility_timeout=300),
    "Lanes.fifo": QueueDefinition("Lanes.fifo", fifo=True, visibility_timeout=300),
}
# Receives every message of both queues, says so, and holds them until killed.
HOLDER = """
import sys, time
from pathlib import Path
from wagate.adapters.local.sqlite_queue import SqliteQueues
queues = SqliteQueues(Path(sys.argv[1]))
held = [m for name in ("Work", "Lanes.fifo") for m in queues.get(name).receive(max_messages=10)]
print(len(held), flush=True)
time.sleep(600)
"""


@pytest.fixture
def queues(tmp_path: Path) -> Iterator[SqliteQueues]:
    queues = SqliteQueues(tmp_path / "queues.db", DEFINITIONS)
    yield queues
    queues.close()


@pytest.fixture
def holder(tmp_path: Path, queues: SqliteQueues) -> Iterator[subprocess.Popen[str]]:
    for n in range(3):
        queues.get("Work").send(f"job {n}")
    queues.get("Lanes.fifo").send("first", group_id="lane-1")
    queues.get("Lanes.fifo").send("second", group_id="lane-1")
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "queues.db")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "5"
    yield process
    process.kill()
    process.wait(10)


def test_nothing_held_by_a_live_process_is_handed_out_again(
    queues: SqliteQueues, holder: subprocess.Popen[str]
) -> None:
    assert queues.get("Work").receive(max_messages=10, wait_seconds=1.5) == []
    assert queues.get("Lanes.fifo").receive(max_messages=10, wait_seconds=0.5) == []  # lane-1 is blocked


def test_a_killed_receivers_messages_come_back_at_once(
    queues: SqliteQueues, holder: subprocess.Popen[str]
) -> None:
    holder.kill()
    holder.wait(10)
    started = time.monotonic()
    work = queues.get("Work").receive(max_messages=10, wait_seconds=5)
    lanes = queues.get("Lanes.fifo").receive(max_messages=10, wait_seconds=5)
    assert time.monotonic() - started < 4  # the visibility timeout is 300 s
    assert sorted(m.body for m in work) == ["job 0", "job 1", "job 2"]
    assert all(m.receive_count == 2 for m in work)
    assert [(m.body, m.receive_count) for m in lanes] == [("first", 2), ("second", 2)]  # still in order
