"""Fixtures for the connector: local adapters on a temporary data dir, session rows, and an event log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.config import ConnectorConfig, SandboxSettings
from connector.shards import command_queue_name, shard_of
from wagate.adapters.local.file_crypto import FileCrypto
from wagate.adapters.local.sqlite_queue import QueueDefinition, SqliteQueues
from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.domain.events import Command, CommandType, EventType, SessionEvent
from wagate.domain.ids import new_id
from wagate.ports import Queue
from wagate.settings import Settings
from wagate.store.content_cipher import ContentCipher
from wagate.store.sealed_queues import QueueBodies, SealedQueues
from wagate.store.sealed_table import SealedTable
from wagate.store.tenant_keys import TenantKeys
from wagate.wiring import SystemClock

SHARDS = 4


def queue_definitions(shards: int = SHARDS) -> dict[str, QueueDefinition]:
    """The connector's queues as the lead's template.yaml will declare them (FIFO, with DLQs)."""
    definitions = [
        QueueDefinition("CommandDLQ", fifo=True, visibility_timeout=30),
        QueueDefinition("EventsDLQ", fifo=True, visibility_timeout=30),
        QueueDefinition("EventsQueue", fifo=True, visibility_timeout=30, dlq="EventsDLQ", max_receives=5),
    ]
    definitions += [
        QueueDefinition(
            command_queue_name(n), fifo=True, visibility_timeout=30, dlq="CommandDLQ", max_receives=50
        )
        for n in range(shards)
    ]
    return {d.name: d for d in definitions}


def fast_sandbox(journal: Path, **overrides: Any) -> SandboxSettings:
    values: dict[str, Any] = dict(
        qr_first_seconds=0.4,
        qr_next_seconds=0.2,
        qr_limit=0,
        delivered_seconds=0.02,
        read_seconds=0.02,
        reply_seconds=0.02,
        journal=journal,
        journal_poll_seconds=0.1,
    )
    values.update(overrides)
    return SandboxSettings(**values)


def fast_config(journal: Path, **overrides: Any) -> ConnectorConfig:
    """Short leases and waits: every scenario runs in well under a few seconds."""
    values: dict[str, Any] = dict(
        shards=SHARDS,
        shard_lease_seconds=1.2,
        session_lease_seconds=2.4,
        discovery_seconds=0.3,
        command_wait_seconds=0.2,
        command_retry_seconds=1,
        backoff_base_seconds=0.05,
        backoff_cap_seconds=0.2,
        stop_timeout_seconds=5,
        sandbox=fast_sandbox(journal),
    )
    values.update(overrides)
    return ConnectorConfig(**values)


class EventLog:
    """Everything the connectors published to the EventsQueue, collected as the test waits for it."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.events: list[SessionEvent] = []

    def mark(self) -> int:
        return len(self.events)

    def of(self, session_id: str, type: EventType | None = None, *, since: int = 0) -> list[SessionEvent]:
        return [
            e for e in self.events[since:] if e.session_id == session_id and (type is None or e.type == type)
        ]

    def collect(self) -> None:
        while batch := self.queue.receive(max_messages=10, wait_seconds=0.05):
            for message in batch:
                self.events.append(SessionEvent.model_validate_json(message.body))
                self.queue.delete(message.receipt)

    async def wait_for(
        self,
        session_id: str,
        type: EventType,
        *,
        since: int = 0,
        where: Callable[[SessionEvent], bool] = lambda e: True,
        count: int = 1,
        timeout: float = 15.0,
    ) -> list[SessionEvent]:
        """The first `count` matching events (waiting up to `timeout` for them). Fails the test on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.of(session_id, type, since=since) if where(e)]
            if len(found) >= count:
                return found[:count]
            if time.monotonic() > deadline:
                seen = [
                    (e.type.value, e.data.get("status"), e.data.get("reason")) for e in self.of(session_id)
                ]
                raise AssertionError(f"no {count} x {type} for {session_id}; saw {seen}")
            await asyncio.to_thread(self.collect)
            await asyncio.sleep(0.02)

    async def settle(self, seconds: float) -> None:
        """Collect whatever arrives during `seconds` (to check that something did NOT happen)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await asyncio.to_thread(self.collect)
            await asyncio.sleep(0.05)


