"""Insights rollup rows and connection periods (keys and access patterns: store/keys.py).

A change adds to the rows of its bucket (day and hour) in each scope it belongs to (the tenant, its
session, its template), in the slot of the counted message, with atomic ADDs committed in the same
transaction as the change itself: what is counted is exactly what was applied, once. Reading a range is
one query per scope and granularity, O(buckets × slots), whatever the number of messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from wagate.conditions import Attr, SortKey
from wagate.domain.insights import Granularity, bucket_of, merge
from wagate.ports import Item, Put, Table, Update
from wagate.store import keys

SCOPE_MARK = "scope."  # + scope: 0-valued attribute in the tenant's rows naming every scope written


def scopes_of(session_id: str | None, template: str | None) -> list[str]:
    scopes = [keys.INSIGHTS_ALL]
    if session_id:
        scopes.append(keys.insights_scope_session(session_id))
    if template:
        scopes.append(keys.insights_scope_template(template))
    return scopes


def adds(
    tenant_id: str,
    at: float,
    counters: Mapping[str, int | float],
    *,
    counted_id: str,
    session_id: str | None,
    template: str | None = None,
) -> list[Update]:
    """The updates that add `counters` to the day and hour rows of `at` in every scope."""
    if not counters:
        return []
    slot = keys.insights_slot_of(counted_id)
    scopes = scopes_of(session_id, template)
    ops = []
    for granularity in Granularity:
        bucket = bucket_of(at, granularity)
        for scope in scopes:
            added = dict(counters)
            if scope == keys.INSIGHTS_ALL:
                added.update({f"{SCOPE_MARK}{s}": 0 for s in scopes[1:]})
            ops.append(
                Update(*keys.insights_row(tenant_id, granularity.code, scope, bucket, slot), add=added)
            )
    return ops


class InsightsRows:
    def __init__(self, table: Table) -> None:
        self.table = table

    def buckets(
        self, tenant_id: str, granularity: Granularity, scope: str, first: str, last: str
    ) -> dict[str, dict[str, float]]:
        """Counters of each bucket first..last (labels) in one scope, summed over the slots."""
        low, high = keys.insights_range(first, last)
        merged: dict[str, dict[str, float]] = {}
        for item in self._all(
            keys.insights_partition(tenant_id, granularity.code, scope), SortKey.between(low, high)
        ):
            bucket = str(item["sk"]).rsplit("#", 1)[0]
            merge(merged.setdefault(bucket, {}), item)
        return merged

    def total(
        self, tenant_id: str, granularity: Granularity, scope: str, first: str, last: str
    ) -> dict[str, float]:
        """Counters of buckets first..last (labels) in one scope, summed over the buckets and slots."""
        low, high = keys.insights_range(first, last)
        total: dict[str, float] = {}
        for item in self._all(
            keys.insights_partition(tenant_id, granularity.code, scope), SortKey.between(low, high)
        ):
            merge(total, item)
        return total

    def scopes(self, tenant_id: str) -> set[str]:
        """Every scope the tenant's rows were written in (for deleting them all)."""
        found: set[str] = set()
        for item in self._all(keys.insights_partition(tenant_id, Granularity.DAY.code, keys.INSIGHTS_ALL)):
            found.update(k[len(SCOPE_MARK) :] for k in item if k.startswith(SCOPE_MARK))
        return found

    def partitions(self, tenant_id: str, session_ids: Iterable[str]) -> list[str]:
        """Every insights partition of a tenant: what deleting it removes."""
        scopes = {keys.INSIGHTS_ALL, *self.scopes(tenant_id)}
        found = [keys.insights_partition(tenant_id, g.code, s) for g in Granularity for s in sorted(scopes)]
        sessions = {s[2:] for s in scopes if s.startswith("S#")} | set(session_ids)
        return found + [keys.connection_periods(tenant_id, s) for s in sorted(sessions)]

    # ---- connection periods -------------------------------------------------------------------------

    def period_start(self, tenant_id: str, session_id: str, at: float) -> Put:
        pk, sk = keys.connection_period(tenant_id, session_id, at)
        return Put({"pk": pk, "sk": sk, "session_id": session_id, "start": at})

    def period_end(self, tenant_id: str, session_id: str, connected_at: float, at: float) -> Update:
        # Only an open period the session row named: a period already closed keeps its end.
        return Update(
            *keys.connection_period(tenant_id, session_id, connected_at),
            set={"end": at},
            condition=Attr("pk").exists() & Attr("end").not_exists(),
        )

    def periods(
        self, tenant_id: str, session_id: str, start: float, end: float
    ) -> list[tuple[float, float | None]]:
        """(start, end or None while open) of the connected periods overlapping [start, end), oldest first.
        Periods do not overlap, so reading back from `end` stops at the first that ended before `start`."""
        found: list[tuple[float, float | None]] = []
        pk = keys.connection_periods(tenant_id, session_id)
        high = SortKey.between(keys.connection_period_sort(0), keys.connection_period_sort(end))
        for item in self._all(pk, high, forward=False):
            ended = item.get("end")
            if ended is not None and float(ended) <= start:
                break
            found.append((float(item["start"]), float(ended) if ended is not None else None))
        return found[::-1]

    def _all(self, pk: str, sk: SortKey | None = None, *, forward: bool = True) -> Iterator[Item]:
        cursor = None
        while True:
            page = self.table.query(pk, sk=sk, forward=forward, limit=1000, cursor=cursor)
            yield from page.items
            cursor = page.cursor
            if cursor is None:
                return
