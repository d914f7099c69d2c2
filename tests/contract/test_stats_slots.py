"""/health's global counters live in slot rows (store/stats.py): a reconnect storm spreads its writes over
them instead of queueing on one item, and the totals stay exact; counters written before slots (the one
`STATS` row) are still counted. On SQLite and on DynamoDB."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.support.aws_template import create_tables
from wagate.adapters.aws.dynamodb_table import DynamoTable
from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.domain.sessions import Provider, Session, SessionStatus
from wagate.ports import Item, Table, TransactOp
from wagate.store import keys, stats
from wagate.store.sessions import SessionRepository


class CountingWrites:
    """The table, counting the transaction operations each item receives."""

    def __init__(self, inner: Table) -> None:
        self.inner = inner
        self.per_item: Counter[tuple[str, str]] = Counter()

    def transact_write(self, ops: list[TransactOp]) -> None:
        for op in ops:
            self.per_item[(str(getattr(op, "pk", "")), str(getattr(op, "sk", "")))] += 1
        self.inner.transact_write(ops)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture(params=["sqlite", "dynamodb"])
def table(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Table]:
    if request.param == "sqlite":
        adapter = SqliteTable(tmp_path / "table.db")
        yield adapter
        adapter.close()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        yield DynamoTable(create_tables(client)["Table"], lambda: client)


def session(n: int, status: SessionStatus = SessionStatus.PENDING) -> Session:
    return Session(
        id=f"ses_{n:05d}", tenant_id=f"ten_{n % 7}", name=f"n{n}", provider=Provider.SANDBOX, status=status,
        created_at=1.0, updated_at=1.0,
    )  # fmt: skip


def recount(rows: SessionRepository, count: int) -> dict[str, int]:
    counted = dict.fromkeys((s.value for s in SessionStatus), 0)
    for n in range(count):
        record = rows.find(f"ten_{n % 7}", f"ses_{n:05d}")
        if record is not None:
            counted[record.status.value] += 1
    return counted


def test_a_reconnect_storm_spreads_over_the_slots_and_the_totals_stay_exact(table: Table) -> None:
    counting = CountingWrites(table)
    rows = SessionRepository(counting)  # type: ignore[arg-type]
    count = 64
    for n in range(count):
        rows.create(session(n), shard=n % 4, limit=10_000)
        record = rows.find(f"ten_{n % 7}", f"ses_{n:05d}")
        assert record is not None
        assert rows.write_status(record, {"status": "connected"}) is not None
    counting.per_item.clear()
    # The storm: every session drops and comes back, in a random order.
    rng = random.Random(7)
    for status in ("connecting", "connected"):
        for n in rng.sample(range(count), count):
            record = rows.find(f"ten_{n % 7}", f"ses_{n:05d}")
            assert record is not None and rows.write_status(record, {"status": status}) is not None
    stat_writes = {key: c for key, c in counting.per_item.items() if key[0].startswith("STATS")}
    assert sum(stat_writes.values()) == 2 * count
    assert set(stat_writes) <= {tuple(keys.stats_slot(n)) for n in range(keys.STATS_SLOTS)}
    assert len(stat_writes) == keys.STATS_SLOTS
    assert max(stat_writes.values()) <= 3 * (2 * count / keys.STATS_SLOTS)  # none is the hot item
    assert rows.counts_by_status() == recount(rows, count)
    for n in range(0, count, 3):
        record = rows.find(f"ten_{n % 7}", f"ses_{n:05d}")
        assert record is not None and rows.delete(record)
    assert rows.counts_by_status() == recount(rows, count)


def test_counters_written_before_the_slots_are_still_counted(table: Table) -> None:
    legacy: Item = {"pk": keys.STATS.pk, "sk": keys.STATS.sk, "tenants": 2, "sessions_connected": 3}
    table.put(legacy)
    rows = SessionRepository(table)
    rows.create(session(1), shard=0, limit=10)
    record = rows.find("ten_1", "ses_00001")
    assert record is not None and rows.write_status(record, {"status": "connected"}) is not None
    # One of the old connected sessions goes away: its slot goes to -1, the old row keeps 3.
    table.transact_write([stats.add("ses_old", {"sessions_connected": -1})])
    counts = rows.counts_by_status()
    assert counts["connected"] == 3 and counts["pending"] == 0
    assert stats.totals(table)["tenants"] == 2
