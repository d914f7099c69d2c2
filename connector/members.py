"""Which connectors are alive: heartbeat rows that let each one take only its fair share of shards.

Rows (keys: wagate/store/keys.py), one per connector, with the table's TTL attribute `expires_at`: a
member that stops heart-beating simply disappears from the count (unlike leases, nothing is fenced on
these rows, so turning invisible on expiry is exactly right). A member whose process is provably gone
(killed on this host: see wagate.process_liveness) is not counted even before its row expires,
so a restarted connector takes every shard at once rather than a share sized for its dead predecessor.
Synchronous: call through asyncio.to_thread.
"""

from __future__ import annotations

import math

from wagate import process_liveness
from wagate.conditions import SortKey
from wagate.ports import Clock, Table
from wagate.store import keys


class Members:
    def __init__(self, table: Table, clock: Clock, owner: str, *, ttl: float) -> None:
        self._table = table
        self._clock = clock
        self._owner = owner
        self._ttl = ttl

    def heartbeat(self) -> int:
        """Say we are alive; returns how many connectors are (us included)."""
        now = self._clock.now()
        self._table.put(
            {
                "pk": keys.member(self._owner).pk,
                "sk": keys.member(self._owner).sk,
                "owner": self._owner,
                "seen_at": now,
                "expires_at": math.ceil(now + self._ttl),
                **process_liveness.current().attributes(),
            }
        )
        return self.count()

    def count(self) -> int:
        total, cursor = 0, None
        while True:
            page = self._table.query(
                keys.MEMBERS_PARTITION, sk=SortKey.prefix(keys.MEMBER_PREFIX), limit=100, cursor=cursor
            )
            total += sum(1 for row in page.items if not process_liveness.row_writer_gone(row))
            cursor = page.cursor
            if cursor is None:
                return max(total, 1)

    def leave(self) -> None:
        self._table.delete(*keys.member(self._owner))
