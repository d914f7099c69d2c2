"""Session repair against the fake edge's policies: delivery receipts are `inactive` until we announce
presence (the edge flags an active one as a violation); a contact's identity change drops our sessions
with it (the next message starts afresh with a pkmsg the new install reads); a stale device list is
caught by the ack's `phash` and the missed device gets the message; the messages kept for retry receipts
and the senders kept for group read receipts survive a reconnect (they live in the KeyStore)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.events import IncomingMessage, Receipt, ReceiptStatus
from connector.engines.web.binary.node import Node
from connector.engines.web.protos import wa
from connector.engines.web.sending import with_secret
from tests.connector.web.harness import Harness, with_edge

ALICE, BOB = "15550001111", "15550002222"


def _receipt_kinds(h: Harness, message_id: str) -> list[str]:
    return [e.detail.split()[0] for e in h.edge.events_of("receipt") if e.detail.endswith(f" {message_id}")]


def test_delivery_receipts_are_inactive_until_presence_is_available() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        first = await alice.engine.send_text(bob.e164, "uno", "msg_1")
        await bob.running.wait(IncomingMessage)
        await h.edge.wait_for("receipt", count=1)
        assert _receipt_kinds(h, first.provider_message_id) == ["inactive"]

        # The profile name comes with app state in real life (presence needs it): given here.
        store = bob.engine._store_ready
        me = store.current.me
        assert me is not None
        await store.update(me=dataclasses.replace(me, name="Bob"))
        await bob.engine.send_presence(None, "available")
        await h.edge.wait_for("presence", jid=bob.jid)
        second = await alice.engine.send_text(bob.e164, "dos", "msg_2")
        await bob.running.wait(IncomingMessage, 2)
        await h.edge.wait_for("receipt", count=2)
        assert _receipt_kinds(h, second.provider_message_id) == ["delivery"]
        await alice.running.stop()
        await bob.running.stop()

    with_edge(body)


def test_an_identity_change_resets_the_sessions_so_the_next_message_starts_afresh() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        await alice.engine.send_text(bob.e164, "hola", "msg_1")
        await bob.running.wait(IncomingMessage)
        await bob.engine.send_text(alice.e164, "hola, Alice", "msg_b1")  # the session is now established
        await alice.running.wait(IncomingMessage)
        second = await alice.engine.send_text(bob.e164, "¿sigues ahí?", "msg_2")
        await bob.running.wait(IncomingMessage, 2)

        def pkmsgs(message_id: str) -> list[str]:
            return [e.detail.split()[1] for e in h.edge.events_of("pkmsg") if e.detail.startswith(message_id)]

        assert str(bob.jid) not in pkmsgs(second.provider_message_id)  # a msg on the established session
        bundles = len(h.edge.events_of("bundles"))

        await h.edge.identity_changed(BOB, alice.jid)
        await _until_acked(h, alice.jid, "encrypt")
        third = await alice.engine.send_text(bob.e164, "¿me lees?", "msg_3")
        # Every device of Bob gets a new session (from a fresh bundle), not a msg on the dropped one.
        assert str(bob.jid) in pkmsgs(third.provider_message_id)
        assert len(h.edge.events_of("bundles")) > bundles
        got = await bob.running.wait(IncomingMessage, 3)
        assert (got.provider_message_id, got.text) == (third.provider_message_id, "¿me lees?")
        await alice.running.stop()
        await bob.running.stop()

    with_edge(body)


async def _until_acked(h: Harness, jid: object, kind: str) -> None:
    async with asyncio.timeout(10):
        while not [e for e in h.edge.events_of("ack") if e.jid == jid and e.detail == kind]:
            await asyncio.sleep(0.01)
    # No grace period: the engine stores a notification's effect before it acks it.


@pytest.mark.parametrize("group", [False, True], ids=["one-to-one", "group"])
def test_a_stale_device_list_is_caught_by_the_acks_phash_and_the_missed_device_gets_the_message(
    group: bool,
) -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        to = bob.e164
        if group:
            to = str(h.edge.create_group("Turnos", ALICE, [ALICE, BOB]).jid)
        await alice.engine.send_text(to, "primero", "msg_1")  # Alice's engine lists Bob's devices now
        await bob.running.wait(IncomingMessage)

        h.edge.announce_devices = False  # Bob links another device; nobody is told
        laptop = await h.linked(BOB, "ses_b2")
        sent = await alice.engine.send_text(to, "segundo", "msg_2")
        got = await laptop.running.wait_where(IncomingMessage, lambda m: m.text == "segundo")
        assert got.provider_message_id == sent.provider_message_id
        if not group:  # the edge saw the first fan-out leave the new device out
            assert [e for e in h.edge.events_of("incomplete-fanout") if str(laptop.jid) in e.detail]
        else:  # a group message carries our hash: right the first time, stale the second
            mismatches = [e.detail.split()[0] for e in h.edge.events_of("phash-mismatch")]
            assert mismatches == [sent.provider_message_id]
        # Bob's first device got it once, from the first fan-out.
        assert [m.text for m in bob.running.of(IncomingMessage)] == ["primero", "segundo"]
        for running in (alice.running, bob.running, laptop.running):
            await running.stop()

    with_edge(body)


def test_a_retry_receipt_after_a_reconnect_is_still_answered() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        sent = await alice.engine.send_text(bob.e164, "su turno es el martes", "msg_1")
        await bob.running.wait(IncomingMessage)
        await alice.running.stop()
        alice_again = await h.connect("ses_a")  # a new connection: nothing of the last one in memory

        bob_device = h.edge.state.device(bob.jid)
        assert bob_device is not None
        retry = Node(
            "receipt",
            {"from": bob.jid, "id": sent.provider_message_id, "type": "retry", "t": str(int(time.time()))},
            [
                Node("retry", {"count": "1", "id": sent.provider_message_id, "t": "0", "v": "1"}),
                Node("registration", {}, bob_device.registration_id.to_bytes(4, "big")),
            ],
        )
        alice_device = h.edge.state.device(alice.jid)
        assert alice_device is not None
        await h.edge.relay.deliver(alice_device, retry, chat=bob.jid.to_account())

        def sends() -> list[str]:
            return [
                e.detail for e in h.edge.events_of("message") if e.detail.startswith(sent.provider_message_id)
            ]

        async with asyncio.timeout(10):
            while len(sends()) < 2:  # the fan-out, then the answer to the retry
                await asyncio.sleep(0.01)
        assert sends()[1].split()[1] == "ok"
        await alice_again.stop()
        await bob.running.stop()

    with_edge(body)


def test_a_group_read_receipt_after_a_reconnect_still_names_the_sender() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        group = str(h.edge.create_group("Turnos", BOB, [ALICE, BOB]).jid)
        sent = await bob.engine.send_text(group, "¿quién abre mañana?", "grp_1")
        got = await alice.running.wait(IncomingMessage)
        await alice.running.stop()
        alice_again = await h.connect("ses_a")

        await alice_again.engine.mark_read(group, [got.provider_message_id])
        read = await bob.running.wait_where(Receipt, lambda r: r.status is ReceiptStatus.READ)
        assert read.provider_message_ids == (sent.provider_message_id,)
        assert read.by_jid == f"{ALICE}@s.whatsapp.net"
        await alice_again.stop()
        await bob.running.stop()

    with_edge(body)


def test_ordinary_messages_get_a_message_secret_reactions_and_polls_keep_theirs() -> None:
    text = with_secret(wa.Message(conversation="hola"))
    assert len(text.messageContextInfo.messageSecret) == 32
    assert with_secret(wa.Message(conversation="hola")).messageContextInfo.messageSecret != (
        text.messageContextInfo.messageSecret
    )
    reaction = wa.Message(reactionMessage=wa.Message.ReactionMessage(text="👍"))
    assert not with_secret(reaction).HasField("messageContextInfo")
    poll = wa.Message(messageContextInfo=wa.MessageContextInfo(messageSecret=b"\x07" * 32))
    assert with_secret(poll).messageContextInfo.messageSecret == b"\x07" * 32
