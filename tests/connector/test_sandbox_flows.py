"""The connector with the sandbox engine, end to end in one process: commands in, events out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from connector.app import Connector
from connector.engines.base import provider_message_id
from connector.engines.sandbox_network import ANA, GROUPS, UNREACHABLE_PHONE, read_journal
from connector.session_runner import SessionState
from tests.connector.conftest import World
from tests.connector.messages import put_queued
from wagate.domain.events import CommandType, EventType

QR, SUCCESS, LOST = EventType.QR_CODE, EventType.CONNECTION_SUCCESS, EventType.CONNECTION_LOST


def with_connector(
    world: World, scenario: Callable[[Connector], Awaitable[Any]], owner: str = "c1", **overrides: Any
) -> None:
    async def main() -> None:
        connector = world.connector(owner, **overrides)
        await connector.start()
        try:
            await scenario(connector)
        finally:
            await connector.stop()

    asyncio.run(main())
    world.events.collect()


def test_pairing_rotates_qr_codes_and_survives_a_restart(world: World) -> None:
    session = world.add_session()

    async def first_run(connector: Connector) -> None:
        world.command(CommandType.CONNECT, session)
        first, second = await world.events.wait_for(session, QR, count=2)
        assert first.data["qr"] != second.data["qr"]
        assert first.data["qr"].startswith("sandbox:") and first.data["sandbox"] is True
        assert second.data["expires_at"] > first.data["expires_at"] - 1
        world.command(CommandType.SANDBOX, session, action="scan")
        [connected] = await world.events.wait_for(session, SUCCESS)
        assert connected.data["phone"].startswith("+1555") and connected.data["sandbox"] is True
        assert connected.fence >= 1
        [paired] = await world.events.wait_for(
            session, EventType.SESSION_STATUS, where=lambda e: e.data.get("paired") is True
        )
        assert paired.data["phone"] == connected.data["phone"]

    with_connector(world, first_run)
    [stopped] = [e for e in world.events.of(session, LOST) if e.data["reason"] == "connector_stopped"]
    assert world.keys_of(session), "the pairing stored credentials"
    phone = world.events.of(session, SUCCESS)[0].data["phone"]
    assert all(phone.encode() not in item["v"] for item in world.keys_of(session)), "keys are encrypted"

    since = world.events.mark()

    async def second_run(connector: Connector) -> None:
        # Nothing is sent: discovery finds the session (desired=running) and logs in with the stored keys.
        [again] = await world.events.wait_for(session, SUCCESS, since=since)
        assert again.data["phone"] == phone
        assert again.fence > stopped.fence

    with_connector(world, second_run, owner="c2")
    assert world.events.of(session, QR, since=since) == [], "no new QR code after a restart"


def test_send_progresses_to_read_and_contacts_reply(world: World) -> None:
    session = world.add_session()

    async def scenario(connector: Connector) -> None:
        await world.pair(session)
        since = world.events.mark()
        put_queued(world.table, session, "msg_1", ANA.phone, "Hi Ana")
        world.command(CommandType.SEND, session, message_id="msg_1", to=ANA.phone, text="Hi Ana")
        [sent] = await world.events.wait_for(session, EventType.MESSAGE_SENT, since=since)
        wa_id = provider_message_id("msg_1")
        assert sent.data["message_id"] == "msg_1" and sent.data["provider_message_id"] == wa_id
        delivered, read = await world.events.wait_for(session, EventType.MESSAGE_STATUS, since=since, count=2)
        assert [delivered.data["status"], read.data["status"]] == ["delivered", "read"]
        assert delivered.data["provider_message_ids"] == [wa_id]
        [reply] = await world.events.wait_for(session, EventType.INCOMING_MESSAGE, since=since)
        assert reply.data["sender_phone"] == ANA.phone and reply.data["quoted_id"] == wa_id
        assert reply.data["type"] == "text" and "Hi Ana" in reply.data["text"] and reply.data["sandbox"]

        since = world.events.mark()
        world.command(CommandType.SANDBOX, session, action="reply", text="Do you have a visit slot tomorrow?")
        [asked] = await world.events.wait_for(session, EventType.INCOMING_MESSAGE, since=since)
        assert asked.data["text"] == "Do you have a visit slot tomorrow?"
        world.command(
            CommandType.MARK_READ, session, chat=ANA.phone, message_ids=[asked.data["provider_message_id"]]
        )

        put_queued(world.table, session, "msg_2", UNREACHABLE_PHONE, "anyone?")
        world.command(CommandType.SEND, session, message_id="msg_2", to=UNREACHABLE_PHONE, text="anyone?")
        [failed] = await world.events.wait_for(
            session,
            EventType.MESSAGE_STATUS,
            since=since,
            where=lambda e: e.data.get("message_id") == "msg_2",
        )
        assert failed.data["status"] == "failed" and failed.data["reason"] == "not_on_whatsapp"

        world.command(CommandType.SYNC_GROUPS, session)
        [groups] = await world.events.wait_for(session, EventType.GROUPS_SYNCED, since=since)
        assert [g["jid"] for g in groups.data["groups"]] == [g.jid for g in GROUPS]

    with_connector(world, scenario)


def test_drop_reconnects_with_backoff_and_no_new_qr(world: World) -> None:
    session = world.add_session()

    async def scenario(connector: Connector) -> None:
        await world.pair(session)
        since = world.events.mark()
        world.command(CommandType.SANDBOX, session, action="drop")
        [lost] = await world.events.wait_for(session, LOST, since=since)
        assert lost.data["permanent"] is False and lost.data["retry_in"] >= 0
        assert (
            lost.data["reason"] == "connection_lost" and lost.data["detail"] == "sandbox: connection dropped"
        )
        await world.events.wait_for(session, SUCCESS, since=since)
        assert world.events.of(session, QR, since=since) == []

    with_connector(world, scenario)


def test_logout_reports_logged_out_wipes_keys_and_stays_down(world: World) -> None:
    by_phone, by_command = world.add_session(), world.add_session()

    async def scenario(connector: Connector) -> None:
        await world.pair(by_phone)
        await world.pair(by_command)
        since = world.events.mark()
        world.command(CommandType.SANDBOX, by_phone, action="logout")  # unlinked from the phone
        world.command(CommandType.LOGOUT, by_command)  # the API's logout
        for session in (by_phone, by_command):
            [event] = await world.events.wait_for(session, EventType.LOGGED_OUT, since=since)
            assert event.data["sandbox"] is True
        await world.events.settle(1.0)  # a few discovery rounds
        states = connector.supervisor.session_states()
        for session in (by_phone, by_command):
            assert world.keys_of(session) == []
            assert session not in states
            statuses = world.events.of(session, EventType.SESSION_STATUS, since=since)
            assert [e for e in statuses if e.data["status"] == "connecting"] == [], "no reconnect"

        # Connecting again starts from a new QR code.
        since = world.events.mark()
        world.command(CommandType.CONNECT, by_phone)
        await world.events.wait_for(by_phone, QR, since=since)

    with_connector(world, scenario)


def test_ban_is_a_permanent_failure(world: World) -> None:
    session = world.add_session()

    async def scenario(connector: Connector) -> None:
        await world.pair(session)
        since = world.events.mark()
        world.command(CommandType.SANDBOX, session, action="ban")
        [failed] = await world.events.wait_for(session, EventType.SESSION_FAILED, since=since)
        assert failed.data["reason"] == "banned" and failed.data["sandbox"] is True
        await world.events.settle(1.0)
        assert world.events.of(session, LOST, since=since) == []
        assert len(world.events.of(session, EventType.SESSION_STATUS, since=since)) == 0
        assert session not in connector.supervisor.session_states()

        # The ban is remembered: connecting again fails again, until a logout wipes the number.
        since = world.events.mark()
        world.command(CommandType.CONNECT, session)
        await world.events.wait_for(session, EventType.SESSION_FAILED, since=since)

    with_connector(world, scenario)


def test_disconnect_stays_down_until_connect(world: World) -> None:
    session = world.add_session()

    async def scenario(connector: Connector) -> None:
        await world.pair(session)
        since = world.events.mark()
        world.command(CommandType.DISCONNECT, session)
        [stopped] = await world.events.wait_for(
            session,
            EventType.SESSION_STATUS,
            since=since,
            where=lambda e: e.data.get("reason") == "requested",
        )
        assert stopped.data["status"] == "disconnected"
        await world.events.settle(1.0)
        assert session not in connector.supervisor.session_states()
        world.command(CommandType.CONNECT, session)
        await world.events.wait_for(session, SUCCESS, since=since)

    with_connector(world, scenario)


def test_send_before_the_scan_fails_and_sandbox_sockets_are_journaled(world: World) -> None:
    session = world.add_session()

    async def scenario(connector: Connector) -> None:
        world.command(CommandType.CONNECT, session)
        await world.events.wait_for(session, QR)
        put_queued(world.table, session, "msg_early", ANA.phone, "too early")
        world.command(CommandType.SEND, session, message_id="msg_early", to=ANA.phone, text="too early")
        [failed] = await world.events.wait_for(session, EventType.MESSAGE_STATUS)
        assert failed.data["reason"] == "session_not_connected"

    with_connector(world, scenario)
    records = [r for r in read_journal(world.journal) if r["session"].endswith(session)]
    assert [r["op"] for r in records] == ["open", "close"]


def test_typed_kinds_go_out_through_the_sender_and_come_back_typed(world: World) -> None:
    session = world.add_session()
    location = {"type": "location", "latitude": 40.4168, "longitude": -3.7038, "name": "Taller"}

    async def scenario(connector: Connector) -> None:
        await world.pair(session)
        since = world.events.mark()
        put_queued(world.table, session, "msg_loc", ANA.phone, "")
        world.command(CommandType.SEND, session, message_id="msg_loc", to=ANA.phone, content=location)
        [sent] = await world.events.wait_for(session, EventType.MESSAGE_SENT, since=since)
        assert sent.data["message_id"] == "msg_loc"
        target = {"provider_id": sent.data["provider_message_id"], "from_me": True}
        since = world.events.mark()
        put_queued(world.table, session, "msg_react", ANA.phone, "")
        world.command(
            CommandType.SEND,
            session,
            message_id="msg_react",
            to=ANA.phone,
            content={"type": "reaction", "emoji": "👍"},
            target=target,
        )
        [reacted] = await world.events.wait_for(session, EventType.MESSAGE_SENT, since=since)
        assert reacted.data["message_id"] == "msg_react"
        # A reaction naming nothing is refused by the engine: the message fails with the reason.
        since = world.events.mark()
        put_queued(world.table, session, "msg_bad", ANA.phone, "")
        world.command(
            CommandType.SEND,
            session,
            message_id="msg_bad",
            to=ANA.phone,
            content={"type": "reaction", "emoji": "x"},
        )
        [failed] = await world.events.wait_for(
            session,
            EventType.MESSAGE_STATUS,
            since=since,
            where=lambda e: e.data.get("message_id") == "msg_bad",
        )
        assert failed.data["status"] == "failed" and failed.data["reason"] == "invalid_message"

        since = world.events.mark()
        world.command(CommandType.SANDBOX, session, action="reply", content=location)
        [typed] = await world.events.wait_for(session, EventType.INCOMING_MESSAGE, since=since)
        assert typed.data["type"] == "location" and typed.data["content"] == location
        assert typed.data["text"] is None

    with_connector(world, scenario)


def test_group_commands_change_the_sandbox_groups_and_report_each_outcome(world: World) -> None:
    """Demo mode has groups to change: the `group` command's outcome comes back as `group_operation`
    (done with per-participant results, or failed with WhatsApp's refusal by meaning), and the change
    lasts (a created group is listed, can be sent to, and survives a restart of the engine)."""
    session = world.add_session()
    outcomes = EventType.GROUP_OPERATION

    async def operation(since: int, operation_id: str, **data: Any) -> dict[str, Any]:
        world.command(CommandType.GROUP, session, operation_id=operation_id, **data)
        [done] = await world.events.wait_for(
            session, outcomes, since=since, where=lambda e: e.data["operation_id"] == operation_id
        )
        return dict(done.data)

    async def scenario(connector: Connector) -> None:
        await world.pair(session)
        since = world.events.mark()
        created = await operation(
            since, "gop_1", action="create", subject="Taller", participants=[ANA.phone, UNREACHABLE_PHONE]
        )
        assert created["ok"] is True and created["group_jid"].endswith("@g.us")
        outcomes_by_phone = {p["phone"]: p["status"] for p in created["result"]["participants"]}
        assert outcomes_by_phone == {ANA.phone: 200, UNREACHABLE_PHONE: 404}
        chat = created["group_jid"]
        renamed = await operation(since, "gop_2", action="subject", group_jid=chat, subject="Taller 2")
        assert renamed["result"]["group"]["subject"] == "Taller 2"
        again = await operation(since, "gop_3", action="add", group_jid=chat, participants=[ANA.phone])
        assert [p["status"] for p in again["result"]["participants"]] == [409]
        # in the built-in announcements group the number is no admin: refused as WhatsApp refuses
        refused = await operation(since, "gop_4", action="subject", group_jid=GROUPS[1].jid, subject="x")
        assert (refused["ok"], refused["error_code"]) == (False, "not_group_admin")
        unknown = await operation(since, "gop_5", action="leave", group_jid="120363999999999999@g.us")
        assert unknown["error_code"] == "group_not_found"
        bad = await operation(since, "gop_6", action="subject", group_jid=chat, subject="")
        assert bad["error_code"] == "invalid_group_operation"

        put_queued(world.table, session, "msg_g", chat, "Hola taller")
        world.command(CommandType.SEND, session, message_id="msg_g", to=chat, text="Hola taller")
        [sent] = await world.events.wait_for(session, EventType.MESSAGE_SENT, since=since)
        assert sent.data["message_id"] == "msg_g"
        world.command(CommandType.SYNC_GROUPS, session)
        [groups] = await world.events.wait_for(session, EventType.GROUPS_SYNCED, since=since)
        assert chat in [g["jid"] for g in groups.data["groups"]]
        left = await operation(since, "gop_7", action="leave", group_jid=chat)
        assert left["ok"] is True

    with_connector(world, scenario)


def test_a_group_command_for_a_number_that_never_connects_fails_instead_of_staying_pending(
    world: World,
) -> None:
    session = world.add_session(desired="stopped", status="disconnected")

    async def scenario(connector: Connector) -> None:
        world.command(CommandType.GROUP, session, operation_id="gop_x", action="create", subject="Taller")
        [failed] = await world.events.wait_for(session, EventType.GROUP_OPERATION)
        assert (failed.data["ok"], failed.data["error_code"]) == (False, "session_not_connected")

    async def quickly(connector: Connector) -> None:
        await asyncio.wait_for(scenario(connector), 30)

    with_connector(world, quickly, command_retry_limit=2)


def test_a_temporary_ban_says_until_when_and_a_restriction_refuses_new_chats_only(world: World) -> None:
    session = world.add_session()

    async def scenario(connector: Connector) -> None:
        await world.pair(session)
        # WhatsApp's 463 time-lock: a stranger is refused, an existing chat (Ana) still works.
        world.command(CommandType.SANDBOX, session, action="restrict")
        since = world.events.mark()
        put_queued(world.table, session, "msg_cold", "+15550177777", "Oferta")
        world.command(CommandType.SEND, session, message_id="msg_cold", to="+15550177777", text="Oferta")
        put_queued(world.table, session, "msg_ana", ANA.phone, "Hola")
        world.command(CommandType.SEND, session, message_id="msg_ana", to=ANA.phone, text="Hola")
        [refused] = await world.events.wait_for(
            session,
            EventType.MESSAGE_STATUS,
            since=since,
            where=lambda e: e.data.get("message_id") == "msg_cold",
        )
        assert refused.data["reason"] == "recipient_restricted" and "463" in refused.data["detail"]
        await world.events.wait_for(
            session,
            EventType.MESSAGE_SENT,
            since=since,
            where=lambda e: e.data.get("message_id") == "msg_ana",
        )

        since = world.events.mark()
        before = world.clock.now()
        world.command(CommandType.SANDBOX, session, action="temp_ban", expire=7200, code=102)
        [failed] = await world.events.wait_for(session, EventType.SESSION_FAILED, since=since)
        assert failed.data["reason"] == "temporarily_banned" and "code 102" in failed.data["detail"]
        assert before + 7200 <= failed.data["expires_at"] <= world.clock.now() + 7200
        # It stays down, its runner waiting the ban out (session_runner.py) rather than gone.
        assert connector.supervisor.session_states()[session] is SessionState.WAITING
        await world.events.settle(0.5)
        assert world.events.of(session, SUCCESS, since=since) == []

    with_connector(world, scenario)


def test_a_temporary_ban_ends_with_a_login_even_across_a_connector_restart(world: World) -> None:
    """A 3 s ban: the first connector stops while waiting it out (leaving `failed`, no other report); the
    next one starts the number anyway, meets the ban again (the sandbox remembers it, as WhatsApp does),
    waits the rest and logs in once it is over."""
    session = world.add_session()
    seen: dict[str, Any] = {}

    async def banned(connector: Connector) -> None:
        await world.pair(session)
        world.command(CommandType.SANDBOX, session, action="temp_ban", expire=3, code=101)
        [failed] = await world.events.wait_for(session, EventType.SESSION_FAILED)
        seen.update(ends=failed.data["expires_at"], mark=world.events.mark())

    async def restarted(connector: Connector) -> None:
        [again] = await world.events.wait_for(session, EventType.SESSION_FAILED, since=seen["mark"])
        assert again.data["reason"] == "temporarily_banned" and "more" in again.data["detail"]
        assert again.data["expires_at"] == pytest.approx(seen["ends"], abs=0.5)
        [back] = await world.events.wait_for(session, SUCCESS, since=seen["mark"], timeout=10)
        assert back.at >= seen["ends"]

    with_connector(world, banned)
    assert world.events.of(session, since=seen["mark"]) == []  # the stop says nothing over the ban
    with_connector(world, restarted, owner="c2")
