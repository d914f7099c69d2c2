"""A reconnect storm of 10,000 linked numbers: how hot the busiest /health counter item gets.

Every session goes connected → connecting → connected (what a connector restart reports) through the
sessions repository on the SQLite table; every transaction item is counted. Each status change moves the
/health counters in the same transaction, so before the counters were spread over slot rows
(store/stats.py) all 20,000 of those writes went to one item. DynamoDB takes about 1,000 write units per
second on one item, and a transactional write costs two: a storm over a minute would put ~670 WCU/s on
that item, and concurrent transactions on one item fail with TransactionConflict.
Run:
    python bench/stats_storm.py [--sessions 10000] [--storm-seconds 60]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.domain.sessions import Provider, Session, SessionStatus
from wagate.ports import TransactOp
from wagate.store.sessions import SessionRepository

TARGET_SHARE = 0.10  # the busiest counter item's share of the storm's counter writes


class CountingWrites:
    """The table, counting the transaction operations each item receives."""

    def __init__(self, inner: SqliteTable) -> None:
        self.inner = inner
        self.per_item: Counter[tuple[str, str]] = Counter()

    def transact_write(self, ops: Sequence[TransactOp]) -> None:
        for op in ops:
            self.per_item[(str(getattr(op, "pk", "")), str(getattr(op, "sk", "")))] += 1
        self.inner.transact_write(ops)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--storm-seconds", type=float, default=60.0, help="how long the storm lasts on AWS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table = CountingWrites(SqliteTable(Path(tmp) / "table.db"))
        rows = SessionRepository(table)  # type: ignore[arg-type]
        ids = []
        for n in range(args.sessions):
            tenant = f"ten_{n % 500:03d}"
            session = Session(
                id=f"ses_{n:06d}", tenant_id=tenant, name=f"n{n}", provider=Provider.SANDBOX,
                status=SessionStatus.CONNECTED, created_at=1.0, updated_at=1.0,
            )  # fmt: skip
            rows.create(session, shard=n % 4, limit=1_000)
            ids.append((tenant, session.id))
        table.per_item.clear()
        started = time.perf_counter()
        for status in ("connecting", "connected"):
            for tenant, session_id in random.Random(1).sample(ids, len(ids)):
                record = rows.find(tenant, session_id)
                assert record is not None and rows.write_status(record, {"status": status}) is not None
        elapsed = time.perf_counter() - started
        counters = {key: count for key, count in table.per_item.items() if key[0].startswith("STATS")}
        counted = rows.counts_by_status()
        assert counted["connected"] == args.sessions, counted  # exact after the storm
    total = sum(counters.values())
    busiest = max(counters.values())
    share = busiest / total
    per_second = 2 * busiest / args.storm_seconds  # a transactional write costs two write units
    print(  # noqa: T201
        f"{args.sessions:,} sessions, {total:,} counter writes in the storm ({elapsed:.1f} s on SQLite here)"
    )
    print(  # noqa: T201
        f"  {len(counters)} counter items; the busiest takes {busiest:,} ({share:.1%}): "
        f"{per_second:,.0f} WCU/s on it if the storm lasts {args.storm_seconds:.0f} s on DynamoDB "
        f"(one item before: {2 * total / args.storm_seconds:,.0f} WCU/s; the per-item limit is ~1,000)"
    )
    print(  # noqa: T201
        f"stats_storm: {share:.1%} of the storm's counter writes on the busiest item"
        f" (was 100%; target ≤ {TARGET_SHARE:.0%})"
    )


if __name__ == "__main__":
    main()
