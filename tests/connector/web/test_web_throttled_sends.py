"""Sends WhatsApp throttles, through the whole connector (command queue, lanes, claims, pacing) and the real
web engine over TLS against the strict fake edge, whose lookup budgets answer the real 429 rate-overlimit.

A send whose device-list lookup is refused is not failed: the row goes back to `queued`, the lane waits out
the engine's hold and the send goes once WhatsApp answers again, in order with the session's later sends
and exactly once on the recipient's phone (the same WhatsApp id every try). A send still throttled when it
would be older than `throttled_send_max_age_seconds` fails `rate_limited`, and the CRM's webhook says so.
Holds are configured short (tenths of a second) so nothing waits a real minute; nothing asserts timings.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector import claims
from connector.app import Connector
from connector.engines.base import SessionInfo
from connector.engines.catalog import EngineCatalog
from connector.engines.events import Connected, EngineEvent, IncomingMessage
from connector.engines.keys import KeyNamespace
from connector.engines.web.creds import CREDS_ID
from connector.engines.web.engine import WebEngine, web_engine_factory
from connector.engines.web.settings import WebSettings
from connector.keystore import TableKeyStore
from connector.leases import Leases, LeaseTimes, session_lease_key
from local.template import load_template
from tests.connector.conftest import World, sealed_adapters
from tests.connector.send_support import accept, apply_events, deps_of, send_queue_definitions
from tests.fakes.whatsapp_edge import EdgeConfig, FakeEdge
from tests.fakes.whatsapp_edge.linked import LinkedDevice, link_device
from wagate.adapters.local.file_crypto import FileCrypto
from wagate.adapters.local.sqlite_queue import SqliteQueues
from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.compose import services
from wagate.domain.events import CommandType, EventType
from wagate.domain.pacing import Pacing
from wagate.services.crm_webhooks import NewWebhook

ALICE, BOB = "15550001111", "15550002222"  # our web session's number; the recipient
TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
SENT, STATUS = EventType.MESSAGE_SENT, EventType.MESSAGE_STATUS


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The connector's queues plus the CRM webhooks queue (the events consumer queues deliveries there)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, mode=0o700)
    definitions = send_queue_definitions()
    webhooks = load_template(TEMPLATE).queue_definitions()
    definitions.update({name: d for name, d in webhooks.items() if name.startswith("Webhooks")})
    crypto = FileCrypto(data_dir / "master.key")
    table, queues = sealed_adapters(
        SqliteTable(data_dir / "table.db"), SqliteQueues(data_dir / "queues.db", definitions), crypto
    )
    w = World(data_dir=data_dir, table=table, queues=queues, crypto=crypto)
    yield w
    w.queues.close()
    w.table.close()


@dataclass
class Phone:
    """The recipient: a pre-linked WebEngine of its own number, keeping what arrives."""

    engine: WebEngine
    task: asyncio.Task[Any]
    events: list[EngineEvent] = field(default_factory=list)

    def texts(self) -> list[str | None]:
        return [e.text for e in self.events if isinstance(e, IncomingMessage)]


async def _phone(edge: FakeEdge, settings: WebSettings, phone: str) -> Phone:
    device = link_device(phone)
    edge.provision(device.edge_record)
    events: list[EngineEvent] = []

    async def emit(event: EngineEvent) -> None:
        events.append(event)

    session = SessionInfo("ten_phone", f"ses_{phone}", "web")
    engine = WebEngine(session, await device.keys(session.session_id), emit, settings=settings)
    running = Phone(engine, asyncio.get_running_loop().create_task(engine.run()), events)
    await _until(lambda: any(isinstance(e, Connected) for e in events), "the recipient connected")
    return running


async def _store_keys(world: World, session_id: str, device: LinkedDevice) -> None:
    """What a QR scan leaves in the table: the linked device's credentials and its uploaded prekeys."""
    leases = Leases(world.table, world.clock, "test-seed")
    lease = leases.acquire(session_lease_key("ten_test", session_id), LeaseTimes.for_ttl(60))
    assert lease is not None
    store = TableKeyStore(world.table, world.crypto, lease, tenant_id="ten_test", session_id=session_id)
    await store.put(KeyNamespace.CREDS, {CREDS_ID: device.creds.to_bytes()})
    await store.put(KeyNamespace.PRE_KEY, {str(k): pair for k, pair in device.pre_keys.items()})
    leases.release(lease)


