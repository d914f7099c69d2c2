"""Scheduled messages into the delay queue: the dispatch message for one due entry (the entries
themselves: store/due_index.py)."""

from __future__ import annotations

import json
import math

from wagate.ports import OutgoingMessage
from wagate.store.due_index import SLOTS

__all__ = ["DISPATCH_QUEUE", "MAX_DELAY_SECONDS", "SLOTS", "dispatch_message"]

DISPATCH_QUEUE = "DispatchQueue"  # standard SQS: the only kind that takes a per-message delay
MAX_DELAY_SECONDS = 900  # SQS's limit for DelaySeconds


def dispatch_message(tenant_id: str, message_id: str, due_at: float, now: float) -> OutgoingMessage:
    delay = min(MAX_DELAY_SECONDS, max(0, math.ceil(due_at - now)))
    body = json.dumps({"tenant_id": tenant_id, "message_id": message_id, "due_at": due_at})
    return OutgoingMessage(body=body, delay_seconds=delay)
