"""A suspended tenant sends nothing through a connector: the sends already in its session's FIFO lane
(ahead of the suspension's disconnect) fail `tenant_suspended` at the claim, a scheduled message falling
due meanwhile fails the same way, and after the resume new sends go out again (sandbox engine)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector import claims
from connector.app import Connector
from connector.engines.base import provider_message_id
from connector.engines.sandbox_network import BEN
from tests.connector.conftest import World
from tests.connector.send_support import accept, apply_events, deliveries, deps_of, make_send_world, prepair
from wagate.compose import services
from wagate.domain.events import EventType
from wagate.domain.pacing import Pacing
from wagate.services import scheduler, tenants
from wagate.services.messages import SendRequest

SENT, STATUS = EventType.MESSAGE_SENT, EventType.MESSAGE_STATUS
# One send every 2 s: the later sends of a burst wait in the session's lane while the tenant is suspended.
SLOW = Pacing(rate_per_minute=30, burst=1, jitter_min_seconds=0, jitter_max_seconds=0, typing=False)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_send_world(tmp_path / "data")
    yield w
    w.queues.close()
    w.table.close()


def test_queued_and_due_sends_of_a_suspended_tenant_fail_and_resume_sends_again(world: World) -> None:
    tenant, _ = tenants.create_tenant(world.table, world.clock, "Agency")
    root = services(deps_of(world))
    session = world.add_session(tenant.id)
    later = root.messages.accept(
        tenant.id,
        SendRequest(session_id=session, to=BEN.phone, text="due later", scheduled_at=time.time() + 600),
    )
    queued: list[str] = []

    async def scenario(connector: Connector) -> None:
        queued.extend(accept(world, session, BEN.phone, f"queued {n}", tenant.id).id for n in range(4))
        await world.events.wait_for(session, SENT, where=lambda e: e.data["message_id"] == queued[0])
        root.tenant_admin.suspend(tenant.id)
        failed = await world.events.wait_for(
            session, STATUS, where=lambda e: e.data.get("status") == "failed", count=3
        )
        assert {e.data["message_id"] for e in failed} == set(queued[1:])
        assert {(e.data["reason"], e.data["retryable"]) for e in failed} == {("tenant_suspended", True)}

        # Its scheduled message falls due during the suspension: the dispatcher hands it on, and it fails.
        body = json.dumps({"tenant_id": tenant.id, "message_id": later.id, "due_at": later.scheduled_at})
        assert scheduler.forward(world.table, root.messages, body)
        [due] = await world.events.wait_for(
            session, STATUS, where=lambda e: e.data.get("message_id") == later.id
        )
        assert (due.data["status"], due.data["reason"]) == ("failed", "tenant_suspended")
        await world.events.settle(1.0)
        assert [d["id"] for d in deliveries(world.journal)] == [provider_message_id(queued[0])]

        since = world.events.mark()
        root.tenant_admin.resume(tenant.id)
        await world.events.wait_for(session, EventType.CONNECTION_SUCCESS, since=since)
        again = accept(world, session, BEN.phone, "after the resume", tenant.id)
        await world.events.wait_for(session, SENT, where=lambda e: e.data["message_id"] == again.id)
        queued.append(again.id)

    async def main() -> None:
        await prepair(world, session, tenant.id)  # before the connector discovers the session
        connector = Connector(world, world.config(pacing=SLOW), owner_id="c1")
        await connector.start()
        try:
            await scenario(connector)
        finally:
            await connector.stop()

    asyncio.run(main())
    apply_events(world)
    assert [d["id"] for d in deliveries(world.journal)] == [
        provider_message_id(queued[0]),
        provider_message_id(queued[-1]),
    ]
    messages = root.messages
    shown = {m: messages.get(tenant.id, m) for m in [*queued, later.id]}
    out = ("sent", "delivered", "read")
    assert [shown[m].status.value in out for m in queued] == [True, False, False, False, True]
    assert [shown[m].status.value for m in queued[1:4]] == ["failed"] * 3
    for message in [*(shown[m] for m in queued[1:4]), shown[later.id]]:
        assert message.error is not None and (message.error.code, message.error.retryable) == (
            "tenant_suspended",
            True,
        )
    row = claims.read(world.table, tenant.id, queued[1])
    assert row is not None and int(row.get("attempts", 0)) == 0  # never claimed: nothing went out


# "typing…" for 2 s between the claim and the send: a suspension may land in between.
TYPING = Pacing(
    rate_per_minute=60,
    burst=1,
    jitter_min_seconds=0,
    jitter_max_seconds=0,
    typing=True,
    typing_min_seconds=2,
    typing_max_seconds=2,
)


def test_a_suspension_landing_while_typing_stops_the_claimed_send(world: World) -> None:
    """The claim checked the mark before the typing pause; the send looks again after it (one read)."""
    tenant, _ = tenants.create_tenant(world.table, world.clock, "Agency")
    root = services(deps_of(world))
    session = world.add_session(tenant.id)
    found: dict[str, str] = {}

    async def scenario() -> None:
        message = accept(world, session, BEN.phone, "typed while the operator suspends", tenant.id)
        found["id"] = message.id
        deadline = time.monotonic() + 30  # a loaded CI box may take seconds to claim it
        while True:  # until the connector has claimed it (then it types for 2 s)
            row = claims.read(world.table, tenant.id, message.id)
            if row is not None and row.get("status") == "sending":
                break
            assert time.monotonic() < deadline, "never claimed"
            await asyncio.sleep(0.02)
        root.tenant_admin.suspend(tenant.id)
        [told] = await world.events.wait_for(
            session, STATUS, where=lambda e: e.data.get("message_id") == message.id
        )
        assert (told.data["status"], told.data["reason"]) == ("failed", "tenant_suspended")

    async def main() -> None:
        await prepair(world, session, tenant.id)
        connector = Connector(world, world.config(pacing=TYPING), owner_id="c1")
        await connector.start()
        try:
            await scenario()
            await world.events.settle(1.0)
        finally:
            await connector.stop()

    asyncio.run(main())
    assert deliveries(world.journal) == []  # nothing went out
    apply_events(world)
    failed = root.messages.get(tenant.id, found["id"])
    assert failed.status.value == "failed" and failed.error is not None
    assert (failed.error.code, failed.error.retryable) == ("tenant_suspended", True)
