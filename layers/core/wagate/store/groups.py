"""A session's group rows, its group-sync row and its group operations (keys: store/keys.py).

A sync replaces the list; a change (a `group_updated` event, a done operation) rewrites one group. Every
write is conditional on `synced_at <= this report's time`, so a late or redelivered older report never
overwrites a newer one, and a repeat changes nothing. Writes are updates, not puts: what the CRM set on a
group (`external_id`) and the members a change read survive a sync (which lists counts only).
Operation rows expire a week after they were asked for (TTL).
"""

from __future__ import annotations

from typing import Any

from wagate.conditions import Attr, Condition, SortKey, item_absent, item_exists
from wagate.domain.errors import ConflictError
from wagate.domain.groups import Group, GroupOperation, GroupSync, OperationStatus
from wagate.ports import TTL_ATTRIBUTE, Item, Table
from wagate.store import keys

_GROUP_FIELDS = frozenset(Group.model_fields)
_SYNCED_FIELDS = _GROUP_FIELDS - {"members", "external_id"}  # what a sync knows; the rest it keeps
OPERATION_TTL = 7 * 86400


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

    def get(self, tenant_id: str, session_id: str, jid: str) -> Group | None:
        item = self.table.get(*keys.group(tenant_id, session_id, jid))
        return to_group(item) if item is not None else None

    def write(self, tenant_id: str, session_id: str, fields: dict[str, Any], at: float) -> Group | None:
        """One group as a change at `at` saw it (fields of Group; those absent are kept). None when a
        newer report has landed already."""
        try:
            item = self.table.update(
                *keys.group(tenant_id, session_id, str(fields["jid"])),
                set={**fields, "session_id": session_id, "synced_at": at},
                condition=_not_newer(at),
            )
        except ConflictError:
            return None
        return to_group(item)

    def forget(self, tenant_id: str, session_id: str, jid: str, at: float) -> bool:
        """The number is no longer in the group (as of `at`). False when a newer report has landed."""
        try:
            self.table.delete(*keys.group(tenant_id, session_id, jid), condition=_not_newer(at))
        except ConflictError:
            return False
        return True

    def set_external_id(self, tenant_id: str, session_id: str, jid: str, external_id: str | None) -> Group:
        """Raises ConflictError when the group is not (or no longer) stored."""
        item = self.table.update(
            *keys.group(tenant_id, session_id, jid),
            set={"external_id": external_id} if external_id is not None else None,
            remove=() if external_id is not None else ("external_id",),
            condition=item_exists(),
        )
        return to_group(item)

    # ---- operations ---------------------------------------------------------------------------------

    def add_operation(self, tenant_id: str, operation: GroupOperation) -> None:
        pk, sk = keys.group_operation(tenant_id, operation.session_id, operation.id)
        fields = operation.model_dump(mode="json", exclude={"participants", "invite_link", "group"})
        expires = int(operation.requested_at) + OPERATION_TTL
        self.table.put({"pk": pk, "sk": sk, **fields, TTL_ATTRIBUTE: expires}, condition=item_absent())

    def operation(self, tenant_id: str, session_id: str, operation_id: str) -> GroupOperation | None:
        item = self.table.get(*keys.group_operation(tenant_id, session_id, operation_id))
        return _operation(item) if item is not None else None

    def finish_operation(
        self,
        tenant_id: str,
        session_id: str,
        operation_id: str,
        *,
        status: OperationStatus,
        at: float,
        group_jid: str | None,
        result: dict[str, Any] | None,
        error: dict[str, str] | None,
    ) -> GroupOperation | None:
        """The outcome, once: None when the operation is unknown (expired) or another report finished it."""
        changes: dict[str, Any] = {"status": status.value, "finished_at": at}
        if group_jid:
            changes["group_jid"] = group_jid
        if result:
            changes["result"] = result
        if error:
            changes["error"] = error
        try:
            item = self.table.update(
                *keys.group_operation(tenant_id, session_id, operation_id),
                set=changes,
                condition=Attr("status").eq(OperationStatus.PENDING.value),
            )
        except ConflictError:
            # Finished already: by this same report (a redelivery: its notices are owed again, and
            # deliveries dedupe) or by another (nothing to tell).
            again = self.operation(tenant_id, session_id, operation_id)
            return again if again is not None and again.finished_at == at else None
        return _operation(item)

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
            fields = group.model_dump(mode="json", include=set(_SYNCED_FIELDS))
            try:
                self.table.update(
                    *keys.group(tenant_id, session_id, group.jid), set=fields, condition=_not_newer(at)
                )
            except ConflictError:
                pass  # a newer sync (or change) wrote this group meanwhile
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


def _operation(item: Item) -> GroupOperation:
    stored = item.get("result")
    result: dict[str, Any] = stored if isinstance(stored, dict) else {}
    fields = {k: v for k, v in item.items() if k in GroupOperation.model_fields}
    return GroupOperation.model_validate({**fields, **result})
