"""What the real edge enforces beyond the grammar, enforced by the fake and met by the engine: privacy
tokens (463 without one), phone numbers recovered when the edge leaves out `*_pn`, the passkey prompt at
linking. Each test fails when the engine misbehaves, and the fake must have understood every request."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.base import IncomingMessage, KeyNamespace, SendRejected
from tests.connector.web.harness import Harness, with_edge

ALICE, BOB, CAROL = "15550001111", "15550002222", "15550003333"


def test_a_restricted_number_writes_only_to_contacts_whose_privacy_token_it_holds() -> None:
    """Alice's account is restricted: her first message to a stranger is refused with 463 (a clear,
    not-retried `recipient_restricted`). Bob writes to her; his engine then issues his privacy token,
    which reaches hers as a `privacy_token` notification; her reply carries it and gets through."""

    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        h.edge.state.account(CAROL)
        h.edge.restrict(ALICE)

        with pytest.raises(SendRejected) as refused:
            await alice.engine.send_text(f"+{CAROL}", "hello stranger", "msg_cold")
        assert refused.value.code == "recipient_restricted" and not refused.value.is_transient
        with pytest.raises(SendRejected):  # Bob never trusted her yet either
            await alice.engine.send_text(bob.e164, "hello bob?", "msg_early")

        await bob.engine.send_text(alice.e164, "hi alice", "msg_hi")
        await alice.running.wait_where(IncomingMessage, lambda m: m.text == "hi alice")
        await h.edge.wait_for("privacy-token", jid=bob.jid)
        stored = await _wait_for_token(h, "ses_a")
        assert stored, "the privacy_token notification was not stored"

        await alice.engine.send_text(bob.e164, "hi bob", "msg_reply")
        got = await bob.running.wait_where(IncomingMessage, lambda m: m.text == "hi bob")
        assert got.sender_phone == alice.e164
        restricted = [e.detail for e in h.edge.events if e.kind == "restricted"]
        assert restricted == [f"{ALICE}->{CAROL}", f"{ALICE}->{BOB}"]
        assert h.edge.unhandled == []

    with_edge(body)


async def _wait_for_token(h: Harness, session_id: str) -> list[str]:
    for _ in range(200):
        backing = h.backing.get(("ten_web", session_id), {})
        found = [key for (namespace, key) in backing if namespace == KeyNamespace.PRIVACY_TOKEN.value]
        if found:
            return found
        await asyncio.sleep(0.02)
    return []
