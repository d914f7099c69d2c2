"""The runner's half of ack after durable: an engine's `emit` of an incoming message (or a receipt) returns
only once the event is in the events queue — the engine acks the stanza to WhatsApp when it returns — and
a runner whose lease is gone refuses such an event (raises) instead of dropping it, so it is never acked
unpublished. The engine's half: tests/connector/web/test_web_durability.py."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from connector.engines.base import SessionInfo
from connector.engines.events import IncomingMessage, Receipt, ReceiptStatus
from connector.leases import LeaseLost
from connector.publisher import EventPublisher
from connector.session_runner import RunnerContext, SessionRunner, StopReason
from tests.fakes.clock import FakeClock
from wagate.ports import OutgoingMessage


class SlowQueue:
    """An events queue that takes its time: send_batch blocks until `release` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.sent: list[OutgoingMessage] = []

    def send_batch(self, messages: list[OutgoingMessage]) -> None:
        self.release.wait(10)
        self.sent.extend(messages)


def runner(publisher: EventPublisher) -> SessionRunner:
    fields: dict[str, Any] = dict.fromkeys(
        ("table", "crypto", "clock", "config", "leases", "keeper", "engines", "tasks")
    )
    context = RunnerContext(**fields, publisher=publisher)  # only the publisher is used here
    return SessionRunner(SessionInfo("ten_1", "ses_1", "web"), 0, 1, context)


MESSAGE = IncomingMessage("3EB0AA", "34600999888@s.whatsapp.net", "34600999888@s.whatsapp.net", None, 1.0)
RECEIPT = Receipt("34600999888@s.whatsapp.net", ("3EB0BB",), ReceiptStatus.READ, 2.0)


@pytest.mark.parametrize("event", [MESSAGE, RECEIPT], ids=["message", "receipt"])
def test_emit_returns_only_once_the_event_is_in_the_queue(event: Any) -> None:
    async def body() -> None:
        queue = SlowQueue()
        publisher = EventPublisher(queue, FakeClock())  # type: ignore[arg-type]
        publisher.start()
        emitting = asyncio.get_running_loop().create_task(runner(publisher)._on_event(event))
        await asyncio.sleep(0.3)
        assert not emitting.done() and queue.sent == []  # the engine would not have acked yet
        queue.release.set()
        await asyncio.wait_for(emitting, 5)
        assert len(queue.sent) == 1
        await publisher.stop()

    asyncio.run(body())


def test_a_runner_without_its_lease_refuses_a_message_instead_of_dropping_it() -> None:
    async def body() -> None:
        queue = SlowQueue()
        queue.release.set()
        publisher = EventPublisher(queue, FakeClock())  # type: ignore[arg-type]
        publisher.start()
        lost = runner(publisher)
        lost._stop_reason = StopReason.LEASE_LOST
        with pytest.raises(LeaseLost):
            await lost._on_event(MESSAGE)
        await publisher.stop()
        assert queue.sent == []

    asyncio.run(body())
