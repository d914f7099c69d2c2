"""check_numbers through the connector on the sandbox: the command reaches the connected session's engine
and `numbers_checked` comes back with one status per number; a session that never connects answers with
an error instead of leaving the check pending."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from connector.app import Connector
from connector.engines.events import NumberStatus
from connector.engines.sandbox import SandboxEngine
from connector.engines.sandbox_network import UNREACHABLE_PHONE
from connector.engines.web.errors import RateLimited
from tests.connector.conftest import World
from tests.connector.test_sandbox_flows import with_connector
from wagate.domain.events import CommandType, EventType


def test_a_connected_session_answers_each_number(world: World) -> None:
    session = world.add_session()

    async def scenario(connector: Connector) -> None:
        await world.pair(session)
        since = world.events.mark()
        numbers = ["+34600112233", UNREACHABLE_PHONE, "+34600999000"]
        world.command(CommandType.CHECK_NUMBERS, session, check_id="chk_1", numbers=numbers)
        [checked] = await world.events.wait_for(session, EventType.NUMBERS_CHECKED, since=since)
        assert checked.data["check_id"] == "chk_1" and checked.data["error"] is None
        assert [(r["phone"], r["status"]) for r in checked.data["results"]] == [
            ("+34600112233", "on_whatsapp"),
            (UNREACHABLE_PHONE, "not_on_whatsapp"),
            ("+34600999000", "not_on_whatsapp"),
        ]
        assert checked.data["results"][0]["jid"] == "34600112233@s.whatsapp.net"

    with_connector(world, scenario)


def test_a_session_that_never_connects_answers_with_an_error(world: World) -> None:
    session = world.add_session(desired="stopped", status="disconnected")

    async def scenario(connector: Connector) -> None:
        world.command(CommandType.CHECK_NUMBERS, session, check_id="chk_x", numbers=["+34600112233"])
        [failed] = await world.events.wait_for(session, EventType.NUMBERS_CHECKED)
        assert (failed.data["check_id"], failed.data["error"], failed.data["results"]) == (
            "chk_x",
            "session_not_connected",
            [],
        )

    async def quickly(connector: Connector) -> None:
        await asyncio.wait_for(scenario(connector), 30)

    with_connector(world, quickly, command_retry_limit=2)


def test_a_check_whatsapp_throttles_fails_at_once_with_rate_limited(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the web engine raises when WhatsApp answers the usync with 429 rate-overlimit (throttle.py) is
    not asked again: the check fails, saying why, instead of `check_failed` or a retry."""
    session = world.add_session()
    calls: list[int] = []

    async def throttled(self: SandboxEngine, phones: Sequence[str]) -> list[NumberStatus]:
        calls.append(len(phones))
        raise RateLimited("WhatsApp refused number_check queries with 429 rate-overlimit")

    async def scenario(connector: Connector) -> None:
        await world.pair(session)
        monkeypatch.setattr(SandboxEngine, "check_numbers", throttled)
        since = world.events.mark()
        world.command(CommandType.CHECK_NUMBERS, session, check_id="chk_t", numbers=["+34600112233"])
        [checked] = await world.events.wait_for(session, EventType.NUMBERS_CHECKED, since=since)
        assert (checked.data["error"], checked.data["results"]) == ("rate_limited", [])
        assert calls == [1]

    with_connector(world, scenario)
