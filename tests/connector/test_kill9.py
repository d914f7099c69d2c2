"""Two `python -m connector` processes on one data dir; one is killed -9; the other takes over its sessions.

Proves: shards split between live connectors; a dead connector's sessions come back connected on the
survivor from their stored keys (no new QR code); and, from the sandbox socket journal, that no two
sockets of one session were ever open at the same time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from connector.engines.sandbox_network import read_journal
from connector.leases import session_lease_key, shard_lease_key
from tests.connector.conftest import (
    SHARDS,
    World,
    assert_never_two_sockets,
    make_world,
    sessions_in_every_shard,
)
from wagate.domain.events import EventType

ROOT = Path(__file__).resolve().parents[2]


def connector_env(data_dir: Path, owner: str) -> dict[str, str]:
    return {
        **os.environ,
        "WAGATE_BACKEND": "local",
        "WAGATE_DATA_DIR": str(data_dir),
        "WAGATE_CONNECTOR_ID": owner,
        "WAGATE_SHARDS": str(SHARDS),
        "WAGATE_SHARD_LEASE_SECONDS": "1.5",
        "WAGATE_SESSION_LEASE_SECONDS": "3",
        # Sandbox sessions only: the test must not depend on the web engine's generated protobufs.
        "WAGATE_REQUIRE_WEB_ENGINE": "false",
        "WAGATE_DISCOVERY_SECONDS": "0.5",
        "WAGATE_COMMAND_WAIT_SECONDS": "0.2",
        "WAGATE_COMMAND_RETRY_SECONDS": "1",
        "WAGATE_BACKOFF_BASE_SECONDS": "0.05",
        "WAGATE_BACKOFF_CAP_SECONDS": "0.2",
        "WAGATE_SANDBOX_QR_FIRST_SECONDS": "30",
        "WAGATE_SANDBOX_QR_NEXT_SECONDS": "30",
        "WAGATE_LOG_LEVEL": "INFO",
    }


class Processes:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, owner: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{owner}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "connector"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.running[owner] = process
        return process

    def logs(self) -> str:
        return "\n".join(f"--- {o}\n{(self.tmp / f'{o}.log').read_text()[-4000:]}" for o in self.running)

    def kill_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    yield running
    running.kill_all()


def shard_owners(world: World) -> dict[int, str]:
    owners = {}
    for shard in range(SHARDS):
        key = shard_lease_key(shard)
        row = world.table.get(key.pk, key.sk)
        if row and row.get("owner") and row["lease_until"] > time.time():
            owners[shard] = row["owner"]
    return owners


def session_owner(world: World, session_id: str) -> str | None:
    key = session_lease_key("ten_test", session_id)
    row = world.table.get(key.pk, key.sk)
    return row.get("owner") if row else None


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.1)


def test_kill_9_one_connector_and_the_other_takes_over(tmp_path: Path, processes: Processes) -> None:
    data_dir = tmp_path / "data"
    # Creates the table, the master key and the queues first; the queue file records their definitions.
    world = make_world(data_dir)
    sessions = sessions_in_every_shard(world, per_shard=2)
    doomed = processes.start("c1", connector_env(data_dir, "c1"))
    survivor = processes.start("c2", connector_env(data_dir, "c2"))

    async def scenario() -> float:
        await wait_until(
            lambda: sorted(shard_owners(world).values()) == ["c1", "c1", "c2", "c2"], "shards are split"
        )
        for session in sessions:
            await world.pair(session)
        await wait_until(
            lambda: {session_owner(world, s) for s in sessions} == {"c1", "c2"}, "sessions are split"
        )
        on_doomed = [s for s in sessions if session_owner(world, s) == "c1"]

        since = world.events.mark()
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        killed_at = time.time()

        for session in on_doomed:
            await world.events.wait_for(session, EventType.CONNECTION_SUCCESS, since=since, timeout=30)
        await wait_until(lambda: set(shard_owners(world).values()) == {"c2"}, "c2 holds every shard")
        assert {session_owner(world, s) for s in sessions} == {"c2"}
        assert all(world.events.of(s, EventType.QR_CODE, since=since) == [] for s in sessions)
        return killed_at

    try:
        killed_at = asyncio.run(scenario())
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(30) == 0
    except BaseException:
        print(processes.logs())
        raise
    assert_never_two_sockets(read_journal(world.journal), deaths={doomed.pid: killed_at})
    # The graceful stop closed every socket and released every lease.
    records = read_journal(world.journal)
    survivor_opens = {r["socket"] for r in records if r["op"] == "open" and r["pid"] == survivor.pid}
    survivor_closes = {r["socket"] for r in records if r["op"] == "close" and r["pid"] == survivor.pid}
    assert survivor_opens == survivor_closes
    assert shard_owners(world) == {}


def test_a_restarted_connector_takes_its_sessions_back_as_soon_as_the_old_process_is_gone(
    tmp_path: Path, processes: Processes
) -> None:
    """Leases long enough that waiting for their expiry would show: 20 s for shards, 60 s for sessions."""
    data_dir = tmp_path / "data"
    world = make_world(data_dir)
    sessions = sessions_in_every_shard(world, per_shard=1)
    long_leases = {"WAGATE_SHARD_LEASE_SECONDS": "20", "WAGATE_SESSION_LEASE_SECONDS": "60"}
    doomed = processes.start("before", {**connector_env(data_dir, "before"), **long_leases})

    async def scenario() -> tuple[float, float]:
        await wait_until(lambda: len(shard_owners(world)) == SHARDS, "the first connector holds every shard")
        for session in sessions:
            await world.pair(session)
        since = world.events.mark()
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        killed_at = time.time()
        # The same host, a new process (as after `wagate serve` is restarted): it proves the old pid gone.
        processes.start("after", {**connector_env(data_dir, "after"), **long_leases})
        for session in sessions:
            await world.events.wait_for(session, EventType.CONNECTION_SUCCESS, since=since, timeout=15)
        back_at = time.time()
        await wait_until(lambda: set(shard_owners(world).values()) == {"after"}, "it holds every shard")
        assert {session_owner(world, s) for s in sessions} == {"after"}
        return killed_at, back_at

    try:
        killed_at, back_at = asyncio.run(scenario())
    except BaseException:
        print(processes.logs())
        raise
    assert back_at - killed_at < 15  # well before the 20 s shard lease, let alone the 60 s session lease
    log = (tmp_path / "after.log").read_text()
    assert f"took over shard 0 from before (at once: its pid {doomed.pid} on" in log, log[-3000:]
    assert "from before (its lease had expired)" not in log
    assert_never_two_sockets(read_journal(world.journal), deaths={doomed.pid: killed_at})
