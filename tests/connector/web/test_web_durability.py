"""Ack after durable: an incoming message is receipted and acked to the edge only once its event is
durably queued (`emit` returned), and a message whose event never became durable is delivered again by
the edge and read back from the inbox buffer (its Signal key is already spent). The process-level proof
(kill -9 of `wagate serve` mid-burst) is tests/e2e/test_serve_web_kill9.py."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.events import EngineEvent, IncomingMessage, Receipt
from connector.engines.keys import KeyNamespace
from tests.connector.web.harness import Harness, Running, with_edge

ALICE, BOB = "15550001111", "15550002222"


def _gate(running: Running) -> tuple[asyncio.Event, list[EngineEvent]]:
    """Make `running`'s emit of messages and receipts wait (the queue is slow) until the gate opens."""
    gate, waiting = asyncio.Event(), []
    plain = running.emit

    async def emit(event: EngineEvent) -> None:
        if isinstance(event, IncomingMessage | Receipt):
            waiting.append(event)
            await gate.wait()
        await plain(event)

    running.emit = emit  # type: ignore[method-assign]
    return gate, waiting


async def _until(check: object, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.01)


def _acked(h: Harness, message_id: str) -> list[str]:
    """What the edge saw the recipient do with the message `message_id`: its receipt and ack."""
    return [
        f"{e.kind} {e.detail}"
        for e in h.edge.events
        if e.kind in ("ack", "receipt") and e.detail in (f"inactive {message_id}", f"message {message_id}")
    ]


def test_a_message_is_receipted_and_acked_only_after_its_event_is_durable() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        gate, waiting = _gate(bob.running)

        sent = await alice.engine.send_text(bob.e164, "¿mañana a las 10?", "msg_1")
        await _until(lambda: waiting)
        await asyncio.sleep(0.3)  # time enough for an engine that acks first
        assert _acked(h, sent.provider_message_id) == []
        assert bob.running.of(IncomingMessage) == []

        gate.set()
        got = await bob.running.wait(IncomingMessage)
        assert got.provider_message_id == sent.provider_message_id
        await _until(lambda: len(_acked(h, sent.provider_message_id)) == 2)
        assert _acked(h, sent.provider_message_id) == [
            f"receipt inactive {sent.provider_message_id}",
            f"ack message {sent.provider_message_id}",
        ]
        # The plaintext kept for a redelivery is deleted once acked (here: when the connection ends).
        await bob.running.stop()
        assert [k for (ns, k) in h.backing[("ten_web", "ses_b")] if ns == KeyNamespace.INBOX.value] == []
        await alice.running.stop()

    with_edge(body)


def test_a_message_whose_event_never_became_durable_comes_back_after_a_crash() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        _, waiting = _gate(bob.running)
        sent = await alice.engine.send_text(bob.e164, "primera", "msg_1")
        await _until(lambda: waiting)
        # The connector dies with the event still on its way to the queue: decrypted (the Signal message
        # key is spent and committed), never published, never acked.
        bob.running.task.cancel()
        await asyncio.gather(bob.running.task, return_exceptions=True)
        buffered = [k for (ns, k) in h.backing[("ten_web", "ses_b")] if ns == KeyNamespace.INBOX.value]
        assert len(buffered) == 1

        restarted = await h.connect("ses_b")
        again = await restarted.wait(IncomingMessage)
        assert (again.provider_message_id, again.text) == (sent.provider_message_id, "primera")
        await _until(lambda: f"ack message {sent.provider_message_id}" in _acked(h, sent.provider_message_id))
        # The conversation goes on in step: the next message decrypts normally.
        more = await alice.engine.send_text(bob.e164, "segunda", "msg_2")
        following = await restarted.wait(IncomingMessage, 2)
        assert (following.provider_message_id, following.text) == (more.provider_message_id, "segunda")
        await restarted.stop()
        await alice.running.stop()

    with_edge(body)
