"""Two of our engines, linked to different numbers on the strict fake edge, message each other: 1:1 and in
groups (by phone number and by LID), both ways, with delivery and read receipts; the phones (device 0)
read every copy fanned out to them; offline devices get their messages at the next login; a contact's
new device is found after the edge's device notification; a history sync is acknowledged and ignored."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.events import IncomingMessage, Receipt, ReceiptStatus
from connector.engines.keys import KeyNamespace
from connector.engines.web.binary.jid import Jid
from tests.connector.web.harness import Harness, Linked, with_edge

ALICE, BOB, CAROL = "15550001111", "15550002222", "15550003333"


def _texts(h: Harness, phone: str) -> list[str]:
    endpoint = h.edge.phone(phone)
    assert endpoint.errors == []
    texts = []
    for received in endpoint.received:
        message = received.message
        if message.HasField("deviceSentMessage"):
            message = message.deviceSentMessage.message
        texts.append(message.conversation or message.extendedTextMessage.text)
    return texts


def _envelopes(h: Harness, sender: Linked, message_id: str) -> int:
    event = next(e for e in h.edge.events if e.kind == "message" and e.detail.startswith(message_id))
    assert event.jid == sender.jid and " ok " in event.detail, event.detail
    return int(event.detail.rsplit("=", 1)[1])


def test_one_to_one_both_ways_with_receipts_quotes_and_copies_for_every_device() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")

        sent = await alice.engine.send_text(bob.e164, "hello bob", "msg_1")
        assert sent.to_jid == f"{BOB}@s.whatsapp.net" and sent.provider_message_id.startswith("3EB0")
        got = await bob.running.wait(IncomingMessage)
        assert (got.provider_message_id, got.text, got.chat_jid) == (
            sent.provider_message_id,
            "hello bob",
            f"{ALICE}@s.whatsapp.net",
        )
        assert (got.sender_phone, got.sender_jid, got.push_name) == (
            alice.e164,
            f"{ALICE}@s.whatsapp.net",
            "User 1111",
        )
        assert not got.from_me and got.group_jid is None
        delivered = await alice.running.wait(Receipt)
        assert (delivered.status, delivered.provider_message_ids) == (
            ReceiptStatus.DELIVERED,
            (sent.provider_message_id,),
        )
        assert delivered.chat_jid == f"{BOB}@s.whatsapp.net"
        await bob.engine.mark_read(got.chat_jid, [got.provider_message_id])
        read = await alice.running.wait_where(Receipt, lambda r: r.status is ReceiptStatus.READ)
        assert read.provider_message_ids == (sent.provider_message_id,)

        reply = await bob.engine.send_text(
            alice.e164, "hello alice", "msg_2", quoted_id=got.provider_message_id
        )
        back = await alice.running.wait(IncomingMessage)
        assert (back.text, back.quoted_id, back.sender_phone) == (
            "hello alice",
            sent.provider_message_id,
            bob.e164,
        )
        assert (await bob.running.wait(Receipt)).provider_message_ids == (reply.provider_message_id,)
        more = [await alice.engine.send_text(bob.e164, f"more {n}", f"msg_more_{n}") for n in range(2)]
        await alice.engine.mark_read(back.chat_jid, [back.provider_message_id])
        assert (
            await bob.running.wait_where(Receipt, lambda r: r.status is ReceiptStatus.READ)
        ).chat_jid == alice.e164[1:] + "@s.whatsapp.net"
        await bob.engine.mark_read(got.chat_jid, [m.provider_message_id for m in more])  # one receipt, a list
        read_more = await alice.running.wait_where(Receipt, lambda r: len(r.provider_message_ids) == 2)
        assert set(read_more.provider_message_ids) == {m.provider_message_id for m in more}

        # the first message started sessions (pkmsg + device-identity, checked by the edge): Bob's device and
        # phone, and Alice's own phone, which got a DeviceSentMessage naming the chat
        assert _envelopes(h, alice, sent.provider_message_id) == 3
        assert _texts(h, BOB) == ["hello bob", "hello alice", "more 0", "more 1"]
        assert _texts(h, ALICE) == ["hello bob", "hello alice", "more 0", "more 1"]
        copy = h.edge.phone(ALICE).received[0].message
        assert copy.deviceSentMessage.destinationJid == f"{BOB}@s.whatsapp.net"
        assert not [e for e in h.edge.events if e.kind == "incomplete-fanout"]
        await alice.running.stop()
        await bob.running.stop()

    with_edge(body)


@pytest.mark.parametrize("mode", ["pn", "lid"])
def test_groups_both_ways_with_receipts_and_one_sender_key_distribution(mode: str) -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        group = h.edge.create_group("Team", ALICE, [BOB, CAROL], addressing_mode=mode)
        chat = str(group.jid)
        [info] = await bob.engine.list_groups()
        assert (info.jid, info.subject, info.participants) == (chat, "Team", 3)
        assert info.owner_jid == f"{ALICE}@s.whatsapp.net"  # in LID groups too: the number, learned

        first = await alice.engine.send_text(chat, "hello team", "grp_1")
        got = await bob.running.wait(IncomingMessage)
        assert (got.text, got.group_jid, got.chat_jid, got.sender_phone) == (
            "hello team",
            chat,
            chat,
            alice.e164,
        )
        delivered = await alice.running.wait(Receipt)
        assert (delivered.chat_jid, delivered.by_jid) == (chat, f"{BOB}@s.whatsapp.net")
        await bob.engine.mark_read(chat, [got.provider_message_id])
        read = await alice.running.wait_where(Receipt, lambda r: r.status is ReceiptStatus.READ)
        assert (read.provider_message_ids, read.by_jid) == (
            (first.provider_message_id,),
            f"{BOB}@s.whatsapp.net",
        )

        answer = await bob.engine.send_text(chat, "hi all", "grp_2", quoted_id=got.provider_message_id)
        back = await alice.running.wait(IncomingMessage)
        assert (back.text, back.quoted_id, back.sender_phone) == (
            "hi all",
            first.provider_message_id,
            bob.e164,
        )
        second = await alice.engine.send_text(chat, "again", "grp_3")
        assert (await bob.running.wait(IncomingMessage, 2)).text == "again"

        # Alice's sender key went to Bob's device and the three phones once, then rode along unsent
        assert _envelopes(h, alice, first.provider_message_id) == 4
        assert _envelopes(h, alice, second.provider_message_id) == 0
        assert _envelopes(h, bob, answer.provider_message_id) == 4
        stored = await h.keys("ses_a").get(KeyNamespace.SENDER_KEY, [f"{chat}::distributed"])
        assert len(stored) == 1
        for phone in (ALICE, BOB, CAROL):
            assert _texts(h, phone) == ["hello team", "hi all", "again"]
        await alice.running.stop()
        await bob.running.stop()

    with_edge(body)


def test_messages_for_an_offline_device_arrive_at_its_next_login() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        await bob.running.stop()
        sent = [
            await alice.engine.send_text(bob.e164, f"while you were away {n}", f"away_{n}") for n in range(3)
        ]
        assert not alice.running.of(Receipt)
        bob.running = await h.connect("ses_b")
        for n in range(3):
            got = await bob.running.wait(IncomingMessage, n + 1)
            assert (got.provider_message_id, got.text) == (
                sent[n].provider_message_id,
                f"while you were away {n}",
            )
        await alice.running.wait_where(
            Receipt, lambda r: sent[2].provider_message_id in r.provider_message_ids
        )
        asked = [
            e for e in h.edge.events if e.kind == "ib" and e.jid == bob.jid and "offline_batch" in e.detail
        ]
        assert asked  # Bob answered the edge's offline preview
        await alice.running.stop()
        await bob.running.stop()

    with_edge(body)


def test_a_contacts_new_device_gets_the_next_message_after_the_device_notification() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        await alice.engine.send_text(bob.e164, "to your one device", "dev_1")
        await bob.running.wait(IncomingMessage)
        told = _device_acks(h, alice)  # (Bob's first device was announced to Alice already)
        bob2 = await h.linked(BOB, "ses_b2")  # Bob links a second device: Alice is told
        # Alice acks that `devices` notification once its change is stored; her other acks (receipts,
        # the earlier announcement) say nothing about it.
        acks = 1
        while _device_acks(h, alice) == told:
            await h.edge.wait_for("ack", jid=alice.jid, count=acks)
            acks += 1
        sent = await alice.engine.send_text(bob.e164, "to both", "dev_2")
        for device in (bob, bob2):
            got = await device.running.wait_where(
                IncomingMessage, lambda m: m.provider_message_id == sent.provider_message_id
            )
            assert got.text == "to both"
        assert _envelopes(h, alice, sent.provider_message_id) == 4  # Bob's phone, both devices, Alice's phone
        for running in (alice.running, bob.running, bob2.running):
            await running.stop()

    with_edge(body)


def test_one_to_one_by_lid_still_tells_the_service_the_phone_number() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        bob_lid = h.edge.state.accounts[BOB].lid
        sent = await alice.engine.send_text(str(bob_lid), "by lid", "lid_1")
        assert sent.to_jid == str(bob_lid)
        got = await bob.running.wait(IncomingMessage)
        assert (got.text, got.sender_phone, got.chat_jid) == ("by lid", alice.e164, f"{ALICE}@s.whatsapp.net")
        delivered = await alice.running.wait(Receipt)
        assert delivered.chat_jid == str(bob_lid)  # Alice was only ever given Bob's LID
        reply = await bob.engine.send_text(alice.e164, "by number", "lid_2")  # the same sessions, either way
        back = await alice.running.wait(IncomingMessage)
        assert (back.provider_message_id, back.sender_phone) == (reply.provider_message_id, bob.e164)
        again = await alice.engine.send_text(str(bob_lid), "learned", "lid_3")
        receipt = await alice.running.wait_where(
            Receipt, lambda r: again.provider_message_id in r.provider_message_ids
        )
        assert receipt.chat_jid == f"{BOB}@s.whatsapp.net"  # now Alice knows Bob's number
        assert h.edge.phone(BOB).errors == [] and len(h.edge.phone(BOB).received) == 3
        stored = await h.keys("ses_a").get(KeyNamespace.LID_MAP, [f"pn:{BOB}"])
        assert stored[f"pn:{BOB}"].decode() == bob_lid.user
        await alice.running.stop()
        await bob.running.stop()

    with_edge(body)


def test_a_history_sync_from_the_phone_is_acknowledged_and_ignored() -> None:
    async def body(h: Harness) -> None:
        bob = await h.linked(BOB, "ses_b")
        message_id = await h.edge.send_history_sync(bob.jid)
        hist = await h.edge.wait_for("receipt", jid=bob.jid, count=2)
        kinds = [e.detail for e in h.edge.events if e.kind == "receipt" and e.jid == bob.jid]
        assert kinds == [f"peer_msg {message_id}", f"hist_sync {message_id}"], hist
        await h.edge.wait_for("ack", jid=bob.jid)
        assert not bob.running.of(IncomingMessage)
        assert bob.jid == Jid(BOB, "s.whatsapp.net", bob.jid.device)
        await bob.running.stop()

    with_edge(body)


def _device_acks(h: Harness, device: Linked) -> int:
    return len([e for e in h.edge.events_of("ack") if e.jid == device.jid and e.detail == "devices"])
