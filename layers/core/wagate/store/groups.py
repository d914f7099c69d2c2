"""A session's group rows and its group-sync row (keys and access patterns: store/keys.py).

A sync replaces the list: every write is conditional on `synced_at <= this sync's time`, so a late or
redelivered older sync never overwrites a newer one, and a repeat changes nothing.
"""

from __future__ import annotations

from wagate.conditions import Attr, Condition, SortKey
from wagate.domain.errors import ConflictError
from wagate.domain.groups import Group, GroupSync
from wagate.ports import Item, Table
from wagate.store import keys

_GROUP_FIELDS = frozenset(Group.model_fields)


def _not_newer(at: float) -> Condition:
    """Holds when the stored copy is absent or from a sync no newer than `at`."""
    return Attr("synced_at").not_exists() | Attr("synced_at").le(at)


def to_group(item: Item) -> Group:
    return Group.model_validate({k: v for k, v in item.items() if k in _GROUP_FIELDS})


class GroupRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def last_sync(self, tenant_id: str, session_id: str) -> GroupSync | None:
        item = self.table.get(*keys.group_sync(tenant_id, session_id))
        if item is None:
            return None
        return GroupSync(session_id=session_id, synced_at=float(item["synced_at"]), count=int(item["count"]))

    def has(self, tenant_id: str, session_id: str, jid: str) -> bool:
        return self.table.get(*keys.group(tenant_id, session_id, jid)) is not None

    def page(
        self, tenant_id: str, session_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[Group], str | None]:
        page = self.table.query(
            keys.session_partition(tenant_id, session_id),
            sk=SortKey.prefix(keys.GROUP_PREFIX),
            limit=limit,
            cursor=cursor,
        )
        return [to_group(item) for item in page.items], page.cursor

    def replace_all(self, tenant_id: str, session_id: str, groups: list[Group], at: float) -> bool:
        """Stores a sync made at `at`: its row, each group, and forgets the groups it no longer lists.
        False (nothing written) when a newer sync has landed already."""
        try:
            self.table.update(
                *keys.group_sync(tenant_id, session_id),
                set={"session_id": session_id, "synced_at": at, "count": len(groups)},
                condition=_not_newer(at),
            )
        except ConflictError:
            return False
        for group in groups:
            pk, sk = keys.group(tenant_id, session_id, group.jid)
            try:
                self.table.put(
                    {"pk": pk, "sk": sk, **group.model_dump(mode="json")}, condition=_not_newer(at)
                )
            except ConflictError:
                pass  # a newer sync wrote this group meanwhile
        self._forget_older(tenant_id, session_id, at)
        return True

    def _forget_older(self, tenant_id: str, session_id: str, at: float) -> None:
        cursor = None
        while True:
            page = self.table.query(
                keys.session_partition(tenant_id, session_id),
                sk=SortKey.prefix(keys.GROUP_PREFIX),
                limit=100,
                cursor=cursor,
            )
            for item in page.items:
                if float(item.get("synced_at", 0)) < at:
                    try:
                        self.table.delete(item["pk"], item["sk"], condition=Attr("synced_at").lt(at))
                    except ConflictError:
                        pass  # refreshed by a newer sync meanwhile: keep it
            if page.cursor is None:
                return
            cursor = page.cursor