async def _until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)
    assert check(), what


def _run(
    world: World,
    scenario: Callable[[FakeEdge, str, Phone], Awaitable[None]],
    *,
    holds: dict[str, float],
    **config: Any,
) -> None:
    """`scenario(edge, session, bob)` with our web session connected through a real connector."""

    async def main() -> None:
        async with FakeEdge(EdgeConfig()) as edge:
            settings = WebSettings(
                url=edge.url,
                ca_file=edge.ca_file,
                wa_version_url=edge.version_url,
                noise_root_key=edge.root_public,
                proxy="none",
                iq_timeout_seconds=5,
                connect_timeout_seconds=5,
                rate_limit_quiet_seconds=60.0,
                **holds,
            )
            bob = await _phone(edge, settings, BOB)
            ours = link_device(ALICE)
            edge.provision(ours.edge_record)
            session = world.add_session(provider="web")
            await _store_keys(world, session, ours)
            engines = EngineCatalog({"web": web_engine_factory(settings)})
            connector = Connector(world, world.config(**config), owner_id="c1", engines=engines)
            await connector.start()
            try:
                world.command(CommandType.CONNECT, session)
                await world.events.wait_for(session, EventType.CONNECTION_SUCCESS, timeout=30)
                await scenario(edge, session, bob)
            finally:
                await connector.stop()
                await bob.engine.stop()
                await asyncio.wait_for(bob.task, 10)
            assert edge.violations == [], edge.violations
            assert edge.unhandled == [], edge.unhandled

    asyncio.run(main())
    world.events.collect()


def _failures(world: World, session: str, since: int) -> list[Any]:
    return [e for e in world.events.of(session, STATUS, since=since) if e.data.get("status") == "failed"]


def _refusals(edge: FakeEdge) -> int:
    return len(edge.events_of("rate-overlimit"))


def test_a_send_whatsapp_throttles_stays_queued_and_goes_after_the_hold_in_order_once(world: World) -> None:
    ids: list[str] = []

    async def scenario(edge: FakeEdge, session: str, bob: Phone) -> None:
        edge.limits.set("usync", 0, 60.0)  # WhatsApp refuses this account's every lookup for now
        first = accept(world, session, f"+{BOB}", "uno")
        second = accept(world, session, f"+{BOB}", "dos")
        ids.extend([first.id, second.id])
        since = world.events.mark()
        throttled = await world.events.wait_for(
            session, EventType.SESSION_STATUS, where=lambda e: e.data.get("reason") == "rate_limited"
        )
        assert "device_list" in throttled[0].data["detail"]

        def put_back() -> bool:
            row = claims.read(world.table, "ten_test", first.id)
            return row is not None and row["status"] == "queued" and int(row.get("throttled", 0)) >= 1

        await _until(put_back, "the throttled send is queued again, not failed")
        row = claims.read(world.table, "ten_test", first.id)
        assert row is not None and row["last_error"]["code"] == "rate_limited"
        assert int(row.get("failures", 0)) == 0  # a hold is not a failed try
        assert claims.read(world.table, "ten_test", second.id)["status"] == "queued"  # type: ignore[index]
        assert bob.texts() == [] and _failures(world, session, since) == []

        edge.limits.set("usync", 10, 60.0)  # the window resets: WhatsApp answers again
        wa_ids = []
        for message_id in ids:
            [sent] = await world.events.wait_for(
                session, SENT, where=lambda e, m=message_id: e.data["message_id"] == m, timeout=30
            )
            wa_ids.append(sent.data["provider_message_id"])
        await _until(lambda: len(bob.texts()) >= 2, "both messages reached the recipient")
        await world.events.settle(0.5)  # a duplicate would land by now
        assert bob.texts() == ["uno", "dos"]  # in the order accepted, each once
        relayed = [e.detail.split()[0] for e in edge.events_of("message")]
        assert [relayed.count(wa_id) for wa_id in wa_ids] == [1, 1]  # and once on the wire
        assert _failures(world, session, since) == []
        assert _refusals(edge) >= 1
        # The retried send's lookup, answered, ended the episode (engines/web/throttle.py).
        await world.events.wait_for(
            session, EventType.SESSION_STATUS, where=lambda e: e.data.get("ends") == "rate_limited"
        )

    _run(
        world,
        scenario,
        holds={"rate_limit_hold_seconds": 0.4, "rate_limit_max_hold_seconds": 0.8},
        pacing=Pacing.off(),
    )
    apply_events(world)
    rows = [claims.read(world.table, "ten_test", message_id) for message_id in ids]
    assert [r["status"] in ("sent", "delivered") for r in rows if r is not None] == [True, True]
    first = rows[0]
    assert first is not None and int(first["attempts"]) >= 2 and int(first["throttled"]) >= 1
    sent = [e for e in world.events.events if e.type == SENT]
    assert sorted(e.data["message_id"] for e in sent) == sorted(ids)  # one message_sent each


