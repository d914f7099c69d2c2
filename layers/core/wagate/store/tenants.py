"""Tenant rows, API-key rows and the global /health counters (keys and access patterns: store/keys.py).

An API key row is found by the SHA-256 of the key the caller presents (the key itself is never stored)
and sits in its tenant's key index, for listing and revoking.

A tenant row being suspended or resumed (services/suspension.py) also holds the run's progress:
`pending` (suspend | resume),
`pending_id` (which run), `pending_step` (its steps done), `pending_after` (the last session done in the
step under way), `pending_until` (how long the run counts as alive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wagate.conditions import Attr, Condition, SortKey, item_absent, item_exists
from wagate.domain.errors import ConflictError, NotFound
from wagate.domain.tenants import ApiKey, Tenant, TenantChange
from wagate.ports import Item, Put, Table, Update
from wagate.store import keys, stats


@dataclass(frozen=True)
class StoredKey:
    """An API key as stored: its listing and the SHA-256 (hex) of its secret."""

    key: ApiKey
    digest: str
    suspended_at: float | None = None  # its tenant is suspended (services/operator.py): refused with 403


def key_item(stored: StoredKey) -> Item:
    pk, sk = keys.api_key(stored.digest)
    key = stored.key
    return {
        "pk": pk,
        "sk": sk,
        "gsi1pk": keys.api_keys_index(key.tenant_id),
        "gsi1sk": key.id,
        "id": key.id,
        "hash": stored.digest,
        "tenant_id": key.tenant_id,
        "name": key.name,
        "scopes": sorted(str(s) for s in key.scopes),
        "prefix": key.prefix,
        "created_at": key.created_at,
        **({"sessions": sorted(key.sessions)} if key.sessions is not None else {}),
        **({"suspended_at": stored.suspended_at} if stored.suspended_at is not None else {}),
    }


def to_stored_key(item: Item) -> StoredKey:
    suspended = item.get("suspended_at")
    return StoredKey(
        ApiKey.model_validate(item),
        str(item.get("hash", "")),
        float(suspended) if suspended is not None else None,
    )


PENDING_FIELDS = ("pending", "pending_id", "pending_step", "pending_after", "pending_until")


@dataclass(frozen=True)
class PendingRun:
    """A suspend or resume under way (or cut short) on the tenant row."""

    action: TenantChange
    id: str
    step: int  # steps done
    after: str | None  # the last session done within the step under way
    until: float  # alive until then (each progress write pushes it on)
    suspended_at: float | None


def pending_run(item: Item) -> PendingRun | None:
    if item.get("pending") is None:
        return None
    after = item.get("pending_after")
    suspended = item.get("suspended_at")
    return PendingRun(
        TenantChange(item["pending"]),
        str(item["pending_id"]),
        int(item.get("pending_step", 0)),
        str(after) if after is not None else None,
        float(item.get("pending_until", 0)),
        float(suspended) if suspended is not None else None,
    )


def _as_read(item: Item, name: str) -> Condition:
    return Attr(name).eq(item[name]) if item.get(name) is not None else Attr(name).not_exists()


class TenantRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def create(self, tenant: Tenant, first_key: StoredKey) -> None:
        """The tenant, its first key and the tenant count, in one transaction."""
        pk, sk = keys.tenant(tenant.id)
        row = {"pk": pk, "sk": sk, "gsi1pk": keys.TENANTS_INDEX, "gsi1sk": tenant.id, **tenant.model_dump()}
        self.table.transact_write(
            [
                Put(row, condition=item_absent()),
                Put(key_item(first_key), condition=item_absent()),
                stats.add(tenant.id, {"tenants": 1}),
            ]
        )

    def find(self, tenant_id: str) -> Tenant | None:
        item = self.table.get(*keys.tenant(tenant_id))
        return Tenant.model_validate(item) if item is not None else None

    def page(self, *, limit: int = 50, cursor: str | None = None) -> tuple[list[Tenant], str | None]:
        """Every tenant (created since the operator API exists: older rows are not in the index until
        `wagate admin index-tenants` puts them there), by id."""
        page = self.table.query(keys.TENANTS_INDEX, index="gsi1", limit=limit, cursor=cursor)
        return [Tenant.model_validate(item) for item in page.items], page.cursor

    def change(self, tenant_id: str, changes: dict[str, Any], *, remove: tuple[str, ...] = ()) -> Tenant:
        """Sets attributes of an existing tenant (and puts it in the operator's index). Raises NotFound."""
        try:
            new = self.table.update(
                *keys.tenant(tenant_id),
                set={**changes, "gsi1pk": keys.TENANTS_INDEX, "gsi1sk": tenant_id},
                remove=remove,
                condition=item_exists(),
            )
        except ConflictError as exc:
            raise NotFound(f"tenant {tenant_id} does not exist") from exc
        return Tenant.model_validate(new)

    def row(self, tenant_id: str) -> Item | None:
        """The tenant row as stored (with its suspension's bookkeeping)."""
        return self.table.get(*keys.tenant(tenant_id))

    def begin_run(self, as_read: Item, changes: dict[str, Any], remove: tuple[str, ...] = ()) -> Item:
        """Starts (or takes over) a suspend or resume: writes `changes` only if the row's status and run
        are still as read. Raises ConflictError (changed, or gone)."""
        tenant_id = str(as_read["id"])
        return self.table.update(
            *keys.tenant(tenant_id),
            set={**changes, "gsi1pk": keys.TENANTS_INDEX, "gsi1sk": tenant_id},
            remove=remove,
            condition=item_exists() & _as_read(as_read, "status") & _as_read(as_read, "pending_id"),
        )

    def run_progress(
        self, tenant_id: str, run_id: str, changes: dict[str, Any], remove: tuple[str, ...] = ()
    ) -> Item | None:
        """Writes a run's progress (or its end) while the row still holds that run; None when it does not
        (finished by a copy of the call, or taken over)."""
        try:
            return self.table.update(
                *keys.tenant(tenant_id), set=changes, remove=remove, condition=Attr("pending_id").eq(run_id)
            )
        except ConflictError:
            return None

    def sessions_held(self, tenant_id: str) -> int:
        item = self.table.get(*keys.tenant_counters(tenant_id))
        return int((item or {}).get("sessions", 0))

    @staticmethod
    def count_message(tenant_id: str, day: str, limit: int, expires_at: int) -> Update:
        """The write that counts one accepted message of `day`, only while under `limit` (it fails the
        transaction it rides in otherwise)."""
        return Update(
            *keys.daily_messages(tenant_id, day),
            set={"expires_at": expires_at},
            add={"count": 1},
            condition=Attr("count").not_exists() | Attr("count").lt(limit),
        )

    def messages_on(self, tenant_id: str, day: str) -> int:
        item = self.table.get(*keys.daily_messages(tenant_id, day))
        return int((item or {}).get("count", 0))

    def count(self) -> int:
        return stats.totals(self.table).get("tenants", 0)

    # ---- API keys -----------------------------------------------------------------------------------

    def add_key(self, stored: StoredKey) -> None:
        self.table.put(key_item(stored), condition=item_absent())

    def key_by_digest(self, digest: str) -> StoredKey | None:
        item = self.table.get(*keys.api_key(digest))
        return to_stored_key(item) if item is not None else None

    def keys_of(self, tenant_id: str) -> list[ApiKey]:
        found: list[ApiKey] = []
        cursor: str | None = None
        while True:
            page = self.table.query(keys.api_keys_index(tenant_id), index="gsi1", cursor=cursor)
            found.extend(ApiKey.model_validate(item) for item in page.items)
            if page.cursor is None:
                return found
            cursor = page.cursor

    def mark_keys(self, tenant_id: str, suspended_at: float | None) -> int:
        """Marks every key of the tenant suspended (at that time), or not (None). The mark is on the key
        rows, so the authorizer refuses a suspended tenant's keys with the one read it makes anyway (and
        without opening the tenant row's sealed name). Returns how many keys were marked."""
        marked = 0
        cursor: str | None = None
        while True:
            page = self.table.query(keys.api_keys_index(tenant_id), index="gsi1", cursor=cursor)
            for item in page.items:
                if mark_suspended(self.table, str(item["pk"]), str(item["sk"]), suspended_at):
                    marked += 1  # else revoked meanwhile
            if page.cursor is None:
                return marked
            cursor = page.cursor

    def revoke_key(self, tenant_id: str, key_id: str) -> bool:
        """Deletes a key of this tenant; False when the tenant has no such key."""
        page = self.table.query(keys.api_keys_index(tenant_id), index="gsi1", sk=SortKey.eq(key_id))
        if not page.items:
            return False
        item = page.items[0]
        self.table.delete(item["pk"], item["sk"], condition=Attr("tenant_id").eq(tenant_id))
        return True


def mark_suspended(
    table: Table, pk: str, sk: str, suspended_at: float | None, *, also: dict[str, Any] | None = None
) -> bool:
    """Marks an existing row (an API key, a session, its lease) as its tenant's suspended at that time,
    or not (None), setting `also` in the same write. False when the row is gone."""
    try:
        if suspended_at is None:
            table.update(pk, sk, set=also, remove=("suspended_at",), condition=item_exists())
        else:
            table.update(pk, sk, set={**(also or {}), "suspended_at": suspended_at}, condition=item_exists())
    except ConflictError:
        return False
    return True
