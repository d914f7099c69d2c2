"""Which shard a session belongs to, and the names that follow from a shard number."""

from __future__ import annotations

import hashlib
import math


def shard_of(session_id: str, shards: int) -> int:
    """Stable across processes, machines and Python versions (not `hash()`, which is salted)."""
    if shards < 1:
        raise ValueError("there must be at least one shard")
    digest = hashlib.sha256(session_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def command_queue_name(shard: int) -> str:
    """The logical name (template.yaml) of a shard's FIFO command queue."""
    return f"CommandQueue{shard}"


def command_dlq_name(shard: int) -> str:
    """The logical name (template.yaml) of a shard's command DLQ."""
    return f"CommandDlq{shard}"


EVENTS_QUEUE = "EventsQueue"


def fair_share(shards: int, members: int) -> int:
    """How many shards one of `members` live connectors should hold."""
    return math.ceil(shards / max(1, members))
