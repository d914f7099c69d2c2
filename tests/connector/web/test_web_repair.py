"""Session repair against the fake edge's policies: delivery receipts are `inactive` until we announce
presence (the edge flags an active one as a violation); a contact's identity change drops our sessions
with it (the next message starts afresh with a pkmsg the new install reads); a stale device list is
caught by the ack's `phash` and the missed device gets the message; the messages kept for retry receipts
and the senders kept for group read receipts survive a reconnect (they live in the KeyStore)."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.events import IncomingMessage
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
