"""The command consumer's lanes: per-session order, no head-of-line blocking, held commands kept invisible,
hand-backs and dead letters (on a real SQLite FIFO queue, with a scripted dispatcher)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from connector.consumer import CommandConsumer
from connector.outcomes import CommandResult, DeadLetter, RetryLater
from wagate.adapters.local.sqlite_queue import QueueDefinition, SqliteQueues
from wagate.domain.events import Command, CommandType


def queues(tmp_path: Path) -> SqliteQueues:
    definitions = [
        QueueDefinition("Dlq", fifo=True),
        QueueDefinition("Commands", fifo=True, visibility_timeout=30, dlq="Dlq", max_receives=5),
    ]
    return SqliteQueues(tmp_path / "queues.db", {d.name: d for d in definitions})


def enqueue(q: SqliteQueues, session: str, label: str) -> None:
    command = Command(
        type=CommandType.SEND, tenant_id="t", session_id=session, data={"label": label}, issued_at=0
    )
    q.get("Commands").send(command.model_dump_json(), group_id=session, dedup_id=command.id)


def test_lanes_keep_order_hold_without_blocking_others_and_hand_back(tmp_path: Path) -> None:
    q = queues(tmp_path)
    for label in ("slow", "a2", "a3"):
        enqueue(q, "ses_a", label)
    for label in ("b1", "b2", "later", "b4", "poison", "b6"):
        enqueue(q, "ses_b", label)
    handled: list[tuple[str, int]] = []
    asked_back = False
    b6_handled = asyncio.Event()

    async def dispatch(command: Command, receive_count: int, halt: asyncio.Event) -> CommandResult:
        nonlocal asked_back
        label = str(command.data["label"])
        handled.append((label, receive_count))
        if label == "slow":
            # Held until session b is done (b must not wait behind a), and longer than the visibility
            # (the keeper must extend it, or it would be delivered again).
            await asyncio.gather(asyncio.wait_for(b6_handled.wait(), 10), asyncio.sleep(3.0))
        if label == "b6":
            b6_handled.set()
        if label == "later" and not asked_back:
            asked_back = True
            return RetryLater(0)  # it and b4.. come back, in order
        if label == "poison":
            return DeadLetter("test")
        return None

    async def main() -> None:
        consumer = CommandConsumer(
            0,
            q.get("Commands"),
            dispatch,
            wait_seconds=0.1,
            visibility_seconds=2,
            max_in_flight=50,
            retry_seconds=1,
            dlq=lambda: q.get("Dlq"),
        )
        consumer.start()
        deadline = time.monotonic() + 15
        while len(handled) < 10 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await consumer.stop()

    asyncio.run(main())
    labels = [label for label, _ in handled]
    assert [x for x in labels if x in ("slow", "a2", "a3")] == ["slow", "a2", "a3"]
    assert [x for x in labels if x.startswith(("b", "later", "poison"))] == [
        "b1",
        "b2",
        "later",
        "later",
        "b4",
        "poison",
        "b6",
    ]
    assert labels.index("b6") < labels.index("a2"), "session b went on while a's first command was held"
    counts = {label: count for label, count in handled}
    assert counts["slow"] == 1 and counts["a2"] == 1, "a held command was never re-delivered"
    assert q.get("Commands").approximate_depth() == 0
    parked = [
        Command.model_validate_json(m.body).data["label"] for m in q.get("Dlq").receive(max_messages=10)
    ]
    assert parked == ["poison"]
    q.close()
