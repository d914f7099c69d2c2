"""What the account's own phone does, seen from a linked web session: a message typed on the phone arrives as
a DeviceSentMessage copy (`from` = our own number, `recipient` = the chat) and is reported as ours, in the
chat it went to; reading a chat on the phone (`read`, or `read-self` with read receipts turned off) is
reported as the chat read by us. The service side (stored as outbound, unread cleared) is
tests/functions/test_phone_sent.py."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.events import IncomingMessage, Receipt, ReceiptStatus
from connector.engines.web.binary.jid import Jid
from tests.connector.web.harness import Harness, with_edge

ALICE, BOB = "15550001111", "15550002222"


def test_a_message_typed_on_the_phone_is_ours_in_the_chat_it_went_to() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        message_id = await h.edge.send_from_phone(ALICE, BOB, "Te llamo en 5 minutos")
        got = await alice.running.wait(IncomingMessage)
        assert (got.provider_message_id, got.text, got.from_me) == (message_id, "Te llamo en 5 minutos", True)
        assert got.chat_jid == f"{BOB}@s.whatsapp.net"  # the destination, not our own number
        assert got.sender_phone == alice.e164 and got.group_jid is None
        # Acknowledged the way a companion does for its own devices' messages: a `sender` receipt.
        await h.edge.wait_for("ack", jid=alice.jid)
        receipts = [e.detail for e in h.edge.events_of("receipt") if e.jid == alice.jid]
        assert f"sender {message_id}" in receipts
        await alice.running.stop()

    with_edge(body)


@pytest.mark.parametrize("receipts", [True, False], ids=["read", "read-self"])
def test_reading_a_chat_on_the_phone_is_reported_as_read_by_us(receipts: bool) -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        sent = [await bob.engine.send_text(alice.e164, f"hola {n}", f"msg_{n}") for n in range(2)]
        await alice.running.wait(IncomingMessage, 2)
        ids = [s.provider_message_id for s in sent]
        await h.edge.read_on_phone(ALICE, Jid(BOB, "s.whatsapp.net"), ids, receipts=receipts)
        read = await alice.running.wait_where(Receipt, lambda r: r.by_me)
        assert (read.chat_jid, read.provider_message_ids, read.status) == (
            f"{BOB}@s.whatsapp.net",
            tuple(ids),
            ReceiptStatus.READ,
        )
        # Our own device's read is not a receipt from the contact: nothing reaches Bob's session.
        assert [r for r in bob.running.of(Receipt) if r.status is ReceiptStatus.READ] == []
        await alice.running.stop()
        await bob.running.stop()

    with_edge(body)
