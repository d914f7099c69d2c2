"""Retention policies: each tenant's, read through a short per-process cache by whoever writes rows.

Writers stamp each row's TTL (`expires_at`) from the policy when they write it: DynamoDB's TTL removes
expired rows on AWS and the local table's sweep does in one-box mode; until then they are invisible.
A changed policy applies to rows written from then on (rows already written keep their TTL).
"""

from __future__ import annotations

import threading
import time

from wagate.domain.retention import RetentionPolicy
from wagate.ports import Clock, Table
from wagate.store.retention import RetentionRepository

CACHE_SECONDS = 30.0


class RetentionService:
    def __init__(self, table: Table, clock: Clock) -> None:
        self.clock = clock
        self.repository = RetentionRepository(table)
        self._cache: dict[str, tuple[float, RetentionPolicy]] = {}
        self._lock = threading.Lock()

    def policy(self, tenant_id: str) -> RetentionPolicy:
        """The tenant's policy; another process's change shows within CACHE_SECONDS."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(tenant_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        policy = self.repository.get(tenant_id)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[tenant_id] = (now + CACHE_SECONDS, policy)
        return policy

    def replace(self, tenant_id: str, policy: RetentionPolicy) -> RetentionPolicy:
        self.repository.put(tenant_id, policy, self.clock.now())
        with self._lock:
            self._cache[tenant_id] = (time.monotonic() + CACHE_SECONDS, policy)
        return policy

    def expires_at(self, tenant_id: str, kind: str, start: float | None = None) -> int | None:
        """The TTL of a row of `kind` written now (or at `start`). "Now" is the wall clock, not the
        services' clock: DynamoDB and the SQLite table both judge a TTL against real time."""
        return self.policy(tenant_id).expires_at(kind, time.time() if start is None else start)
