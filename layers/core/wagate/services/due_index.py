"""The due index: scheduled messages by the minute they fall due, so the sweeper reads only what is due.

    DUE#{minute}#{slot} / {due_at:014.3f}#{tenant}#{message}
`minute` is the epoch minute of `due_at`; `slot` (0..SLOTS-1, from the message id) spreads one busy minute
over several partitions. The sweeper reads the partitions of the minutes that fall due: cost is
proportional to what is due, never to everything that is scheduled.
"""

from __future__ import annotations

import hashlib
import json
import math

from wagate.ports import Item, OutgoingMessage

SLOTS = 8
DISPATCH_QUEUE = "DispatchQueue"  # standard SQS: the only kind that takes a per-message delay
MAX_DELAY_SECONDS = 900  # SQS's limit for DelaySeconds


def _slot(message_id: str) -> int:
    return hashlib.sha256(message_id.encode()).digest()[0] % SLOTS


def partition(minute: int, slot: int) -> str:
    return f"DUE#{minute}#{slot}"


def key(tenant_id: str, message_id: str, due_at: float) -> tuple[str, str]:
    return partition(int(due_at // 60), _slot(message_id)), f"{due_at:014.3f}#{tenant_id}#{message_id}"


def entry(tenant_id: str, message_id: str, due_at: float) -> Item:
    pk, sk = key(tenant_id, message_id, due_at)
    return {"pk": pk, "sk": sk, "tenant_id": tenant_id, "message_id": message_id, "due_at": due_at}


def dispatch_message(tenant_id: str, message_id: str, due_at: float, now: float) -> OutgoingMessage:
    delay = min(MAX_DELAY_SECONDS, max(0, math.ceil(due_at - now)))
    body = json.dumps({"tenant_id": tenant_id, "message_id": message_id, "due_at": due_at})
    return OutgoingMessage(body=body, delay_seconds=delay)
