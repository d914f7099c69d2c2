"""The send path in one process: claims, duplicates, cancel, takeover, retries, DLQ, pacing, first contact."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connector import claims
from connector.app import Connector
from connector.engines.base import SendResult, provider_message_id
from connector.engines.catalog import EngineCatalog
from connector.engines.errors import EngineError, NotConnected
from connector.engines.sandbox import SandboxEngine
from connector.engines.sandbox_network import BEN, UNREACHABLE_PHONE, SocketJournal
from connector.first_contacts import FirstContacts, utc_day
from connector.leases import Leases, LeaseTimes, session_lease_key
from connector.shards import command_dlq_name, command_queue_name, shard_of
from tests.connector.conftest import World
from tests.connector.send_support import (
    accept,
    apply_events,
    catalog,
    deliveries,
    delivery_counts,
    deps_of,
    make_send_world,
    prepair,
)
from wagate.compose import services
from wagate.domain.errors import ConflictError
from wagate.domain.events import Command, CommandType, EventType
from wagate.domain.pacing import Pacing

SENT, STATUS = EventType.MESSAGE_SENT, EventType.MESSAGE_STATUS
FAST_RETRIES = {"send_retry_base_seconds": 0.05, "send_retry_cap_seconds": 0.1, "pacing": Pacing.off()}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_send_world(tmp_path / "data")
    yield w
    w.queues.close()
    w.table.close()


def run(
    world: World,
    scenario: Callable[[Connector], Awaitable[Any]],
    *,
    engines: EngineCatalog | None = None,
    **config: Any,
) -> None:
    async def main() -> None:
        connector = Connector(world, world.config(**config), owner_id="c1", engines=engines)
        await connector.start()
        try:
            await scenario(connector)
        finally:
            await connector.stop()

    asyncio.run(main())
    world.events.collect()


async def connected_session(world: World) -> str:
    session = world.add_session()
    await prepair(world, session)
    return session


def sent_of(world: World, session: str, message_id: str, **kw: Any) -> Awaitable[list[Any]]:
    return world.events.wait_for(session, SENT, where=lambda e: e.data["message_id"] == message_id, **kw)


def failed_of(world: World, session: str, message_id: str) -> Awaitable[list[Any]]:
    return world.events.wait_for(session, STATUS, where=lambda e: e.data.get("message_id") == message_id)


def field(world: World, message_id: str, name: str) -> Any:
    row = claims.read(world.table, "ten_test", message_id)
    assert row is not None
    return row.get(name)


def test_a_message_is_claimed_sent_once_and_duplicate_commands_are_dropped(world: World) -> None:
    async def scenario(connector: Connector) -> None:
        session = await connected_session(world)
        message = accept(world, session, BEN.phone, "Your visit is at 10:00")
        [sent] = await sent_of(world, session, message.id)
        assert sent.data["provider_message_id"] == provider_message_id(message.id)
        row = claims.read(world.table, "ten_test", message.id)
        assert row is not None and row["status"] == "sending" and row["attempts"] == 1
        assert row["claimed_by"] == "c1" and row["claim_fence"] == sent.fence >= 1

        world.command(CommandType.SEND, session, message_id=message.id, to=BEN.phone, text="x")
        await world.events.settle(0.5)  # claimed under this fence by another command: dropped
        assert field(world, message.id, "attempts") == 1
        apply_events(world)
        assert field(world, message.id, "status") in ("sent", "delivered", "read")
        world.command(CommandType.SEND, session, message_id=message.id, to=BEN.phone, text="x")
        await world.events.settle(0.5)  # already sent: dropped
        assert len(world.events.of(session, SENT)) == 1 and field(world, message.id, "attempts") == 1

    run(world, scenario)
    raw, kept = delivery_counts(world.journal)
    assert list(raw.values()) == [1] and list(kept.values()) == [1]


def test_cancel_wins_over_a_claim_or_loses_cleanly(world: World, tmp_path: Path) -> None:
    messages = services(deps_of(world)).messages
    session = world.add_session()
    lease = Leases(world.table, world.clock, "c1").acquire(
        session_lease_key("ten_test", session), LeaseTimes.for_ttl(60)
    )
    assert lease is not None

    cancelled = accept(world, session, BEN.phone, "cancel me")
    read_before = claims.read(world.table, "ten_test", cancelled.id)
    messages.cancel("ten_test", cancelled.id)  # the CRM cancels while the connector holds an old read
    assert read_before is not None
    with pytest.raises(ConflictError):
        claims.claim(world.table, read_before, lease=lease, owner="c1", command_id="cmd_x", now=0)
    assert (
        claims.assess(claims.read(world.table, "ten_test", cancelled.id), "cmd_x", lease.fence)
        is claims.Verdict.DUPLICATE
    )

    claimed = accept(world, session, BEN.phone, "claimed first")
    row = claims.read(world.table, "ten_test", claimed.id)
    assert row is not None
    assert claims.claim(world.table, row, lease=lease, owner="c1", command_id="cmd_y", now=0) == 1
    with pytest.raises(ConflictError) as refused:
        messages.cancel("ten_test", claimed.id)
    assert refused.value.code == "not_cancellable"
    assert field(world, claimed.id, "status") == "sending"


def test_a_dead_connectors_claim_is_taken_over_and_resent_with_the_same_id(world: World) -> None:
    session = world.add_session()
    message = accept(world, session, BEN.phone, "sent just before the crash")
    wa_id = provider_message_id(message.id)
    # The dead connector claimed it at an old fence and delivered it, but died before reporting it.
    world.table.update(
        "T#ten_test",
        f"MSG#{message.id}",
        set={"status": "sending", "claimed_by": "dead", "claim_fence": 0, "claim_command": "cmd_dead"},
        add={"attempts": 1},
    )
    SocketJournal(world.journal, "dead-net").record_delivery(
        f"ten_test/{session}", "sock_dead", BEN.jid, wa_id
    )

    asyncio.run(prepair(world, session))

    async def scenario(connector: Connector) -> None:
        [sent] = await sent_of(world, session, message.id)
        assert sent.data["provider_message_id"] == wa_id and sent.data["attempts"] == 2

    run(world, scenario)
    assert [(r["id"], r["duplicate"]) for r in deliveries(world.journal)] == [(wa_id, False), (wa_id, True)]
    assert world.events.of(session, EventType.INCOMING_MESSAGE) == []  # nobody saw it twice


class _Busy(EngineError):
    is_transient = True


class FlakyEngine(SandboxEngine):
    """Raises the errors planned for a text, one per send, before sending it."""

    plan: ClassVar[dict[str, list[EngineError]]] = {}

    async def _send(self, to: str, text: str, message_id: str) -> SendResult:
        errors = FlakyEngine.plan.get(text)
        if errors:
            raise errors.pop(0)
        return await super()._send(to, text, message_id)


def test_transient_failures_retry_in_order_then_fail_into_the_dlq(world: World) -> None:
    FlakyEngine.plan = {
        "flaky": [NotConnected("the socket dropped mid-send"), _Busy("server busy")],
        "hopeless": [_Busy("server busy") for _ in range(10)],
    }
    engines, _ = catalog(world, FlakyEngine)
    ids: dict[str, str] = {}

    async def scenario(connector: Connector) -> None:
        session = await connected_session(world)
        flaky = accept(world, session, BEN.phone, "flaky")
        after = accept(world, session, BEN.phone, "after the flaky one")
        hopeless = accept(world, session, BEN.phone, "hopeless")
        rejected = accept(world, session, UNREACHABLE_PHONE, "not on whatsapp")
        last = accept(world, session, BEN.phone, "the last one")
        [sent] = await sent_of(world, session, flaky.id)
        assert sent.data["attempts"] == 3
        await sent_of(world, session, after.id)
        [gave_up] = await failed_of(world, session, hopeless.id)
        assert gave_up.data["reason"] == "retries_exhausted" and "server busy" in gave_up.data["detail"]
        [refused] = await failed_of(world, session, rejected.id)
        assert refused.data["reason"] == "not_on_whatsapp"
        await sent_of(world, session, last.id)
        order = [r["id"] for r in deliveries(world.journal)]
        assert order == [provider_message_id(m.id) for m in (flaky, after, last)]  # FIFO, across retries

        row = claims.read(world.table, "ten_test", flaky.id)
        assert row is not None and (row["attempts"], row["failures"]) == (3, 2)
        assert row["last_error"]["code"] in ("not_connected", "engine_error")
        rejected_row = claims.read(world.table, "ten_test", rejected.id)
        assert rejected_row is not None and rejected_row["attempts"] == 1 and "failures" not in rejected_row
        dlq = world.queues.get(command_dlq_name(shard_of(session, world.shards)))
        parked = [Command.model_validate_json(m.body) for m in dlq.receive(max_messages=10)]
        assert [c.data["message_id"] for c in parked] == [hopeless.id]
        ids.update(flaky=flaky.id, hopeless=hopeless.id, rejected=rejected.id)

    run(world, scenario, engines=engines, **FAST_RETRIES)
    apply_events(world)
    assert field(world, ids["flaky"], "status") in ("sent", "delivered", "read")
    assert field(world, ids["rejected"], "status") == field(world, ids["hopeless"], "status") == "failed"
    assert field(world, ids["hopeless"], "error")["code"] == "retries_exhausted"
    assert field(world, ids["hopeless"], "error")["retryable"] is True
    assert field(world, ids["rejected"], "error")["retryable"] is False


def test_pacing_typing_and_the_first_contact_cap(world: World) -> None:
    engines, network = catalog(world)
    strangers = [f"+1555020{i:04d}" for i in range(3)]
    waiting: dict[str, str] = {}

    async def scenario(connector: Connector) -> None:
        session = await connected_session(world)
        pacing = {
            "rate_per_minute": 6000,
            "burst": 100,
            "jitter_min_seconds": 0,
            "jitter_max_seconds": 0,
            "typing": True,
            "typing_min_seconds": 0.05,
            "typing_max_seconds": 0.05,
            "first_contacts_per_day": 2,
        }
        world.table.update("T#ten_test", f"SESSION#{session}", set={"pacing": pacing})
        first, second, over = (accept(world, session, to, f"hello {to}") for to in strangers)
        again = accept(world, session, strangers[0], "a known contact now")
        await sent_of(world, session, first.id)
        await sent_of(world, session, second.id)
        [limited] = await failed_of(world, session, over.id)
        assert limited.data["reason"] == "first_contact_limit"
        await sent_of(world, session, again.id)
        seen = [(jid, state) for key, jid, state in network.presences if key.endswith(session)]
        assert seen[:2] == [
            (f"{strangers[0][1:]}@s.whatsapp.net", "composing"),
            (f"{strangers[0][1:]}@s.whatsapp.net", "paused"),
        ]
        assert len(seen) == 6  # three texts went out, each after "typing…"
        counter = FirstContacts(world.table, world.clock)
        assert counter.used("ten_test", session, utc_day(world.clock.now())) == 2

        # A slow number: the second message waits in its lane; stopping hands it back, still queued.
        world.table.update(
            "T#ten_test", f"SESSION#{session}", set={"pacing": {"rate_per_minute": 1, "burst": 1}}
        )
        paced = [accept(world, session, BEN.phone, f"paced {i}") for i in range(2)]
        await sent_of(world, session, paced[0].id)
        await world.events.settle(0.3)
        waiting.update(session=session, message=paced[1].id)

    run(world, scenario, engines=engines, pacing_refresh_seconds=0)  # settings read at every send
    assert field(world, waiting["message"], "status") == "queued"
    queue = world.queues.get(command_queue_name(shard_of(waiting["session"], world.shards)))
    back = [Command.model_validate_json(m.body) for m in queue.receive(max_messages=10)]
    assert [c.data.get("message_id") for c in back] == [waiting["message"]]  # handed back at once


def test_a_send_still_queued_when_its_recipient_is_erased_is_dropped(world: World) -> None:
    """Erasure deletes the message row; the `send` command still in the queue (its body sealed) then
    finds nothing to claim, and nothing reaches WhatsApp."""
    paired: list[str] = []

    async def pair(connector: Connector) -> None:
        paired.append(await connected_session(world))

    run(world, pair)
    session = paired[0]
    message = accept(world, session, BEN.phone, "Erase me before I go")  # queued: no connector runs
    receipt = services(deps_of(world)).erasure.erase("ten_test", BEN.phone)
    assert receipt.erased["messages"] == 1

    async def later(connector: Connector) -> None:
        await world.events.settle(1.5)

    run(world, later)
    assert world.events.of(session, SENT) == []
    assert claims.read(world.table, "ten_test", message.id) is None
    raw, _ = delivery_counts(world.journal)
    assert provider_message_id(message.id) not in raw
