"""Each tenant's API request bucket (domain/throttle.py) in the table, shared by every API Lambda.

One row per tenant (keys.request_bucket: its own partition, not the tenant's, so a busy tenant's
bucket never shares a partition with its messages), `tat` kept by atomic conditional writes, never a
read-modify-write: ADD the interval while the bucket has room, or reset it from now when it has been
full. Which one to try first is guessed from the last `tat` this process saw for the tenant, so the usual
request costs one write. A refused request costs a failed write and a read; the row expires (TTL) once
the bucket has been full for a minute.
"""

from __future__ import annotations

import threading

from wagate.conditions import Attr, item_absent
from wagate.domain.errors import ConflictError
from wagate.domain.throttle import EPSILON, RequestRate
from wagate.ports import Clock, Table
from wagate.store import keys

_IDLE_TTL_SECONDS = 60


class TableRequestBuckets:
    def __init__(self, table: Table, clock: Clock, rate: RequestRate) -> None:
        self.table = table
        self.clock = clock
        self.rate = rate
        self._seen: dict[str, float] = {}  # tenant → the last tat written or read here (a hint only)
        self._lock = threading.Lock()

    def take(self, tenant_id: str) -> float:
        """0 when the request is admitted; else the seconds to wait. Raises ConflictError only if the
        row keeps changing under four attempts."""
        pk, sk = keys.request_bucket(tenant_id)
        rate = self.rate
        for _ in range(4):
            now = self.clock.now()
            with self._lock:
                busy = self._seen.get(tenant_id, 0.0) >= now
            attempts = (self._add, self._reset) if busy else (self._reset, self._add)
            for attempt in attempts:
                tat = attempt(pk, sk, now)
                if tat is not None:
                    self._remember(tenant_id, tat)
                    return 0.0
            row = self.table.get(pk, sk)
            current = float(row["tat"]) if row and "tat" in row else None
            admitted, wait = rate.admit(current, now)
            if admitted is None:
                assert current is not None
                self._remember(tenant_id, current)
                return wait
            # The row moved between the writes and the read: decide again.
        raise ConflictError("the request bucket kept changing; retry", code="busy")

    def _add(self, pk: str, sk: str, now: float) -> float | None:
        """Pay one interval while the bucket has room for it (tat in [now, now + window - interval])."""
        rate = self.rate
        room = Attr("tat").ge(now) & Attr("tat").le(now + rate.window - rate.interval + EPSILON)
        try:
            item = self.table.update(
                pk, sk, add={"tat": rate.interval}, set={"expires_at": self._expiry(now)}, condition=room
            )
        except ConflictError:
            return None
        return float(item["tat"])

    def _reset(self, pk: str, sk: str, now: float) -> float | None:
        """The bucket is full (tat in the past, or no row): start again from now."""
        tat = now + self.rate.interval
        try:
            self.table.put(
                {"pk": pk, "sk": sk, "tat": tat, "expires_at": self._expiry(now)},
                condition=item_absent() | Attr("tat").lt(now),
            )
        except ConflictError:
            return None
        return tat

    def _expiry(self, now: float) -> int:
        return int(now + self.rate.window) + _IDLE_TTL_SECONDS

    def _remember(self, tenant_id: str, tat: float) -> None:
        with self._lock:
            if len(self._seen) > 10_000:  # a hint cache, not a record: forget rather than grow
                self._seen.clear()
            self._seen[tenant_id] = tat
