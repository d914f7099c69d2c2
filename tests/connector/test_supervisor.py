"""The supervisor: one session's crash stays its own, and shards move between connectors safely."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from connector.app import Connector
from connector.engines.base import Engine, SessionInfo
from connector.engines.catalog import EngineCatalog
from connector.engines.events import Emit
from connector.engines.exits import Exit
from connector.engines.keys import KeyStore
from connector.engines.sandbox import SandboxEngine
from connector.engines.sandbox_network import SandboxNetwork, read_journal
from tests.connector.conftest import World, assert_never_two_sockets, sessions_in_every_shard
from wagate.domain.events import CommandType, EventType


def crashing_catalog(world: World, crashes: dict[str, int]) -> EngineCatalog:
    """Sandbox engines, except that the sessions in `crashes` raise from run() that many times first."""
    config = world.config()
    network = SandboxNetwork(world.journal, poll_seconds=0.1)

    class CrashingEngine(SandboxEngine):
        async def run(self) -> Exit:
            if crashes.get(self.session.session_id, 0) > 0:
                crashes[self.session.session_id] -= 1
                raise RuntimeError("a bug in the engine")
            return await super().run()

    def build(session: SessionInfo, keys: KeyStore, emit: Emit) -> Engine:
        return CrashingEngine(
            session, keys, emit, network=network, settings=config.sandbox, clock=world.clock
        )

    return EngineCatalog({"sandbox": build}, closers=[network.close])


def test_a_crashing_engine_is_restarted_without_touching_other_sessions(world: World) -> None:
    crashy, healthy = world.add_session(), world.add_session()

    async def scenario() -> None:
        connector = Connector(
            world, world.config(), owner_id="c1", engines=crashing_catalog(world, {crashy: 3})
        )
        await connector.start()
        try:
            world.command(CommandType.CONNECT, crashy)
            world.command(CommandType.CONNECT, healthy)
            crashes = await world.events.wait_for(
                crashy, EventType.CONNECTION_LOST, count=3, where=lambda e: e.data["reason"] == "crashed"
            )
            assert all(e.data["retry_in"] is not None for e in crashes)
            await world.events.wait_for(crashy, EventType.QR_CODE)  # then it runs normally
            await world.events.wait_for(healthy, EventType.QR_CODE)
            world.command(CommandType.SANDBOX, crashy, action="scan")
            world.command(CommandType.SANDBOX, healthy, action="scan")
            await world.events.wait_for(crashy, EventType.CONNECTION_SUCCESS)
            await world.events.wait_for(healthy, EventType.CONNECTION_SUCCESS)
        finally:
            await connector.stop()

    asyncio.run(scenario())
    world.events.collect()
    # The healthy session saw one connection attempt, then the restart WhatsApp asks for after pairing.
    attempts = [
        e for e in world.events.of(healthy, EventType.SESSION_STATUS) if e.data["status"] == "connecting"
    ]
    assert [e.data.get("paired", False) for e in attempts] == [False, True, False]
    assert [e.data["reason"] for e in world.events.of(healthy, EventType.CONNECTION_LOST)] == [
        "connector_stopped"
    ]


async def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_shards_split_between_connectors_and_move_back_without_a_new_qr(world: World) -> None:
    sessions = sessions_in_every_shard(world, per_shard=2)

    async def scenario() -> None:
        first = world.connector("c1")
        await first.start()
        await wait_until(lambda: first.supervisor.shards == {0, 1, 2, 3})
        for session in sessions:
            await world.pair(session)
        paired_at = world.events.mark()

        second = world.connector("c2")
        await second.start()  # c1 hands two shards over; their sessions reconnect on c2
        await wait_until(lambda: len(first.supervisor.shards) == 2 and len(second.supervisor.shards) == 2)
        assert first.supervisor.shards.isdisjoint(second.supervisor.shards)
        await wait_until(lambda: len(first.supervisor.session_states()) == 4)
        await wait_until(lambda: len(second.supervisor.session_states()) == 4)
        for session in second.supervisor.session_states():
            await world.events.wait_for(session, EventType.CONNECTION_SUCCESS, since=paired_at)

        moved_back_at = world.events.mark()
        on_first = list(first.supervisor.session_states())
        await first.stop()  # graceful: c2 takes every shard, and every session
        await wait_until(lambda: second.supervisor.shards == {0, 1, 2, 3})
        for session in on_first:
            await world.events.wait_for(session, EventType.CONNECTION_SUCCESS, since=moved_back_at)
        await wait_until(lambda: len(second.supervisor.session_states()) == len(sessions))
        assert all(world.events.of(s, EventType.QR_CODE, since=paired_at) == [] for s in sessions)
        await second.stop()

    asyncio.run(scenario())
    assert_never_two_sockets(read_journal(world.journal))


def test_a_session_whose_lease_is_taken_closes_its_socket_and_goes_quiet(world: World) -> None:
    session = world.add_session()

    async def scenario() -> None:
        connector = world.connector("c1")
        await connector.start()
        try:
            await world.pair(session)
            stolen_at = world.events.mark()
            # Another connector takes the session (as after a partition): a newer fence, a valid lease.
            world.table.update(
                f"T#ten_test#LEASE#{session}",
                "LEASE",
                set={"owner": "intruder", "lease_until": time.time() + 60},
                add={"fence": 1},
            )
            await wait_until(lambda: _socket_closed(world, session))
            await world.events.settle(1.0)  # renewals and discovery rounds: it must not come back
            assert world.events.of(session, since=stolen_at) == []
            assert _socket_closed(world, session)
        finally:
            await connector.stop()

    asyncio.run(scenario())
    records = [r for r in read_journal(world.journal) if r["session"].endswith(session)]
    assert records[-1]["op"] == "close" and [r["op"] for r in records].count("open") == 2  # pair + restart


def _socket_closed(world: World, session: str) -> bool:
    records = [r for r in read_journal(world.journal) if r["session"].endswith(session)]
    return bool(records) and records[-1]["op"] == "close"


def test_a_session_replaced_by_a_socket_outside_wagate_is_reported_down_not_left_connected(
    world: World,
) -> None:
    """WhatsApp says another socket took the device (440/conflict). No other connector holds the lease, so
    nobody else will report: the runner says the session is down (reason `replaced`, no retry)."""
    session = world.add_session()
    replaced_once = {session: 1}
    config = world.config()
    network = SandboxNetwork(world.journal, poll_seconds=0.1)

    class ReplacedEngine(SandboxEngine):
        async def run(self) -> Exit:
            if replaced_once.get(self.session.session_id, 0) > 0:
                replaced_once[self.session.session_id] -= 1
                return Exit.replaced("another connection for this device took over (conflict)")
            return await super().run()

    def build(info: SessionInfo, keys: KeyStore, emit: Emit) -> Engine:
        return ReplacedEngine(info, keys, emit, network=network, settings=config.sandbox, clock=world.clock)

    catalog = EngineCatalog({"sandbox": build}, closers=[network.close])

    async def scenario() -> None:
        connector = Connector(world, config, owner_id="c1", engines=catalog)
        await connector.start()
        try:
            world.command(CommandType.CONNECT, session)
            [lost] = await world.events.wait_for(session, EventType.CONNECTION_LOST)
            assert lost.data["reason"] == "replaced" and lost.data["retry_in"] is None
            assert "took over" in lost.data["detail"]
        finally:
            await connector.stop()

    asyncio.run(scenario())
