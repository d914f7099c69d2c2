"""Per-tenant quotas at accept: how many sessions a tenant may hold, how many messages it may send per day.

The operator sets them (services/operator.py); null means the deployment's default (sessions:
WAGATE_MAX_SESSIONS_PER_TENANT) or no limit (messages). A tenant's quotas are cached for a short while
(each send would otherwise read the tenant row): a change applies within CACHE_SECONDS.

Messages are counted per UTC day in one counter row written in the accept's own transaction, with a
condition, so a send over the quota stores nothing and two racing sends cannot both take the last one.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from wagate.domain.errors import QuotaExceeded
from wagate.domain.tenants import Quotas, seconds_to_next_day, utc_day
from wagate.store.tenants import TenantRepository

if TYPE_CHECKING:
    from wagate.ports import Clock, Table, Update

CACHE_SECONDS = 30.0
COUNTER_DAYS = 2  # a day's counter outlives its day a little (TTL), never longer


class TenantQuotas:
    def __init__(self, table: Table, clock: Clock, default_sessions: int) -> None:
        self.clock = clock
        self.default_sessions = default_sessions
        self.rows = TenantRepository(table)
        self._cache: dict[str, tuple[float, Quotas]] = {}
        self._lock = threading.Lock()

    def of(self, tenant_id: str) -> Quotas:
        now = self.clock.now()
        with self._lock:
            hit = self._cache.get(tenant_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        tenant = self.rows.find(tenant_id)
        quotas = tenant.quotas if tenant is not None else Quotas()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[tenant_id] = (now + CACHE_SECONDS, quotas)
        return quotas

    def session_limit(self, tenant_id: str) -> int:
        own = self.of(tenant_id).sessions
        return self.default_sessions if own is None else own

    def count_message(self, tenant_id: str) -> Update | None:
        """The write that counts one more accepted message today; None when the tenant has no daily quota."""
        limit = self.of(tenant_id).messages_per_day
        if limit is None:
            return None
        now = self.clock.now()
        expires_at = int(now) + COUNTER_DAYS * 86_400
        return self.rows.count_message(tenant_id, utc_day(now), limit, expires_at)

    def messages_refused(self, tenant_id: str) -> QuotaExceeded:
        """The error for a send the daily counter refused."""
        limit = self.of(tenant_id).messages_per_day
        retry_after = seconds_to_next_day(self.clock.now())
        return QuotaExceeded(
            f"this tenant has sent its {limit} messages for today (UTC); more are accepted after midnight",
            code="daily_message_quota_exceeded",
            details={"quota": "messages_per_day", "limit": limit, "retry_after": retry_after},
        )
