"""Messaging faults: an undecryptable message earns a retry receipt (never a crash), a corrupt session record
resets that one session and the sender's resend gets through, a lost sender key is redistributed on
request, and the edge dropping the connection around a send leaves it retryable with the same id: the
recipient shows it once."""

from __future__ import annotations

import os
import time

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.base import provider_message_id
from connector.engines.errors import EngineError
from connector.engines.events import IncomingMessage, Receipt
from connector.engines.exits import ExitReason
from connector.engines.keys import KeyNamespace
from connector.engines.web.binary.node import AttrValue, Node
from connector.engines.web.signal import SignalAddress, sender_key_name
from tests.connector.web.harness import Harness, with_edge

ALICE, BOB, CAROL = "15550001111", "15550002222", "15550003333"


def _retries(h: Harness, by: object) -> list[str]:
    return [
        e.detail
        for e in h.edge.events
        if e.kind == "receipt" and e.jid == by and e.detail.startswith("retry")
    ]


def test_an_undecryptable_message_gets_a_retry_receipt_and_the_session_goes_on() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        bob_device = h.edge.state.device(bob.jid)
        assert bob_device is not None
        garbage = Node("enc", {"v": "2", "type": "pkmsg"}, b"\x33" + os.urandom(90))
        attrs: dict[str, AttrValue] = {
            "from": alice.jid,
            "id": "3EB0BADBADBAD",
            "t": str(int(time.time())),
            "type": "text",
        }
        await h.edge.relay.deliver(bob_device, Node("message", attrs, [garbage]), chat=alice.jid.to_account())
        await h.edge.wait_for("receipt", jid=bob.jid)
        assert _retries(h, bob.jid) == ["retry 3EB0BADBADBAD"]
        await h.edge.wait_for("ack", jid=alice.jid)  # Alice got the retry receipt: not hers to answer
        sent = await alice.engine.send_text(bob.e164, "still fine", "after_garbage")
        got = await bob.running.wait(IncomingMessage)
        assert (got.provider_message_id, got.text) == (sent.provider_message_id, "still fine")
        assert bob.engine.connected and alice.engine.connected
        await alice.running.stop()
        await bob.running.stop()

    with_edge(body)


def test_a_corrupt_session_record_resets_that_session_only_and_the_resend_gets_through() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        carol = await h.linked(CAROL, "ses_c")
        for sender, name in ((alice, "a"), (carol, "c")):
            await sender.engine.send_text(bob.e164, f"hi from {name}", f"first_{name}")
        await bob.running.wait(IncomingMessage, 2)
        await bob.engine.send_text(alice.e164, "hi alice", "reply_a")  # Alice's next one is a plain msg
        await alice.running.wait(IncomingMessage)

        alice_lid = h.edge.state.accounts[ALICE].device_lid(alice.jid.device or 0)
        address = str(SignalAddress.from_jid(alice_lid))
        keys = h.keys("ses_b")
        assert (await keys.get(KeyNamespace.SESSION, [address])).get(address)
        await keys.put(KeyNamespace.SESSION, {address: b"{not a session record"})

        sent = await alice.engine.send_text(bob.e164, "after the corruption", "second_a")
        got = await bob.running.wait_where(
            IncomingMessage, lambda m: m.provider_message_id == sent.provider_message_id
        )
        assert got.text == "after the corruption"
        assert _retries(h, bob.jid)  # Bob asked, Alice re-sent in a new session
        assert (await keys.get(KeyNamespace.SESSION, [address]))[address].startswith(b"{")
        from_carol = await carol.engine.send_text(bob.e164, "carol's session is untouched", "second_c")
        got = await bob.running.wait_where(
            IncomingMessage, lambda m: m.provider_message_id == from_carol.provider_message_id
        )
        assert got.text == "carol's session is untouched"
        for linked in (alice, bob, carol):
            await linked.running.stop()

    with_edge(body)


def test_a_member_that_lost_our_sender_key_asks_and_gets_it_again() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        group = h.edge.create_group("Team", ALICE, [BOB])
        await alice.engine.send_text(str(group.jid), "one", "grp_1")
        await bob.running.wait(IncomingMessage)
        alice_lid = h.edge.state.accounts[ALICE].device_lid(alice.jid.device or 0)
        name = sender_key_name(group.jid, SignalAddress.from_jid(alice_lid))
        await h.keys("ses_b").put(KeyNamespace.SENDER_KEY, {name: None})  # Bob lost Alice's key

        sent = await alice.engine.send_text(str(group.jid), "two", "grp_2")  # skmsg only: Bob cannot read it
        got = await bob.running.wait_where(
            IncomingMessage, lambda m: m.provider_message_id == sent.provider_message_id
        )
        assert (got.text, got.group_jid) == ("two", str(group.jid))
        assert _retries(h, bob.jid) == [f"retry {sent.provider_message_id}"]
        third = await alice.engine.send_text(str(group.jid), "three", "grp_3")  # the key is back for good
        got = await bob.running.wait_where(
            IncomingMessage, lambda m: m.provider_message_id == third.provider_message_id
        )
        assert got.text == "three" and len(_retries(h, bob.jid)) == 1
        await alice.running.stop()
        await bob.running.stop()

    with_edge(body)


@pytest.mark.parametrize("when", ["before_routing", "after_routing"])
def test_the_edge_dropping_mid_send_leaves_the_message_retryable_with_the_same_id(when: str) -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        await alice.engine.send_text(bob.e164, "warm up", "warm")
        await bob.running.wait(IncomingMessage)
        pid = provider_message_id("flaky")
        getattr(h.edge, f"drop_{when}").add(pid)
        with pytest.raises(EngineError) as failed:
            await alice.engine.send_text(bob.e164, "exactly once", "flaky")
        assert failed.value.is_transient  # the connector sends it again, same id
        assert (await alice.running.exit()).reason is ExitReason.CONNECTION_LOST
        alice.running = await h.connect("ses_a")
        again = await alice.engine.send_text(bob.e164, "exactly once", "flaky")
        assert again.provider_message_id == pid
        await bob.running.wait_where(IncomingMessage, lambda m: m.provider_message_id == pid)
        tail = await alice.engine.send_text(bob.e164, "after", "after")  # everything before it has landed
        await bob.running.wait_where(
            IncomingMessage, lambda m: m.provider_message_id == tail.provider_message_id
        )
        shown = [m for m in bob.running.of(IncomingMessage) if m.provider_message_id == pid]
        assert len(shown) == 1 and shown[0].text == "exactly once"
        routed = [e for e in h.edge.events if e.kind == "message" and e.detail.startswith(pid)]
        assert len(routed) == (1 if when == "before_routing" else 2)  # twice on the wire, shown once
        await alice.running.stop()
        await bob.running.stop()

    with_edge(body)


def test_a_receipt_that_overtakes_the_edges_ack_is_reported_after_the_send_returns() -> None:
    """The caller reports a message sent when send_text returns; a receipt reported before that would
    name a message the service does not know as sent yet."""

    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        pid = provider_message_id("quick")
        h.edge.ack_after_receipt.add(pid)
        sent = await alice.engine.send_text(bob.e164, "quick", "quick")
        assert sent.provider_message_id == pid
        assert not alice.running.of(Receipt)  # Bob's receipt came first, and is held
        delivered = await alice.running.wait(Receipt)
        assert delivered.provider_message_ids == (pid,)
        await alice.running.stop()
        await bob.running.stop()

    with_edge(body)
