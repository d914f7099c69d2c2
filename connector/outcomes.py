"""What a command handler decides about its queue message: delete it, hand it back later, dead-letter it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryLater:
    """Make it (and the rest of its session's held commands, to keep their order) visible again after
    `seconds`; 0 hands it to whoever owns the session now."""

    seconds: int


@dataclass(frozen=True)
class DeadLetter:
    """Move it to the shard's DLQ (for an operator to look at or replay), then delete it."""

    reason: str


CommandResult = RetryLater | DeadLetter | None  # None: handled, delete it


async def pause(halt: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds`, unless `halt` is set first; returns whether it was."""
    if halt.is_set():
        return True
    try:
        await asyncio.wait_for(halt.wait(), seconds)
    except TimeoutError:
        return False
    return True
