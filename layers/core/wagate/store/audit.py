"""Audit entries and failed-authentication counters (keys and access patterns: store/keys.py).

Entries are only ever put, never updated or deleted here: their TTL (the tenant's audit retention) is
what removes them. The log is read newest first, by tenant, by actor (gsi1) or by target (gsi2).
"""

from __future__ import annotations

from dataclasses import dataclass

from wagate.conditions import SortKey, item_absent
from wagate.domain.audit import AuditEntry
from wagate.domain.ids import time_prefix
from wagate.ports import TTL_ATTRIBUTE, Item, Table
from wagate.store import keys

_ENTRY_FIELDS = frozenset(AuditEntry.model_fields)
_ID_PREFIX = "aud_"
_LAST_TIME = 253402300799.0  # 9999-12-31


def entry_item(entry: AuditEntry, expires_at: int | None) -> Item:
    pk, sk = keys.audit_entry(entry.tenant_id, entry.id)
    item: Item = {
        "pk": pk,
        "sk": sk,
        "gsi1pk": keys.audit_actor_index(entry.tenant_id, entry.actor),
        "gsi1sk": entry.id,
        **entry.model_dump(mode="json", exclude_none=True),
    }
    if entry.target:
        item["gsi2pk"] = keys.audit_target_index(entry.tenant_id, entry.target)
        item["gsi2sk"] = entry.id
    if expires_at is not None:
        item[TTL_ATTRIBUTE] = expires_at
    return item


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    cursor: str | None  # the id of the last entry examined; None when the range is exhausted


class AuditRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def append(self, entry: AuditEntry, expires_at: int | None) -> None:
        self.table.put(entry_item(entry, expires_at), condition=item_absent())

    def page(
        self,
        tenant_id: str,
        *,
        actor: str | None = None,
        target: str | None = None,
        action: str | None = None,
        since: float | None = None,
        until: float | None = None,
        before: str | None = None,
        limit: int = 50,
        max_examined: int = 1000,
    ) -> AuditPage:
        """Newest first, entries matching every filter given. `before` is a previous page's cursor.

        Filters that no index answers (action, and target when an actor is given) are applied while
        reading, so one call examines at most `max_examined` rows; it then returns what it found with a
        cursor to go on from, possibly with fewer than `limit` entries.
        """
        if actor is not None:
            partition, index = keys.audit_actor_index(tenant_id, actor), "gsi1"
        elif target is not None:
            partition, index = keys.audit_target_index(tenant_id, target), "gsi2"
        else:
            partition, index = keys.audit_partition(tenant_id), None
        low = _ID_PREFIX + time_prefix(since or 0.0)
        high = _ID_PREFIX + time_prefix(until if until is not None else _LAST_TIME) + "\uffff"
        if before is not None:
            high = min(high, before)
        if high < low:  # an empty range (DynamoDB refuses BETWEEN with its bounds reversed)
            return AuditPage([], None)
        found: list[AuditEntry] = []
        examined = 0
        table_cursor: str | None = None
        last_seen: str | None = None
        while True:
            chunk = min(max(limit * 2, 25), max_examined - examined)
            page = self.table.query(
                partition,
                sk=SortKey.between(low, high),
                index=index,
                forward=False,
                limit=chunk,
                cursor=table_cursor,
            )
            for item in page.items:
                entry = AuditEntry.model_validate({k: v for k, v in item.items() if k in _ENTRY_FIELDS})
                examined += 1
                if entry.id == before:
                    continue
                last_seen = entry.id
                if _matches(entry, since, until, actor, target, action):
                    found.append(entry)
                    if len(found) == limit:
                        return AuditPage(found, entry.id)
            table_cursor = page.cursor
            if table_cursor is None:
                return AuditPage(found, None)
            if examined >= max_examined:
                return AuditPage(found, last_seen)

    # ---- failed authentication ----------------------------------------------------------------------

    def count_failed_auth(self, source_ip: str, minute: int, expires_at: int) -> int:
        """Adds one to this address's failures in this minute; returns the new count."""
        pk, sk = keys.failed_auth(source_ip, minute)
        item = self.table.update(pk, sk, set={TTL_ATTRIBUTE: expires_at}, add={"count": 1})
        return int(item.get("count", 0))


def _matches(
    entry: AuditEntry,
    since: float | None,
    until: float | None,
    actor: str | None,
    target: str | None,
    action: str | None,
) -> bool:
    # The id's millisecond prefix bounded the range; the exact times settle its edges.
    if since is not None and entry.at < since:
        return False
    if until is not None and entry.at > until:
        return False
    if actor is not None and entry.actor != actor:
        return False
    if target is not None and entry.target != target:
        return False
    return action is None or entry.action == action
