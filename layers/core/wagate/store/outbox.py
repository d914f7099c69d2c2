"""Outbox rows: the notifications a stored change still owes, committed in the change's transaction
(services/outbox.py drains them). Keys and access patterns: store/keys.py.

A row lives in its session's outbox partition (a retry of the change drains what the session owes) and,
through gsi1, in one of SHARDS sweep partitions picked by a hash of its id (the sweeper's view of every
tenant). It holds the event and its notices as JSON, `claimed_until` (who drains it, until when) and a TTL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from wagate.conditions import Attr
from wagate.domain.errors import ConflictError
from wagate.ports import Item, Put, Table
from wagate.store import keys

SHARDS = 8


@dataclass(frozen=True)
class OutboxRow:
    key: keys.Key
    event: str  # the SessionEvent without its data, as JSON
    notices: str  # [{"kind", "data"}], as JSON
    claimed_until: float


def sweep_partition(shard: int) -> str:
    return keys.outbox_shard(shard)


def to_row(item: Item) -> OutboxRow:
    return OutboxRow(
        keys.Key(str(item["pk"]), str(item["sk"])),
        str(item["event"]),
        str(item["notices"]),
        float(item.get("claimed_until", 0)),
    )


class OutboxRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    @staticmethod
    def new_row(
        tenant_id: str,
        session_id: str,
        ident: str,
        *,
        event: str,
        notices: str,
        claimed_until: float,
        expires_at: int,
    ) -> Put:
        """The operation that writes a row (claimed by its writer) in the change's own transaction."""
        shard = int.from_bytes(hashlib.sha256(ident.encode()).digest()[:4], "big") % SHARDS
        item: Item = {
            "pk": keys.outbox_partition(tenant_id, session_id),
            "sk": ident,
            "gsi1pk": sweep_partition(shard),
            "gsi1sk": ident,
            "event": event,
            "notices": notices,
            "claimed_until": claimed_until,
            "expires_at": expires_at,
        }
        return Put(item)

    def of_session(self, tenant_id: str, session_id: str, *, limit: int = 100) -> list[OutboxRow]:
        page = self.table.query(keys.outbox_partition(tenant_id, session_id), limit=limit)
        return [to_row(item) for item in page.items]

    def in_sweep_shard(self, shard: int, *, limit: int) -> list[OutboxRow]:
        """The rows of one sweep partition, oldest first, read again from the table (the index may lag)."""
        page = self.table.query(sweep_partition(shard), index="gsi1", limit=limit)
        found = []
        for entry in page.items:
            item = self.table.get(str(entry["pk"]), str(entry["sk"]))
            if item is not None:
                found.append(to_row(item))
        return found

    def claim(self, row: OutboxRow, *, now: float, until: float) -> bool:
        """Takes a row whose claim has passed; False when someone holds it (or it is gone)."""
        try:
            self.table.update(*row.key, set={"claimed_until": until}, condition=Attr("claimed_until").le(now))
        except ConflictError:
            return False
        return True

    def release(self, key: keys.Key) -> None:
        """Lets the next drainer in at once. Raises ConflictError when the row is gone."""
        self.table.update(*key, set={"claimed_until": 0}, condition=Attr("claimed_until").exists())

    def delete(self, key: keys.Key) -> None:
        self.table.delete(*key)
