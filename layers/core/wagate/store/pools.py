"""Number pool rows and their "last picked" marks (keys and access patterns: store/keys.py).

A pool row holds its members (session id, priority), description and a version; a use row per session
remembers when a pool last picked it (the least-recently-used tie-break), written in the transaction of
the message that was sent through the pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wagate.conditions import SortKey, item_absent, item_exists
from wagate.domain.pools import PoolMember
from wagate.ports import Item, Table, Update
from wagate.store import keys


@dataclass(frozen=True)
class PoolRecord:
    tenant_id: str
    name: str
    members: tuple[PoolMember, ...]
    description: str | None
    created_at: float
    updated_at: float
    version: int


def to_pool(item: Item) -> PoolRecord:
    return PoolRecord(
        tenant_id=str(item["tenant_id"]),
        name=str(item["name"]),
        members=tuple(PoolMember.model_validate(raw) for raw in item.get("members") or []),
        description=item.get("description"),
        created_at=float(item["created_at"]),
        updated_at=float(item["updated_at"]),
        version=int(item.get("version", 1)),
    )


class PoolRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def find(self, tenant_id: str, name: str) -> PoolRecord | None:
        item = self.table.get(*keys.pool(tenant_id, name))
        return to_pool(item) if item is not None else None

    def page(
        self, tenant_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[PoolRecord], str | None]:
        page = self.table.query(
            keys.tenant_partition(tenant_id), sk=SortKey.prefix(keys.POOL_PREFIX), limit=limit, cursor=cursor
        )
        return [to_pool(item) for item in page.items], page.cursor

    def create(self, pool: PoolRecord) -> None:
        """Raises ConflictError when a pool of that name exists."""
        pk, sk = keys.pool(pool.tenant_id, pool.name)
        item: Item = {
            "pk": pk,
            "sk": sk,
            "name": pool.name,
            "tenant_id": pool.tenant_id,
            "members": [m.model_dump() for m in pool.members],
            "description": pool.description,
            "created_at": pool.created_at,
            "updated_at": pool.updated_at,
            "version": pool.version,
        }
        self.table.put(item, condition=item_absent())

    def replace(
        self, tenant_id: str, name: str, *, members: Sequence[PoolMember], description: str | None, at: float
    ) -> PoolRecord:
        """New members and description (version + 1). Raises ConflictError when the pool is gone."""
        item = self.table.update(
            *keys.pool(tenant_id, name),
            set={"members": [m.model_dump() for m in members], "description": description, "updated_at": at},
            add={"version": 1},
            condition=item_exists(),
        )
        return to_pool(item)

    def delete(self, tenant_id: str, name: str) -> None:
        """Raises ConflictError when there is no such pool."""
        self.table.delete(*keys.pool(tenant_id, name), condition=item_exists())

    def last_used(self, tenant_id: str, session_id: str) -> float | None:
        usage = self.table.get(*keys.pool_use(tenant_id, session_id))
        return float(usage["last_used_at"]) if usage else None

    @staticmethod
    def mark_used(tenant_id: str, session_id: str, at: float) -> Update:
        """The operation that records a pick (it goes in the message's own transaction)."""
        return Update(
            *keys.pool_use(tenant_id, session_id), set={"session_id": session_id, "last_used_at": at}
        )
