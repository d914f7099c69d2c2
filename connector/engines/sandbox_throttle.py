"""WhatsApp's 429 rate-overlimit on lookups, as the sandbox's `rate_limit` action plays it for one number:
lookups held back until the hold ends, the episode reported once and its end (the web engine's own:
engines/web/throttle.py)."""

from __future__ import annotations

import asyncio

from connector.engines.errors import HeldBack
from connector.engines.events import Emit, Throttled, ThrottleEnded
from connector.tasks import BackgroundTasks
from wagate.ports import Clock


class SandboxThrottle:
    def __init__(self, emit: Emit, clock: Clock) -> None:
        self._emit = emit
        self._clock = clock
        self._until: float | None = None  # lookups held back until then

    async def hold(self, seconds: float, tasks: BackgroundTasks) -> None:
        """Lookups held back for `seconds` (reported once per episode), then answered again."""
        until = self._clock.now() + seconds
        started = self._until is None
        self._until = until
        if started:
            detail = f"sandbox: WhatsApp refused lookups with 429 rate-overlimit; held back for {seconds:g} s"
            await self._emit(Throttled("device_list", detail, seconds))
        tasks.spawn(self._ends(until), name="sandbox rate limit")

    async def _ends(self, until: float) -> None:
        await asyncio.sleep(max(0.0, until - self._clock.now()))
        if self._until == until:  # not extended by a later `rate_limit` meanwhile
            self._until = None
            await self._emit(ThrottleEnded("sandbox: the hold is over; WhatsApp answers lookups again"))

    def check(self, request: str) -> None:
        """Raises HeldBack while the hold lasts (what web/throttle.py raises)."""
        left = (self._until or 0.0) - self._clock.now()
        if left > 0:
            raise HeldBack(
                f"WhatsApp refused {request} queries with 429 rate-overlimit; not asked again for "
                f"{left:.1f} s (sandbox)",
                code="rate_limited",
                details={
                    "code": 429,
                    "text": "rate-overlimit",
                    "request": request,
                    "retry_in": max(round(left, 1), 0.1),
                },
            )
