"""The due index: scheduled messages by the minute they fall due, so the sweeper reads only what is due.

An entry lives in the partition of its epoch minute and a slot (0..SLOTS-1, from the message id) that
spreads one busy minute over several partitions; its sort key starts with `due_at`. The sweeper reads the
partitions of the minutes that fall due: cost is proportional to what is due, never to everything that is
scheduled. A cursor row remembers the last minute entirely swept. Keys: store/keys.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from wagate.ports import Delete, Item, Put, Table
from wagate.store import keys

SLOTS = 8


@dataclass(frozen=True)
class DueEntry:
    tenant_id: str
    message_id: str
    due_at: float


def slot_of(message_id: str) -> int:
    return hashlib.sha256(message_id.encode()).digest()[0] % SLOTS


def key(tenant_id: str, message_id: str, due_at: float) -> keys.Key:
    return keys.Key(
        keys.due_partition(int(due_at // 60), slot_of(message_id)),
        keys.due_sort(tenant_id, message_id, due_at),
    )


def entry_item(tenant_id: str, message_id: str, due_at: float) -> Item:
    pk, sk = key(tenant_id, message_id, due_at)
    return {"pk": pk, "sk": sk, "tenant_id": tenant_id, "message_id": message_id, "due_at": due_at}


class DueIndex:
    def __init__(self, table: Table) -> None:
        self.table = table

    @staticmethod
    def add(tenant_id: str, message_id: str, due_at: float) -> Put:
        """The operation that files a message under its due time."""
        return Put(entry_item(tenant_id, message_id, due_at))

    @staticmethod
    def remove(tenant_id: str, message_id: str, due_at: float) -> Delete:
        return Delete(*key(tenant_id, message_id, due_at))

    def entries(
        self, minute: int, slot: int, *, cursor: str | None = None
    ) -> tuple[list[DueEntry], str | None]:
        """One page of the entries of one minute's slot, earliest first."""
        page = self.table.query(keys.due_partition(minute, slot), limit=100, cursor=cursor)
        found = [DueEntry(str(e["tenant_id"]), str(e["message_id"]), float(e["due_at"])) for e in page.items]
        return found, page.cursor

    def delete(self, entry: DueEntry) -> None:
        self.table.delete(*key(entry.tenant_id, entry.message_id, entry.due_at))

    def swept_through(self) -> int | None:
        """The last minute entirely swept, if any sweep has finished one."""
        cursor = self.table.get(*keys.SCHEDULER_CURSOR)
        return int(cursor["done_through"]) if cursor else None

    def mark_swept(self, minute: int) -> None:
        pk, sk = keys.SCHEDULER_CURSOR
        self.table.put({"pk": pk, "sk": sk, "done_through": minute})
