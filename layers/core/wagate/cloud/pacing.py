"""Per-number pacing of Cloud API sends, shared by every Lambda: a token bucket kept in the Table (GCRA).

The bucket is one row per number (store/pacing.py `CloudPaceBuckets`) holding `tat`: the "theoretical
arrival time" (epoch seconds) at which the number's bucket is full again; TTL an hour after the last send.
Each send reserves the next slot with one atomic ADD of the interval to `tat` (no read-modify-write, so
concurrent Lambdas never lose a reservation); when the bucket has been full (tat in the past) it is reset
to now with a conditional put. A send may go at `tat - burst × interval`; before that it waits. The rate
and burst are the `Pacing` model's (wagate.domain.pacing) with Cloud API defaults — 4800/min
(80/s, Meta's default throughput) and a burst of 80, no jitter and no typing — under the session's own
`pacing` overrides. A tenant's overrides are not applied: they are anti-ban pacing for linked phones, and
Meta meters Cloud numbers itself.
"""

from __future__ import annotations

from typing import Any

from wagate.domain.pacing import Pacing, PacingOverrides, merge_leniently
from wagate.ports import Table
from wagate.store.pacing import CloudPaceBuckets

CLOUD_PACING = Pacing(
    rate_per_minute=4800.0,
    burst=80,
    jitter_min_seconds=0.0,
    jitter_max_seconds=0.0,
    typing=False,
    first_contacts_per_day=0,
)
TTL_SECONDS = 3600


def pacing_for(stored_overrides: Any) -> Pacing:
    """Cloud defaults under the session's stored `pacing` overrides (None: none)."""
    return merge_leniently(CLOUD_PACING, PacingOverrides.from_stored(stored_overrides))


def reserve(table: Table, tenant_id: str, session_id: str, pacing: Pacing, now: float) -> float:
    """Reserve the number's next send slot; returns the seconds until it (0: send now).

    Raises ConflictError only if the bucket row keeps changing under five attempts (it cannot, short of
    a clock far off)."""
    if not pacing.enabled:
        return 0.0
    interval = 60.0 / pacing.rate_per_minute
    horizon = pacing.burst * interval
    tat = CloudPaceBuckets(table).reserve(tenant_id, session_id, interval=interval, now=now, ttl=TTL_SECONDS)
    return max(0.0, tat - horizon - now)
