"""A tenant's retention policy row (keys and access patterns: store/keys.py); absent means the defaults."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from wagate.conditions import Condition
from wagate.domain.retention import DAY, RetentionPolicy
from wagate.ports import TTL_ATTRIBUTE, Item, Put, Table, TransactOp, Update
from wagate.store import keys

_FIELDS = tuple(RetentionPolicy.model_fields)


class RetentionRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def get(self, tenant_id: str) -> RetentionPolicy:
        item = self.table.get(*keys.retention_policy(tenant_id))
        if item is None:
            return RetentionPolicy()  # the defaults
        # Stored nulls ("keep") are kept as None; a field never stored takes its default.
        return RetentionPolicy.model_validate({k: item[k] for k in _FIELDS if k in item})

    def put(self, tenant_id: str, policy: RetentionPolicy, at: float) -> None:
        pk, sk = keys.retention_policy(tenant_id)
        self.table.put({"pk": pk, "sk": sk, "updated_at": at, **policy.model_dump()})


class RetentionTable:
    """The Table port, with each governed row's TTL (`expires_at`) stamped from its tenant's policy.

    One place for every writer of messages, conversations, contacts and webhook deliveries (which rows
    are governed: `keys.retained_kind`), so no write path can forget it. Rows are kept from when they are
    written; conversations and contacts from their latest write (activity). A scheduled message is kept
    at least a day past its send time. Reads pass straight through.
    """

    def __init__(
        self, table: Table, expires_at: Callable[[str, str, float], int | None], now: Callable[[], float]
    ) -> None:
        self._table = table
        self._expires_at = expires_at
        self._now = now

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)  # get, query, delete and anything an adapter adds

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        self._table.put(self._stamped(item), condition=condition)

    def update(
        self,
        pk: str,
        sk: str,
        *,
        set: Mapping[str, Any] | None = None,
        remove: Sequence[str] = (),
        add: Mapping[str, int | float] | None = None,
        condition: Condition | None = None,
    ) -> Item:
        changes, removed = self._stamped_update(pk, sk, set, remove)
        return self._table.update(pk, sk, set=changes, remove=removed, add=add, condition=condition)

    def transact_write(self, ops: Sequence[TransactOp]) -> None:
        self._table.transact_write([self._stamped_op(op) for op in ops])

    def write_batch(self, puts: Sequence[Item] = (), deletes: Sequence[tuple[str, str]] = ()) -> None:
        self._table.write_batch([self._stamped(item) for item in puts], deletes)

    # ---- inside -------------------------------------------------------------------------------------

    def _ttl(
        self, pk: str, sk: str, *, activity: bool, not_before: float | None = None
    ) -> int | None | Literal[False]:
        """The TTL to write; False when this write leaves the row's TTL alone."""
        kind = keys.retained_kind(pk, sk)
        if kind is None or (activity and not kind[2]):
            return False
        tenant_id, field, _ = kind
        ttl = self._expires_at(tenant_id, field, self._now())
        if ttl is not None and not_before is not None:
            ttl = max(ttl, int(not_before) + DAY)
        return ttl

    def _stamped(self, item: Item) -> Item:
        scheduled = item.get("scheduled_at")
        ttl = self._ttl(
            str(item["pk"]),
            str(item["sk"]),
            activity=False,
            not_before=float(scheduled) if isinstance(scheduled, int | float) else None,
        )
        if ttl is False or TTL_ATTRIBUTE in item:
            return item  # not governed, or its writer chose a TTL itself
        stamped = {k: v for k, v in item.items() if k != TTL_ATTRIBUTE}
        if ttl is not None:
            stamped[TTL_ATTRIBUTE] = ttl
        return stamped

    def _stamped_update(
        self, pk: str, sk: str, changes: Mapping[str, Any] | None, remove: Sequence[str]
    ) -> tuple[Mapping[str, Any] | None, Sequence[str]]:
        if (changes is not None and TTL_ATTRIBUTE in changes) or TTL_ATTRIBUTE in remove:
            return changes, remove  # its writer chose
        ttl = self._ttl(pk, sk, activity=True)
        if ttl is False:
            return changes, remove
        if ttl is None:  # kept until erased: drop a TTL an older policy set
            return changes, [*remove, TTL_ATTRIBUTE]
        return {**(changes or {}), TTL_ATTRIBUTE: ttl}, remove

    def _stamped_op(self, op: TransactOp) -> TransactOp:
        if isinstance(op, Put):
            return Put(self._stamped(op.item), condition=op.condition)
        if isinstance(op, Update):
            changes, removed = self._stamped_update(op.pk, op.sk, op.set, op.remove)
            if changes is op.set and removed is op.remove:
                return op
            return Update(op.pk, op.sk, set=changes or {}, remove=removed, add=op.add, condition=op.condition)
        return op
