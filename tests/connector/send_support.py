"""Support for send-path tests: queues as template.yaml declares them, pre-paired sessions, real accepts,
the events consumer applied to the rows, and the deliveries the sandbox network journaled."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from connector.engines.base import Engine, SessionInfo
from connector.engines.catalog import EngineCatalog
from connector.engines.events import Emit
from connector.engines.keys import KeyStore
from connector.engines.sandbox import SandboxEngine, store_pairing
from connector.engines.sandbox_network import SandboxNetwork, read_journal
from connector.keystore import TableKeyStore
from connector.leases import Leases, LeaseTimes, session_lease_key
from connector.shards import command_dlq_name, command_queue_name
from tests.connector.conftest import SHARDS, World, sealed_adapters
from wagate import wiring
from wagate.adapters.local.file_crypto import FileCrypto
from wagate.adapters.local.sqlite_queue import QueueDefinition, SqliteQueues
from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.compose import services
from wagate.domain.messages import Message
from wagate.services.messages import SendRequest


def send_queue_definitions(shards: int = SHARDS, *, visibility: int = 30) -> dict[str, QueueDefinition]:
    """The connector's queues as template.yaml declares them: a DLQ per shard, maxReceiveCount 5."""
    definitions = [
        QueueDefinition("EventsDLQ", fifo=True),
        QueueDefinition(
            "EventsQueue", fifo=True, visibility_timeout=visibility, dlq="EventsDLQ", max_receives=5
        ),
    ]
    for n in range(shards):
        definitions.append(QueueDefinition(command_dlq_name(n), fifo=True))
        definitions.append(
            QueueDefinition(
                command_queue_name(n),
                fifo=True,
                visibility_timeout=visibility,
                dlq=command_dlq_name(n),
                max_receives=5,
                content_based_dedup=False,
            )
        )
    return {d.name: d for d in definitions}


def make_send_world(data_dir: Path) -> World:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    crypto = FileCrypto(data_dir / "master.key")
    table, queues = sealed_adapters(
        SqliteTable(data_dir / "table.db"),
        SqliteQueues(data_dir / "queues.db", send_queue_definitions()),
        crypto,
    )
    return World(data_dir=data_dir, table=table, queues=queues, crypto=crypto)


def deps_of(world: World) -> wiring.Deps:
    return wiring.Deps(world.settings, world.table, world.queues, world.crypto, None, world.clock)


async def prepair(world: World, session_id: str, tenant_id: str = "ten_test") -> None:
    """Store the credentials a QR scan would leave, so the session logs in at once when it starts."""
    leases = Leases(world.table, world.clock, "test-seed")
    lease = leases.acquire(session_lease_key(tenant_id, session_id), LeaseTimes.for_ttl(60))
    assert lease is not None
    keys = TableKeyStore(world.table, world.crypto, lease, tenant_id=tenant_id, session_id=session_id)
    await store_pairing(keys, session_id, time.time())
    leases.release(lease)


def accept(world: World, session_id: str, to: str, text: str, tenant_id: str = "ten_test") -> Message:
    """POST /v1/messages minus HTTP: the row and the `send` command, exactly as the API makes them."""
    return services(deps_of(world)).messages.accept(
        tenant_id, SendRequest(session_id=session_id, to=to, text=text)
    )


def apply_events(world: World, since: int = 0) -> None:
    """What the events consumer does with what the connector reported (statuses onto the rows)."""
    world.events.collect()
    events = services(deps_of(world)).events
    for event in world.events.events[since:]:
        events.handle(event.model_dump_json())


def catalog(
    world: World, engine: type[SandboxEngine] = SandboxEngine
) -> tuple[EngineCatalog, SandboxNetwork]:
    """Sandbox engines (or a subclass) on a network the test can look at."""
    config = world.config()
    network = SandboxNetwork(world.journal, poll_seconds=0.1)

    def build(session: SessionInfo, keys: KeyStore, emit: Emit) -> Engine:
        return engine(session, keys, emit, network=network, settings=config.sandbox, clock=world.clock)

    return EngineCatalog({"sandbox": build}, closers=[network.close]), network


def deliveries(journal: Path) -> list[dict[str, Any]]:
    """Every delivery the sandbox network journaled, in order."""
    return [record for record in read_journal(journal) if record["op"] == "deliver"]


def delivery_counts(journal: Path) -> tuple[Counter[str], Counter[str]]:
    """(raw sends per WhatsApp id, deliveries each recipient kept per id)."""
    records = deliveries(journal)
    raw = Counter(str(r["id"]) for r in records)
    kept = Counter(str(r["id"]) for r in records if not r["duplicate"])
    return raw, kept
