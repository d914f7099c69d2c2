"""A number's health signals per UTC day: atomic counters moved inside the transaction of the change they
count (a message sent or failed, a reply stored), so a redelivered event never counts twice.

Rows (keys.py): `T#{t}#S#{s}` / `HEALTH#{YYYY-MM-DD}` with counters sent, failed, restricted, refused,
rate_limited, replies and a TTL; the first contacts come from the connector's own day counters
(`FIRSTCONTACT#{day}`, connector/first_contacts.py). A window of N days is one query of N rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from wagate.conditions import SortKey
from wagate.domain.health import Signals
from wagate.ports import Table, Update
from wagate.store import keys

COUNTERS = ("sent", "failed", "restricted", "refused", "rate_limited", "replies")


def utc_day(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d")


def days(now: float, count: int) -> list[str]:
    """The last `count` UTC days, today last."""
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    return [(today - dt.timedelta(days=n)).isoformat() for n in range(count - 1, -1, -1)]


class HealthRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    @staticmethod
    def add(
        tenant_id: str, session_id: str, at: float, deltas: Mapping[str, int], *, keep_days: int
    ) -> Update:
        """The transaction operation that moves a day's counters (`deltas`: names of COUNTERS)."""
        day = utc_day(at)
        return Update(
            *keys.health_day(tenant_id, session_id, day),
            add=dict(deltas),
            set={"day": day, "expires_at": math.ceil(at + keep_days * 86400)},
        )

    def signals(self, tenant_id: str, session_id: str, now: float, window_days: int) -> Signals:
        """The counts summed over the last `window_days` UTC days (today included)."""
        window = days(now, window_days)
        partition = keys.session_partition(tenant_id, session_id)
        low, high = (
            keys.health_day(tenant_id, session_id, window[0]),
            keys.health_day(tenant_id, session_id, window[-1]),
        )
        totals = dict.fromkeys(COUNTERS, 0)
        page = self.table.query(partition, sk=SortKey.between(low.sk, high.sk), limit=window_days + 1)
        for row in page.items:
            for name in COUNTERS:
                value = row.get(name)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    totals[name] += int(value)
        # A query, like the one above (the connector's role may query its table, not batch-get).
        first, last = (keys.first_contact_day(tenant_id, session_id, d).sk for d in (window[0], window[-1]))
        firsts = self.table.query(partition, sk=SortKey.between(first, last), limit=window_days + 1)
        new_contacts = sum(int(row.get("count", 0)) for row in firsts.items)
        return Signals(**totals, new_contacts=max(0, new_contacts))
