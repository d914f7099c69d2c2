"""Broadcast rows and their recipient parts (keys and access patterns: store/keys.py).

A broadcast row holds what to send, its status, how far the recipients have been turned into messages
(`next_index`, conditionally advanced) and the counters its messages move (`n_*`, atomic adds written in
the transaction of each message's change: domain/broadcasts.py). The recipients are kept in parts of
`PART_SIZE`, read as they are turned into messages and deleted once the broadcast ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wagate.conditions import Condition, SortKey, item_absent
from wagate.domain.broadcasts import Broadcast, BroadcastStatus, Rejection, counts_of
from wagate.ports import Item, Table, Update
from wagate.store import keys

PART_SIZE = 500  # ~60 KB of recipients and variables per row, far below DynamoDB's 400 KB


def to_broadcast(item: Item) -> Broadcast:
    return Broadcast(
        id=str(item["id"]),
        tenant_id=str(item["tenant_id"]),
        name=str(item.get("name") or ""),
        session_id=item.get("session_id"),
        pool=item.get("pool"),
        kind=str(item["kind"]),
        status=BroadcastStatus(item["status"]),
        status_reason=item.get("status_reason"),
        counts=counts_of(item),
        rejections=[Rejection.model_validate(r) for r in item.get("rejections") or []],
        metadata=dict(item.get("metadata") or {}),
        created_at=float(item["created_at"]),
        updated_at=float(item["updated_at"]),
        completed_at=float(item["completed_at"]) if item.get("completed_at") is not None else None,
    )


class BroadcastRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def row(self, tenant_id: str, broadcast_id: str) -> Item | None:
        return self.table.get(*keys.broadcast(tenant_id, broadcast_id))

    def page(
        self, tenant_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Broadcast], str | None]:
        page = self.table.query(
            keys.tenant_partition(tenant_id),
            sk=SortKey.prefix(keys.BROADCAST_PREFIX),
            forward=False,
            limit=limit,
            cursor=cursor,
        )
        return [to_broadcast(item) for item in page.items if "id" in item], page.cursor

    def create(self, row: Item, parts: Sequence[Sequence[Mapping[str, Any]]]) -> None:
        """The recipient parts first, then the row that makes them a broadcast (a crash in between leaves
        parts no row points to; they expire with the tenant's message retention)."""
        tenant_id, broadcast_id = row["tenant_id"], row["id"]
        for number, recipients in enumerate(parts):
            pk, sk = keys.broadcast_part(tenant_id, broadcast_id, number)
            self.table.put({"pk": pk, "sk": sk, "recipients": list(recipients)})
        pk, sk = keys.broadcast(tenant_id, broadcast_id)
        self.table.put({"pk": pk, "sk": sk, **row}, condition=item_absent())

    def part(self, tenant_id: str, broadcast_id: str, number: int) -> list[dict[str, Any]]:
        item = self.table.get(*keys.broadcast_part(tenant_id, broadcast_id, number))
        return list(item["recipients"]) if item is not None else []

    def erase_recipient(self, tenant_id: str, phone: str) -> int:
        """Blanks `phone` out of every broadcast still to send (its place stays, so the positions of the
        others do not move: a step reports it as `erased`). How many places it held."""
        erased = 0
        cursor = None
        while True:
            page = self.table.query(
                keys.tenant_partition(tenant_id), sk=SortKey.prefix(keys.BROADCAST_PREFIX), cursor=cursor
            )
            for row in page.items:
                if "id" not in row or row.get("status") in ("cancelled", "completed"):
                    continue
                for number in range(part_count(row)):
                    recipients = self.part(tenant_id, str(row["id"]), number)
                    blanked = [_blank(r) if r.get("to") == phone else r for r in recipients]
                    if blanked != recipients:
                        pk, sk = keys.broadcast_part(tenant_id, str(row["id"]), number)
                        self.table.put({"pk": pk, "sk": sk, "recipients": blanked})
                        erased += sum(1 for r in recipients if r.get("to") == phone)
            cursor = page.cursor
            if cursor is None:
                return erased

    def drop_parts(self, row: Mapping[str, Any]) -> None:
        """Deletes every recipient part of the broadcast `row` (once it has ended)."""
        for number in range(part_count(row)):
            self.table.delete(*keys.broadcast_part(str(row["tenant_id"]), str(row["id"]), number))

    def update(
        self,
        tenant_id: str,
        broadcast_id: str,
        *,
        set: Mapping[str, Any] | None = None,
        add: Mapping[str, int] | None = None,
        remove: Sequence[str] = (),
        condition: Condition | None = None,
    ) -> Item:
        """Raises ConflictError when `condition` does not hold."""
        pk, sk = keys.broadcast(tenant_id, broadcast_id)
        return self.table.update(pk, sk, set=set, add=add, remove=remove, condition=condition)


def part_count(row: Mapping[str, Any]) -> int:
    """How many recipient parts a broadcast row's recipients fill."""
    return -(-int(row.get("n_unique") or 0) // PART_SIZE)


def _blank(recipient: Mapping[str, Any]) -> dict[str, Any]:
    return {"i": recipient["i"], "erased": True}


def counted(tenant_id: str, broadcast_id: str, added: Mapping[str, int]) -> Update:
    """Moves a broadcast's counters, in the transaction of the message change that moved them. Without a
    condition: a message's change must never fail for its broadcast's sake (a late receipt after the
    broadcast row expired leaves a counters-only row, which lists skip and retention removes)."""
    pk, sk = keys.broadcast(tenant_id, broadcast_id)
    return Update(pk, sk, add=dict(added))


def accepted(tenant_id: str, broadcast_id: str) -> Update:
    return counted(tenant_id, broadcast_id, {"n_accepted": 1})