@dataclass
class World:
    """One local installation: the adapters a connector (or several) share, plus test helpers. Its
    table and queues seal content as `wagate serve`'s and `python -m connector`'s do (wiring._seal), so
    connectors in other processes and this test read each other's rows and bodies."""

    data_dir: Path
    table: Any  # SealedTable over a SqliteTable
    queues: Any  # SealedQueues over a SqliteQueues
    crypto: FileCrypto
    clock: SystemClock = field(default_factory=SystemClock)
    shards: int = SHARDS

    def __post_init__(self) -> None:
        self.settings = Settings(backend="local", data_dir=self.data_dir)
        self.events = EventLog(self.queues.get("EventsQueue"))

    @property
    def journal(self) -> Path:
        return self.data_dir / "sandbox" / "sockets.jsonl"

    def config(self, **overrides: Any) -> ConnectorConfig:
        return fast_config(self.journal, shards=self.shards, **overrides)

    def connector(self, owner: str, **overrides: Any) -> Connector:
        return Connector(self, self.config(**overrides), owner_id=owner)

    def add_session(
        self,
        tenant_id: str = "ten_test",
        *,
        session_id: str | None = None,
        provider: str = "sandbox",
        desired: str = "running",
        status: str = "pending",
    ) -> str:
        """A session row exactly as services/sessions.py writes it."""
        session_id = session_id or new_id("ses")
        shard = shard_of(session_id, self.shards)
        now = time.time()
        self.table.put(
            {
                "pk": f"T#{tenant_id}",
                "sk": f"SESSION#{session_id}",
                "id": session_id,
                "tenant_id": tenant_id,
                "name": "test session",
                "provider": provider,
                "status": status,
                "desired": desired,
                "shard": shard,
                "gsi1pk": f"SHARD#{shard}",
                "gsi1sk": f"SESSION#{tenant_id}#{session_id}",
                "created_at": now,
                "updated_at": now,
            }
        )
        return session_id

    def command(
        self, type: CommandType, session_id: str, tenant_id: str = "ten_test", **data: Any
    ) -> Command:
        command = Command(
            type=type, tenant_id=tenant_id, session_id=session_id, data=data, issued_at=time.time()
        )
        queue = self.queues.get(command_queue_name(shard_of(session_id, self.shards)))
        queue.send(command.model_dump_json(), group_id=session_id, dedup_id=command.id)
        return command

    async def pair(self, session_id: str, tenant_id: str = "ten_test") -> SessionEvent:
        """Connect a new sandbox session, scan its first QR code, wait until it is connected."""
        self.command(CommandType.CONNECT, session_id, tenant_id)
        # Discovery may have started it before the connect command: any QR code shown so far will do.
        await self.events.wait_for(session_id, EventType.QR_CODE)
        since = self.events.mark()
        self.command(CommandType.SANDBOX, session_id, tenant_id, action="scan")
        [connected] = await self.events.wait_for(session_id, EventType.CONNECTION_SUCCESS, since=since)
        return connected

    def keys_of(self, session_id: str, tenant_id: str = "ten_test") -> list[dict[str, Any]]:
        return self.table.query(f"T#{tenant_id}#KEYS#{session_id}").items


def sealed_adapters(
    table: SqliteTable, queues: SqliteQueues, crypto: FileCrypto
) -> tuple[SealedTable, SealedQueues]:
    """The table and queues with content sealed, as wiring builds them for every local process."""
    cipher = ContentCipher(TenantKeys(table, crypto))
    return SealedTable(table, cipher), SealedQueues(queues, QueueBodies(cipher))


def make_world(data_dir: Path, shards: int = SHARDS) -> World:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    crypto = FileCrypto(data_dir / "master.key")
    table, queues = sealed_adapters(
        SqliteTable(data_dir / "table.db"),
        SqliteQueues(data_dir / "queues.db", queue_definitions(shards)),
        crypto,
    )
    return World(data_dir=data_dir, table=table, queues=queues, crypto=crypto, shards=shards)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path / "data")
    yield w
    w.queues.close()
    w.table.close()


def sessions_in_every_shard(world: World, per_shard: int, tenant_id: str = "ten_test") -> list[str]:
    """New session rows, `per_shard` of them in each shard (so every connector gets some)."""
    wanted = {n: per_shard for n in range(world.shards)}
    sessions: list[str] = []
    while any(wanted.values()):
        candidate = new_id("ses")
        shard = shard_of(candidate, world.shards)
        if wanted[shard]:
            wanted[shard] -= 1
            sessions.append(world.add_session(tenant_id, session_id=candidate))
    return sessions


def socket_intervals(
    records: list[dict[str, Any]], deaths: dict[int, float] | None = None
) -> dict[str, list[tuple[float, float, str]]]:
    """session → (opened, closed, socket) from a sandbox journal. A socket whose process was killed has
    no close record: it closed when its process died (`deaths`: pid → time), else it is still open."""
    deaths = deaths or {}
    opened: dict[str, dict[str, Any]] = {}
    intervals: dict[str, list[tuple[float, float, str]]] = {}
    for record in records:
        if record["op"] == "open":
            opened[record["socket"]] = record
        elif record["op"] == "close":
            start = opened.pop(record["socket"])
            intervals.setdefault(record["session"], []).append((start["at"], record["at"], record["socket"]))
    for socket, start in opened.items():
        end = deaths.get(start["pid"], float("inf"))
        intervals.setdefault(start["session"], []).append((start["at"], end, socket))
    return intervals


def assert_never_two_sockets(records: list[dict[str, Any]], deaths: dict[int, float] | None = None) -> None:
    assert [r for r in records if r["op"] == "replace"] == [], "a socket was replaced by a concurrent one"
    for session, spans in socket_intervals(records, deaths).items():
        spans.sort()
        for (_, closed, before), (opened, _, after) in zip(spans, spans[1:], strict=False):
            assert closed <= opened, f"{session}: socket {after} opened before {before} closed"
