"""Insights: the journal of counters changes owe, its folding into rollup rows, and connection periods
(keys and access patterns: store/keys.py).

A change that counts (a message's status move, a stored message, a session's status) puts ONE journal
entry in its own transaction: the counters it owes, grouped by cohort time, session, template and
broadcast. So what
is counted is exactly what was applied, once, and the change's transaction grows by one small item
instead of a read-modify-write of every rollup row it touches (day and hour × tenant, session, template).

The folder (`InsightsJournal.fold`: the sweeper every minute, `wagate serve` every few seconds) reads
entries oldest first, sums them per rollup row, and in one transaction adds the sums to the rows and
deletes the entries (each on condition that it still exists): two folders never count an entry twice,
and many changes of one hour become one update of each of its rows. Reports therefore lag the changes by
up to one fold. Reading a range is one query per scope and granularity, O(buckets), whatever the number
of messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from wagate.conditions import Attr, SortKey
from wagate.domain.errors import ConflictError, TransientError
from wagate.domain.ids import new_id
from wagate.domain.insights import Granularity, bucket_of, merge
from wagate.ports import Delete, Item, Put, Table, TransactOp, Update
from wagate.store import keys

SCOPE_MARK = "scope."  # + scope: 0-valued attribute in the tenant's rows naming every scope written
MAX_OPS = 100  # DynamoDB's limit on one transaction: entries deleted + rows added to
READ_PAGE = 100  # entries per shard per round
MOST_PER_FOLD = 20_000  # a fold returns after this many, so a sweep under a steady stream still ends
HOUR = 3_600


def scopes_of(session_id: str | None, template: str | None, broadcast_id: str | None = None) -> list[str]:
    scopes = [keys.INSIGHTS_ALL]
    if session_id:
        scopes.append(keys.insights_scope_session(session_id))
    if template:
        scopes.append(keys.insights_scope_template(template))
    if broadcast_id:
        scopes.append(keys.insights_scope_broadcast(broadcast_id))
    return scopes


@dataclass(frozen=True)
class Counted:
    """Counters owed to the buckets of `at` (a send cohort, an arrival, a session's change) in the
    tenant's scope, its session's, its template's and its broadcast's."""

    at: float
    counters: Mapping[str, int | float]
    session_id: str | None = None
    template: str | None = None
    broadcast_id: str | None = None


def row_adds(tenant_id: str, counted: Counted) -> dict[tuple[str, str], dict[str, int | float]]:
    """What one group adds to each rollup row: {(pk, sk): counters}."""
    scopes = scopes_of(counted.session_id, counted.template, counted.broadcast_id)
    rows: dict[tuple[str, str], dict[str, int | float]] = {}
    for granularity in Granularity:
        bucket = bucket_of(counted.at, granularity)
        for scope in scopes:
            added = dict(counted.counters)
            if scope == keys.INSIGHTS_ALL:
                added.update({f"{SCOPE_MARK}{s}": 0 for s in scopes[1:]})
            row = keys.insights_row(tenant_id, granularity.code, scope, bucket, keys.INSIGHTS_FOLDED_SLOT)
            rows[(row.pk, row.sk)] = added
    return rows


def journal_entry(tenant_id: str, groups: Sequence[Counted], now: float) -> list[Put]:
    """The entry to put in the change's transaction (none when nothing is owed)."""
    groups = [g for g in groups if g.counters]
    if not groups:
        return []
    pk, sk = keys.insights_journal_entry(new_id("insj", now))
    counts = [[g.at, g.session_id, g.template, dict(g.counters), g.broadcast_id] for g in groups]
    item: Item = {
        "pk": pk,
        "sk": sk,
        "tenant_id": tenant_id,
        "counts": json.dumps(counts, separators=(",", ":")),
    }
    return [Put(item)]


def _groups(item: Item) -> list[Counted]:
    return [
        Counted(float(at), counters, session_id, template, broadcast_id)
        for at, session_id, template, counters, broadcast_id in json.loads(str(item["counts"]))
    ]


# What entries are summed by before they are spread over rows: tenant, cohort hour (epoch // 3600),
# session, template, broadcast. Every change of one number in one hour adds to the same rows.
Cohort = tuple[str, int, str | None, str | None, str | None]
RowAdds = dict[tuple[str, str], dict[str, int | float]]


@dataclass
class _Fold:
    """One transaction being built: the entries it deletes and what they add, by cohort."""

    rows_of: dict[Cohort, RowAdds]  # each cohort's rows (with their scope marks), shared by the folds
    entries: list[tuple[str, str]] = field(default_factory=list)
    cohorts: dict[Cohort, dict[str, int | float]] = field(default_factory=dict)
    rows: set[tuple[str, str]] = field(default_factory=set)

    def room_for(self, cohorts: Iterable[Cohort]) -> bool:
        new_rows = {row for c in cohorts for row in self.rows_of[c] if row not in self.rows}
        return len(self.entries) + 1 + len(self.rows) + len(new_rows) <= MAX_OPS

    def take(self, key: tuple[str, str], owed: Sequence[tuple[Cohort, Mapping[str, int | float]]]) -> None:
        self.entries.append(key)
        for cohort, counters in owed:
            merge_counts(self.cohorts.setdefault(cohort, {}), counters)
            self.rows.update(self.rows_of[cohort])

    def ops(self) -> list[TransactOp]:
        totals: RowAdds = {}
        for cohort, counters in self.cohorts.items():
            for row, marks in self.rows_of[cohort].items():
                total = totals.setdefault(row, {})
                merge_counts(total, counters)
                merge_counts(total, marks)
        deletes: list[TransactOp] = [Delete(pk, sk, condition=Attr("pk").exists()) for pk, sk in self.entries]
        return [*deletes, *(Update(pk, sk, add=counters) for (pk, sk), counters in totals.items())]


class InsightsJournal:
    def __init__(self, table: Table) -> None:
        self.table = table

    def fold(self, most: int = MOST_PER_FOLD) -> int:
        """Folds the entries there are now (up to about `most`) into the rollup rows. Returns how many
        were folded. Entries of a tenant that no longer exists are dropped. When another folder is at
        work, or the table is busy, what is left waits for the next fold. Entries are read from every
        shard before summing: the shards spread the writes, and folding them together keeps one update
        per row for all of them."""
        folded = 0
        tenants: dict[str, bool] = {}
        while True:
            items = [
                item
                for shard in range(keys.INSIGHTS_JOURNAL_SHARDS)
                for item in self.table.query(keys.insights_journal(shard), limit=READ_PAGE).items
            ]
            if not items:
                return folded
            done = self._fold_items(items, tenants)
            folded += done
            if done < len(items) or folded >= most:  # lost a race (another folder has these), or enough
                return folded

    def pending(self) -> int:
        """Entries not folded yet (tests, health checks)."""
        count = 0
        for shard in range(keys.INSIGHTS_JOURNAL_SHARDS):
            cursor = None
            while True:
                page = self.table.query(keys.insights_journal(shard), limit=1000, cursor=cursor)
                count += len(page.items)
                cursor = page.cursor
                if cursor is None:
                    break
        return count

    def _fold_items(self, items: Sequence[Item], tenants: dict[str, bool]) -> int:
        done = 0
        rows_of: dict[Cohort, RowAdds] = {}
        fold = _Fold(rows_of)
        for item in items:
            tenant_id = str(item["tenant_id"])
            if tenant_id not in tenants:
                tenants[tenant_id] = self.table.get(*keys.tenant(tenant_id)) is not None
            owed: list[tuple[Cohort, Mapping[str, int | float]]] = []
            if tenants[tenant_id]:  # a deleted tenant's entries go without a trace
                for counted in _groups(item):
                    hour = int(counted.at // HOUR)
                    cohort = (tenant_id, hour, counted.session_id, counted.template, counted.broadcast_id)
                    if cohort not in rows_of:
                        start = Counted(hour * HOUR, {}, *cohort[2:])
                        rows_of[cohort] = row_adds(tenant_id, start)
                    owed.append((cohort, counted.counters))
            if not fold.room_for(c for c, _ in owed):
                if not self._commit(fold):
                    return done
                done += len(fold.entries)
                fold = _Fold(rows_of)
            fold.take((str(item["pk"]), str(item["sk"])), owed)
        if fold.entries and self._commit(fold):
            done += len(fold.entries)
        return done

    def _commit(self, fold: _Fold) -> bool:
        try:
            self.table.transact_write(fold.ops())
        except (ConflictError, TransientError):  # another folder took one of them; DynamoDB is busy
            return False
        return True


def merge_counts(total: dict[str, int | float], counters: Mapping[str, int | float]) -> None:
    for name, value in counters.items():
        total[name] = total.get(name, 0) + value


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

    def hour_rows(
        self, tenant_id: str, scopes: Sequence[str], labels: Sequence[str]
    ) -> dict[str, list[Item]]:
        """Every slot's row of these hours (labels) in these scopes, by label, read by key in one batch
        (DynamoDB: BatchGetItem, 100 keys a call); rows written before the journal have up to 4 slots."""
        wanted = [
            (label, keys.insights_row(tenant_id, Granularity.HOUR.code, scope, label, slot))
            for scope in scopes
            for label in labels
            for slot in range(keys.INSIGHTS_SLOTS)
        ]
        found: dict[str, list[Item]] = {}
        items = self.table.get_many([(key.pk, key.sk) for _, key in wanted])
        for (label, _), item in zip(wanted, items, strict=True):
            if item is not None:
                found.setdefault(label, []).append(item)
        return found

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

    # ---- the tenant's settings ------------------------------------------------------------------------

    def time_zone(self, tenant_id: str) -> str | None:
        """The tenant's default time zone for reports (None: never set)."""
        item = self.table.get(*keys.insights_settings(tenant_id))
        return str(item["time_zone"]) if item is not None and item.get("time_zone") else None

    def set_time_zone(self, tenant_id: str, name: str, at: float) -> None:
        pk, sk = keys.insights_settings(tenant_id)
        self.table.put({"pk": pk, "sk": sk, "time_zone": name, "updated_at": at})

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