def test_a_group_send_whose_group_read_is_throttled_goes_after_the_hold(world: World) -> None:
    async def scenario(edge: FakeEdge, session: str, bob: Phone) -> None:
        group = edge.create_group("Clinic", ALICE, [BOB])  # new to our engine: it must read the group
        edge.limits.set("w:g2", 0, 60.0)
        message = accept(world, session, str(group.jid), "Recordatorio: mañana a las 10")
        throttled = await world.events.wait_for(
            session, EventType.SESSION_STATUS, where=lambda e: e.data.get("reason") == "rate_limited"
        )
        assert "group_metadata" in throttled[0].data["detail"]
        edge.limits.set("w:g2", 10, 60.0)
        await world.events.wait_for(
            session, SENT, where=lambda e: e.data["message_id"] == message.id, timeout=30
        )
        await _until(lambda: len(bob.texts()) >= 1, "the member got the group message")
        await world.events.settle(0.5)
        assert bob.texts() == ["Recordatorio: mañana a las 10"]
        assert _failures(world, session, 0) == [] and _refusals(edge) >= 1

    _run(
        world,
        scenario,
        holds={"rate_limit_hold_seconds": 0.4, "rate_limit_max_hold_seconds": 0.8},
        pacing=Pacing.off(),
    )


def test_a_send_still_throttled_past_its_age_limit_fails_rate_limited_with_its_webhook(
    world: World,
) -> None:
    settings = world.settings.model_copy(update={"webhooks_allow_http": True, "webhooks_allow_private": True})
    deps = dataclasses.replace(deps_of(world), settings=settings)
    hook = services(deps).webhooks.create(
        "ten_test", NewWebhook(url="http://127.0.0.1:9/crm", events=["message_status"])
    )
    failed_id: list[str] = []

    async def scenario(edge: FakeEdge, session: str, bob: Phone) -> None:
        edge.limits.set("usync", 0, 60.0)  # and it stays so
        message = accept(world, session, f"+{BOB}", "hola")
        failed_id.append(message.id)
        [failed] = await world.events.wait_for(
            session, STATUS, where=lambda e: e.data.get("message_id") == message.id, timeout=30
        )
        assert (failed.data["status"], failed.data["reason"]) == ("failed", "rate_limited")
        assert failed.data["retryable"] is True and "throttled_send_max_age_seconds" in failed.data["detail"]
        assert bob.texts() == [] and world.events.of(session, SENT) == []
        assert _refusals(edge) >= 1

    _run(
        world,
        scenario,
        holds={"rate_limit_hold_seconds": 0.3, "rate_limit_max_hold_seconds": 0.6},
        throttled_send_max_age_seconds=1.5,
    )
    apply_events(world)  # the events consumer: the row fails and the CRM's delivery is queued
    failed = services(deps).messages.get("ten_test", failed_id[0])
    assert failed.status.value == "failed" and failed.error is not None
    assert (failed.error.code, failed.error.retryable) == ("rate_limited", True)
    deliveries, _ = services(deps).deliveries.list("ten_test", hook.id)
    [told] = [d.payload["data"] for d in deliveries if d.payload["type"] == "message_status"]
    assert (told["messageId"], told["status"]) == (failed_id[0], "failed")
    assert (told["error"]["code"], told["error"]["retryable"]) == ("rate_limited", True)
