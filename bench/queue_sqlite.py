"""Benchmark: send and receive+delete throughput of the SQLite queue (messages per second), printed.

Usage: python bench/queue_sqlite.py [messages]   (default 5000; a temporary file, synchronous=NORMAL)
The last line is the whole life of a message (one send, one receive, one delete) on a standard queue.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from wagate.adapters.local.sqlite_queue import QueueDefinition, SqliteQueues
from wagate.ports import OutgoingMessage, Queue

BODY = (
    '{"type":"send","tenant":"t_01HZY","message":"m_01HZY","to":"+351912345678","text":"' + "x" * 120 + '"}'
)


def timed(label: str, count: int, work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    print(f"  {label:<34} {count:>7} msgs  {elapsed:7.3f} s  {count / elapsed:>9,.0f} msg/s")
    return elapsed


def consume(queue: Queue, count: int) -> None:
    done = 0
    while done < count:
        batch = queue.receive(max_messages=10)
        for message in batch:
            queue.delete(message.receipt)
        done += len(batch)


def run(count: int, directory: Path) -> float:
    definitions = {
        "Work": QueueDefinition("Work", fifo=False),
        "Ordered": QueueDefinition("Ordered", fifo=True),
    }
    queues = SqliteQueues(directory / "bench.db", definitions)
    work, ordered = queues.get("Work"), queues.get("Ordered")
    print(f"SQLite queue, {count} messages of {len(BODY)} bytes, {directory}")

    def send_one_by_one() -> None:
        for _ in range(count):
            work.send(BODY)

    send = timed("standard: send (one per call)", count, send_one_by_one)
    receive = timed("standard: receive(10) + delete each", count, lambda: consume(work, count))

    def send_batches() -> None:
        for _ in range(0, count, 10):
            work.send_batch([OutgoingMessage(BODY)] * 10)

    timed("standard: send_batch(10)", count, send_batches)
    timed("standard: receive(10) + delete each", count, lambda: consume(work, count))

    def send_fifo() -> None:
        for i in range(0, count, 10):
            ordered.send_batch(
                [OutgoingMessage(f"{BODY}{i + j}", group_id=f"g{(i + j) % 100}") for j in range(10)]
            )

    timed("FIFO (100 groups): send_batch(10)", count, send_fifo)
    timed("FIFO: receive(10) + delete each", count, lambda: consume(ordered, count))
    queues.close()
    return count / (send + receive)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as directory:
        lifecycle = run(count, Path(directory))
    print(f"queue_sqlite: {lifecycle:.0f} msg/s (target: for the record)")


if __name__ == "__main__":
    main()
