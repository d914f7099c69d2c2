"""The send path with sends WhatsApp throttles (HeldBack), on the sandbox: no try held back is a failure nor a
crashed claim, each try goes through the pacer again, and a message cancelled during its hold is never sent.
(The web engine's real 429 against the fake edge: tests/connector/web/test_web_throttled_sends.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from connector import claims, held_back_sends
from connector.app import Connector
from connector.engines.base import provider_message_id
from connector.engines.errors import HeldBack
from connector.engines.sandbox_network import BEN
from connector.pacing import NumberPacer
from connector.sending import CRASHED_CLAIMS_PER_TRY
from tests.connector.conftest import World
from tests.connector.send_support import accept, catalog, deliveries, deps_of, make_send_world
from tests.connector.test_send_path import (
    FAST_RETRIES,
    FlakyEngine,
    connected_session,
    failed_of,
    run,
    sent_of,
)
from wagate.compose import services
from wagate.domain.events import CommandType, EventType
from wagate.domain.pacing import Pacing


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_send_world(tmp_path / "data")
    yield w
    w.queues.close()
    w.table.close()


async def _until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


def _held(retry_in: float) -> HeldBack:
    return HeldBack(
        "WhatsApp refused device_list queries with 429 rate-overlimit",
        code="rate_limited",
        details={"request": "device_list", "retry_in": retry_in},
    )


def test_held_back_tries_are_paced_and_neither_failures_nor_crashed_claims_and_a_cancel_wins(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    holds = CRASHED_CLAIMS_PER_TRY * 3 + 3  # more tries than the crashed-claims bound allows (send_tries 3)
    FlakyEngine.plan = {"patient": [_held(0.01) for _ in range(holds)], "cancelled": [_held(0.5)]}
    engines, _ = catalog(world, FlakyEngine)
    paced: list[int] = []
    took = NumberPacer.took

    def counting(self: NumberPacer, pacing: Pacing) -> None:
        assert pacing.enabled
        paced.append(1)
        took(self, pacing)

    monkeypatch.setattr(NumberPacer, "took", counting)
    ids: dict[str, str] = {}

    async def scenario(connector: Connector) -> None:
        session = await connected_session(world)
        patient = accept(world, session, BEN.phone, "patient")
        cancelled = accept(world, session, BEN.phone, "cancelled")
        after = accept(world, session, BEN.phone, "after")
        ids.update(patient=patient.id, cancelled=cancelled.id, after=after.id)
        [sent] = await sent_of(world, session, patient.id, timeout=30)
        assert sent.data["attempts"] == holds + 1

        def waiting() -> bool:
            row = claims.read(world.table, "ten_test", cancelled.id)
            return row is not None and row["status"] == "queued" and row.get("throttled") == 1

        await _until(waiting)  # its one try was held back: it waits, queued, for the hold to end
        services(deps_of(world)).messages.cancel("ten_test", cancelled.id)
        await sent_of(world, session, after.id, timeout=30)
        order = [r["id"] for r in deliveries(world.journal)]
        assert order == [provider_message_id(m.id) for m in (patient, after)]  # in order; never the cancelled

    quick = Pacing(
        rate_per_minute=6000,
        burst=100,
        jitter_min_seconds=0,
        jitter_max_seconds=0,
        first_contacts_per_day=0,
        health_slowdown=False,
    )
    run(world, scenario, engines=engines, **{**FAST_RETRIES, "pacing": quick})
    row = claims.read(world.table, "ten_test", ids["patient"])
    assert row is not None and (row["attempts"], row["throttled"]) == (holds + 1, holds)
    assert "failures" not in row and row["last_error"]["code"] == "rate_limited"
    assert claims.read(world.table, "ten_test", ids["cancelled"])["status"] == "cancelled"  # type: ignore[index]
    assert len(paced) == (holds + 1) + 1 + 1  # every try spent a pacing token, the retries too
    failed = [e for e in world.events.events if e.type == EventType.MESSAGE_STATUS]
    assert [e.data.get("status") for e in failed if e.data.get("status") == "failed"] == []


def test_stopping_a_number_fails_the_send_waiting_out_a_hold_instead_of_waiting_behind_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hold can last 15 min and the session's later commands (its disconnect too) wait behind the send in
    the lane: the disconnect the API writes on the session row ends the wait and the message fails; what
    was queued before the disconnect still goes first (FIFO), then the session stops."""
    monkeypatch.setattr(held_back_sends, "HOLD_LOOK_SECONDS", 0.1)
    FlakyEngine.plan = {"held long": [_held(600.0)]}
    engines, _ = catalog(world, FlakyEngine)

    async def scenario(connector: Connector) -> None:
        session = await connected_session(world)
        held = accept(world, session, BEN.phone, "held long")
        behind = accept(world, session, BEN.phone, "behind it")

        def waiting() -> bool:
            row = claims.read(world.table, "ten_test", held.id)
            return row is not None and row["status"] == "queued" and row.get("throttled") == 1

        await _until(waiting)
        services(deps_of(world)).sessions.disconnect("ten_test", session)
        [stopped] = await failed_of(world, session, held.id)
        assert (stopped.data["reason"], stopped.data["retryable"]) == ("session_not_connected", True)
        assert "stopped while the message waited" in stopped.data["detail"]
        await sent_of(world, session, behind.id)  # queued before the disconnect: FIFO, it goes first
        await world.events.wait_for(
            session, EventType.SESSION_STATUS, where=lambda e: e.data.get("status") == "disconnected"
        )

    run(world, scenario, engines=engines, **FAST_RETRIES)


def test_a_sandbox_number_can_rehearse_whatsapps_rate_limit(world: World) -> None:
    """The `rate_limit` sandbox action (POST /v1/sandbox/sessions/{id}/rate_limit) does what WhatsApp's 429
    on lookups does to a web number: `connected` / `rate_limited`, number checks refused, a send to a new
    contact kept queued until the hold ends (a sandbox contact's, behind it, waits its turn), then the
    episode's end."""
    engines, _ = catalog(world)
    stranger = "+15550207777"

    async def scenario(connector: Connector) -> None:
        session = await connected_session(world)
        world.command(CommandType.SANDBOX, session, action="rate_limit", expire=1)
        [limited] = await world.events.wait_for(
            session, EventType.SESSION_STATUS, where=lambda e: e.data.get("reason") == "rate_limited"
        )
        assert "429 rate-overlimit" in limited.data["detail"]
        world.command(CommandType.CHECK_NUMBERS, session, check_id="chk_1", numbers=[stranger])
        [checked] = await world.events.wait_for(session, EventType.NUMBERS_CHECKED)
        assert checked.data["error"] == "rate_limited"
        new_contact = accept(world, session, stranger, "first words")
        known = accept(world, session, BEN.phone, "to a contact")

        def waiting() -> bool:
            row = claims.read(world.table, "ten_test", new_contact.id)
            return row is not None and row["status"] == "queued" and row.get("throttled") == 1

        await _until(waiting)
        await sent_of(world, session, new_contact.id)
        await sent_of(world, session, known.id)
        await world.events.wait_for(
            session, EventType.SESSION_STATUS, where=lambda e: e.data.get("ends") == "rate_limited"
        )
        order = [r["id"] for r in deliveries(world.journal)]
        assert order == [provider_message_id(m.id) for m in (new_contact, known)]

    run(world, scenario, engines=engines, **FAST_RETRIES)
