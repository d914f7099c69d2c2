"""The insights journal over both Table adapters (SQLite and DynamoDB under moto): entries committed with
their changes are folded into the rollup rows exactly once, in transactions DynamoDB accepts, whatever
the number of entries, rows and folders; a deleted tenant's entries leave no trace; rows written before
the journal (four slots) still add up with the folded ones.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.contract.test_table_contract import table  # noqa: F401 (the fixture, by name)
from wagate.domain.insights import Granularity, bucket_of
from wagate.ports import Put, Table, TransactOp
from wagate.store import insights as insights_store
from wagate.store import keys
from wagate.store.insights import MAX_OPS, Counted, InsightsJournal, InsightsRows, journal_entry

AT = 1_800_000_000.0  # 2027-01-15T08:00Z
HOUR = 3_600


def tenant(store: Table, tenant_id: str = "ten_1") -> str:
    store.put({"pk": keys.tenant(tenant_id).pk, "sk": keys.tenant(tenant_id).sk, "id": tenant_id})
    return tenant_id


def commit(store: Table, tenant_id: str, *groups: Counted, n: int = 0) -> None:
    """A change (its own row) and the entry it owes, in one transaction."""
    ops: list[TransactOp] = [Put({"pk": f"T#{tenant_id}", "sk": f"MSG#{n:06d}"})]
    store.transact_write([*ops, *journal_entry(tenant_id, list(groups), AT)])


def day(store: Table, tenant_id: str, scope: str = keys.INSIGHTS_ALL, at: float = AT) -> dict[str, float]:
    label = bucket_of(at, Granularity.DAY)
    return InsightsRows(store).buckets(tenant_id, Granularity.DAY, scope, label, label).get(label, {})


def test_counters_wait_in_the_journal_then_fold_once(table: Table) -> None:  # noqa: F811
    t = tenant(table)
    commit(table, t, Counted(AT, {"sent": 1, "ttd.4": 1}, "ses_a", "promo"), n=1)
    commit(table, t, Counted(AT + 60, {"delivered": 1}, "ses_a"), Counted(AT - HOUR, {"replied": 1}), n=2)
    journal = InsightsJournal(table)
    assert day(table, t) == {} and journal.pending() == 2
    assert journal.fold() == 2 and journal.pending() == 0
    assert journal.fold() == 0  # nothing is counted twice
    whole = day(table, t)
    assert (whole["sent"], whole["delivered"], whole["replied"], whole["ttd.4"]) == (1, 1, 1, 1)
    assert day(table, t, keys.insights_scope_session("ses_a")) == {"sent": 1, "ttd.4": 1, "delivered": 1}
    assert day(table, t, keys.insights_scope_template("promo")) == {"sent": 1, "ttd.4": 1}
    assert InsightsRows(table).scopes(t) == {"S#ses_a", "TPL#promo"}
    hour = bucket_of(AT - HOUR, Granularity.HOUR)
    earlier = InsightsRows(table).buckets(t, Granularity.HOUR, keys.INSIGHTS_ALL, hour, hour)
    assert earlier == {hour: {"replied": 1}}


def test_many_entries_fold_in_transactions_of_at_most_a_hundred_items(table: Table) -> None:  # noqa: F811
    t = tenant(table)
    written: list[int] = []
    transact = table.transact_write

    def counting(ops: list[TransactOp]) -> None:
        written.append(len(ops))
        transact(ops)

    # 150 entries over 30 templates and 5 hours: far more rows than one transaction may touch.
    for n in range(150):
        commit(table, t, Counted(AT + (n % 5) * HOUR, {"sent": 1}, f"ses_{n % 3}", f"tpl_{n % 30}"), n=n)
    table.transact_write = counting  # type: ignore[method-assign,assignment]
    try:
        assert InsightsJournal(table).fold() == 150
    finally:
        table.transact_write = transact  # type: ignore[method-assign]
    assert len(written) > 1 and max(written) <= MAX_OPS
    assert day(table, t)["sent"] == 150
    assert sum(day(table, t, keys.insights_scope_template(f"tpl_{k}"))["sent"] for k in range(30)) == 150
    assert day(table, t, keys.insights_scope_session("ses_1"))["sent"] == 50


class Overtaken:
    """The table as a slow folder sees it: right after its first read, another folder takes everything."""

    def __init__(self, inner: Table, other: InsightsJournal) -> None:
        self.table, self.other, self.overtaken = inner, other, -1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.table, name)

    def query(self, *args: Any, **kwargs: Any) -> Any:
        page = self.table.query(*args, **kwargs)
        if page.items and self.overtaken < 0:
            self.overtaken = self.other.fold()
        return page


def test_a_folder_that_loses_the_race_adds_nothing(table: Table) -> None:  # noqa: F811
    t = tenant(table)
    for n in range(10):
        commit(table, t, Counted(AT, {"sent": 1}, "ses_a"), n=n)
    overtaken = Overtaken(table, InsightsJournal(table))
    assert InsightsJournal(overtaken).fold() == 0
    assert overtaken.overtaken == 10 and day(table, t)["sent"] == 10


def test_folders_racing_count_every_entry_once(table: Table) -> None:  # noqa: F811
    if type(table).__name__ != "SqliteTable":  # moto's in-process DynamoDB is not thread-safe
        return
    t = tenant(table)
    for n in range(120):
        commit(table, t, Counted(AT, {"sent": 1}, "ses_a"), n=n)
    journal = InsightsJournal(table)
    folded: list[int] = []
    barrier = threading.Barrier(3)

    def fold() -> None:
        barrier.wait()
        folded.append(journal.fold())

    threads = [threading.Thread(target=fold) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    folded.append(journal.fold())  # whatever a folder left when it lost a race
    assert sum(folded) == 120 and journal.pending() == 0
    assert day(table, t)["sent"] == 120


def test_a_deleted_tenants_entries_leave_no_trace(table: Table) -> None:  # noqa: F811
    kept, gone = tenant(table, "ten_kept"), "ten_gone"  # ten_gone has no tenant row (deleted)
    commit(table, kept, Counted(AT, {"sent": 1}, "ses_a"), n=1)
    commit(table, gone, Counted(AT, {"sent": 1}, "ses_b"), n=2)
    assert InsightsJournal(table).fold() == 2
    assert day(table, kept) == {"sent": 1} and day(table, gone) == {}
    assert InsightsRows(table).scopes(gone) == set()


def test_rows_written_before_the_journal_add_up_with_folded_ones(table: Table) -> None:  # noqa: F811
    t = tenant(table)
    label = bucket_of(AT, Granularity.DAY)
    for slot in range(4):  # the old layout: each bucket spread over four slots
        pk, sk = keys.insights_row(t, Granularity.DAY.code, keys.INSIGHTS_ALL, label, slot)
        table.put({"pk": pk, "sk": sk, "sent": 2})
    commit(table, t, Counted(AT, {"sent": 1}), n=1)
    InsightsJournal(table).fold()
    assert day(table, t)["sent"] == 9


def test_a_fold_ends_after_its_share_and_the_next_takes_the_rest(
    table: Table,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(insights_store, "READ_PAGE", 2)  # a round reads at most 2 entries per shard
    t = tenant(table)
    for n in range(30):
        commit(table, t, Counted(AT, {"sent": 1}), n=n)
    journal = InsightsJournal(table)
    first = journal.fold(most=5)
    assert 5 <= first < 30 and journal.pending() == 30 - first  # a whole round, not the whole journal
    assert journal.fold() == 30 - first and day(table, t)["sent"] == 30
