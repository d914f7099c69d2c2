"""Anti-ban pacing of each number: a token bucket, a random gap between sends, a typing time, its settings.

Engine-agnostic: the send path asks `NumberPacer.delay()` how long to wait before the next send of a
number and tells it `took()` once a message really goes; `typing_seconds()` says how long to show
"typing…". Cloud API numbers are not paced here (no connector holds them): the cloud_send Lambda paces
them with a bucket in the Table (`wagate/cloud/pacing.py`).

The pacer of a number lives in the connector that holds its session: exactly one does (session lease),
so its state needs no sharing; a number that moves to another connector starts with a full bucket. The
daily first-contact cap, which must survive restarts and be shared, is in the Table (`first_contacts`).

A number whose health risk rises (wagate/domain/health.py) gets its pacing slowed by the policy's factor
when its settings are next read (`PacingPolicies.load`), unless its `health_slowdown` is off.

Settings come from `PacingPolicies`: `wagate.services.pacing_settings` (the service the API changes them
through: process defaults ← tenant row ← session row), cached per session for `refresh_seconds`, so an API
change applies within that.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from wagate import meters
from wagate.domain.health import Risk
from wagate.domain.pacing import Pacing
from wagate.services.health import HealthService
from wagate.services.pacing_settings import PacingSettings

log = logging.getLogger("wagate.connector.pacing")

Clock = Callable[[], float]
Uniform = Callable[[float, float], float]


class NumberPacer:
    """One number's rhythm: a token bucket (rate, burst) and a random minimum gap since the last send."""

    def __init__(self, *, clock: Clock = time.monotonic, uniform: Uniform = random.uniform) -> None:
        self._clock = clock
        self._uniform = uniform
        self._tokens: float | None = None  # full on first use
        self._refilled_at = clock()
        self._last_send: float | None = None
        self._gap = 0.0  # the random gap drawn at the last send

    def delay(self, pacing: Pacing) -> float:
        """Seconds to wait before the next send may go (0 when it may go now)."""
        if not pacing.enabled:
            return 0.0
        now = self._clock()
        tokens = self._refill(pacing, now)
        token_wait = 0.0 if tokens >= 1 else (1 - tokens) * 60.0 / pacing.rate_per_minute
        gap_wait = 0.0 if self._last_send is None else max(0.0, self._last_send + self._gap - now)
        return max(token_wait, gap_wait)

    def took(self, pacing: Pacing) -> None:
        """A message goes now: spend a token and draw the gap before the next one."""
        if not pacing.enabled:
            return
        now = self._clock()
        self._tokens = self._refill(pacing, now) - 1
        self._last_send = now
        self._gap = self._uniform(pacing.jitter_min_seconds, pacing.jitter_max_seconds)

    def typing_seconds(self, pacing: Pacing, text: str) -> float:
        """How long a person would type `text`: its length at the configured speed, a little randomised,
        within the configured bounds."""
        seconds = len(text) / pacing.typing_chars_per_second * self._uniform(0.8, 1.2)
        return min(pacing.typing_max_seconds, max(pacing.typing_min_seconds, seconds))

    def _refill(self, pacing: Pacing, now: float) -> float:
        burst = float(pacing.burst)
        if self._tokens is None:
            self._tokens = burst
        else:
            earned = (now - self._refilled_at) * pacing.rate_per_minute / 60.0
            self._tokens = min(burst, self._tokens + earned)
        self._refilled_at = now
        return self._tokens


@dataclass
class _Cached:
    pacing: Pacing
    until: float


class PacingPolicies:
    """The effective pacing of each session: process defaults ← tenant ← session, cached for a while."""

    def __init__(
        self,
        settings: PacingSettings,
        *,
        refresh_seconds: float,
        clock: Clock = time.monotonic,
        health: HealthService | None = None,
    ) -> None:
        self._settings = settings
        self._health = health
        self._risks: dict[tuple[str, str], Risk] = {}
        self._defaults = settings.defaults
        self._refresh = refresh_seconds
        self._clock = clock
        self._cache: dict[tuple[str, str], _Cached] = {}

    async def get(self, tenant_id: str, session_id: str) -> Pacing:
        key = (tenant_id, session_id)
        cached = self._cache.get(key)
        now = self._clock()
        if cached is not None and cached.until > now:
            return cached.pacing
        try:
            pacing = await asyncio.to_thread(self.load, tenant_id, session_id)
        except Exception as exc:  # the Table is unreachable: keep what we had rather than stop sending
            log.warning("cannot read the pacing of %s/%s: %s", tenant_id, session_id, exc)
            pacing = cached.pacing if cached is not None else self._defaults
        self._cache[key] = _Cached(pacing, now + self._refresh)
        return pacing

    def load(self, tenant_id: str, session_id: str) -> Pacing:
        """Read the tenant and session rows now, and slow the pacing down for the number's health risk
        (synchronous)."""
        pacing = self._settings.effective(tenant_id, session_id)
        if self._health is None:
            return pacing
        slowed, risk = self._health.paced(tenant_id, session_id, pacing)
        before = self._risks.get((tenant_id, session_id), Risk.OK)
        self._risks[(tenant_id, session_id)] = risk
        if risk != before:
            log.warning(
                "%s/%s: health risk %s (was %s); pacing %s",
                tenant_id,
                session_id,
                risk,
                before,
                f"x{slowed.rate_per_minute / pacing.rate_per_minute:.2f}" if risk != Risk.OK else "as set",
            )
            if risk != Risk.OK:
                meters.count("wagate_pacing_slowdowns_total", level=risk.value)
        return slowed

    def forget(self, tenant_id: str, session_id: str) -> None:
        self._cache.pop((tenant_id, session_id), None)
