"""Scheduled messages reach the connector on time: the sweeper moves what falls due into a delay queue,
and the dispatcher turns each into a `send` when its delay ends.

    every minute   sweep():   due-index partitions of the minutes up to now + WINDOW
                              → DispatchQueue (standard SQS: per-message delay = due_at - now, ≤ 15 min)
                              → the due entry is deleted
    at due time    forward(): scheduled → queued (a conditional update: a cancel or reschedule wins)
                              → MessageService.dispatch (the shard's FIFO command queue)
Cost per sweep is proportional to what is due: only the partitions of the swept minutes are read, and a
cursor (store/due_index.py) remembers the last minute that is entirely done. Every step is safe to
repeat: a crash between sending and deleting sends twice, and the dispatcher sends a message only while
it is still scheduled (or queued after a failed attempt), while the FIFO dedup id and the connector's
claim keep a duplicate from reaching WhatsApp.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from wagate.conditions import Attr
from wagate.domain.errors import ConflictError
from wagate.domain.messages import MessageStatus
from wagate.observability import logger
from wagate.ports import Clock, Queue, Queues, Table
from wagate.services.due_index import DISPATCH_QUEUE, dispatch_message
from wagate.services.messages import MessageService
from wagate.store.due_index import SLOTS, DueIndex
from wagate.store.messages import MessageRepository, to_message

WINDOW_SECONDS = 90  # a little over the sweep interval, so nothing falls between two sweeps
FIRST_LOOKBACK_MINUTES = 60


@dataclass(frozen=True)
class SweepReport:
    minutes: int
    partitions: int
    dispatched: int


def sweep(table: Table, queues: Queues, clock: Clock) -> SweepReport:
    """Moves everything due before now + WINDOW into the dispatch queue."""
    now = clock.now()
    current_minute = int(now // 60)
    due = DueIndex(table)
    done_through = due.swept_through()
    first = done_through + 1 if done_through is not None else current_minute - FIRST_LOOKBACK_MINUTES
    last = int((now + WINDOW_SECONDS) // 60)
    queue = queues.get(DISPATCH_QUEUE)
    dispatched = partitions = 0
    for minute in range(first, last + 1):
        for slot in range(SLOTS):
            partitions += 1
            dispatched += _sweep_partition(due, queue, minute=minute, slot=slot, now=now)
        # Only minutes wholly in the past are done: a message may still be scheduled into the current one.
        if minute < current_minute:
            due.mark_swept(minute)
    return SweepReport(minutes=max(0, last - first + 1), partitions=partitions, dispatched=dispatched)


def _sweep_partition(due: DueIndex, queue: Queue, *, minute: int, slot: int, now: float) -> int:
    sent = 0
    cursor = None
    while True:
        page, cursor = due.entries(minute, slot, cursor=cursor)
        entries = [e for e in page if e.due_at <= now + WINDOW_SECONDS]
        for start in range(0, len(entries), 10):
            batch = entries[start : start + 10]
            queue.send_batch([dispatch_message(e.tenant_id, e.message_id, e.due_at, now) for e in batch])
            for entry in batch:
                due.delete(entry)
            sent += len(batch)
        if cursor is None:
            return sent


def forward(table: Table, messages: MessageService, body: str) -> bool:
    """The dispatcher's step for one delay-queue message. Returns whether a send was handed on.

    Raises only on infrastructure errors (so the queue retries); a cancelled, rescheduled or already
    sent message is dropped quietly.
    """
    request = json.loads(body)
    tenant_id, message_id, due_at = request["tenant_id"], request["message_id"], float(request["due_at"])
    rows = MessageRepository(table)
    item = rows.row(tenant_id, message_id)
    if item is None:
        return False
    status = item["status"]
    if status == MessageStatus.SCHEDULED:
        if abs(float(item.get("scheduled_at") or 0) - due_at) > 0.001:
            return False  # rescheduled: its new due entry will bring it
        try:
            item = rows.update(
                tenant_id,
                message_id,
                set={"status": MessageStatus.QUEUED.value, "updated_at": messages.clock.now()},
                condition=Attr("status").eq(MessageStatus.SCHEDULED.value)
                & Attr("scheduled_at").eq(item["scheduled_at"]),
            )
        except ConflictError:
            return False  # cancelled or moved meanwhile
    elif status != MessageStatus.QUEUED:
        return False
    messages.dispatch(to_message(item))
    logger.info(
        "scheduled message dispatched",
        extra={"message_id": message_id, "late_by": messages.clock.now() - due_at},
    )
    return True
