"""Sweep time with 1,000 messages due among 10,000 vs 1,000,000 scheduled, on the SQLite table.

The due index promises a sweep costs O(due), never O(all scheduled) (store/due_index.py). For each
size a fresh table gets N scheduled messages written the way `MessageService.accept` writes them (the
message row from `store.messages.message_item`, the due entry from `store.due_index.entry_item`),
1,000 of them due within the sweep window and the rest spread over the next 30 days. The rows are
written in bulk, through the SQLite adapter's own item encoding (`_row`, `_store`) in 50,000-row transactions,
instead of one `accept` per message: a million accepts would take most of an hour and measure nothing
the sweep depends on. (The per-chat conversation row `accept` also upserts is left out: there is one
per recipient, not per message.)
The sweeper's cursor is set as a running sweeper leaves it (last minute done = the previous one), the
sweep runs against a fresh dispatch queue, and the 1,000 swept entries are put back before the next run
(one warm-up run, then the median of 7, the two sizes taking turns).
Run: `.venv/bin/python bench/sweeper.py [--large N]` (default 1,000,000: ~3 min, ~5.5 GB of disk).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from local.template import load_template
from wagate.adapters.local.sqlite_queue import SqliteQueues
from wagate.adapters.local.sqlite_table import SqliteTable, _row, _store
from wagate.domain.ids import new_id
from wagate.domain.messages import ContentKind, Direction, Message, MessageStatus
from wagate.ports import Item
from wagate.services import scheduler
from wagate.services.due_index import DISPATCH_QUEUE
from wagate.store import due_index as due_entries
from wagate.store import keys
from wagate.store.messages import message_item

ROOT = Path(__file__).resolve().parents[1]
DUE = 1_000
RUNS = 7
CHUNK = 50_000
TENANT = "ten_01BENCHSWEEPER000000000000"
SESSION = "ses_01BENCHSWEEPER000000000000"
TARGET = 1.5


class FixedClock:
    def __init__(self, now: float) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


def scheduled_rows(total: int, now: float, rng: random.Random) -> Iterator[tuple[Item, Item]]:
    """(message row, due entry) pairs: DUE of them due within the sweep window, the rest later."""
    template = Message(
        id="msg_TEMPLATE",
        tenant_id=TENANT,
        session_id=SESSION,
        direction=Direction.OUTBOUND,
        to="+34600123456",
        chat="+34600123456",
        kind=ContentKind.TEXT,
        text="Recordatorio: su cita es mañana a las 10:00. Responda 1 para confirmar.",
        status=MessageStatus.SCHEDULED,
        metadata={"lead": 42, "campaign": "bench"},
        scheduled_at=now,
        created_at=now,
        updated_at=now,
    )
    base = message_item(template)
    for index in range(total):
        due_at = (
            now + rng.uniform(0, scheduler.WINDOW_SECONDS - 5)
            if index < DUE
            else now + rng.uniform(600, 30 * 86400)
        )
        due_at = round(due_at, 3)
        message_id = new_id("msg", now)
        row = dict(base)
        row.update(
            sk=f"MSG#{message_id}", id=message_id, gsi1sk=message_id, gsi2sk=message_id, scheduled_at=due_at
        )
        yield row, due_entries.entry_item(TENANT, message_id, due_at)


def write_bulk(table: SqliteTable, items: Iterator[Item]) -> None:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == CHUNK:
            _write(table, chunk)
            chunk = []
    if chunk:
        _write(table, chunk)


def _write(table: SqliteTable, chunk: list[Item]) -> None:
    with table._write() as db:  # noqa: SLF001 - the adapter's own transaction and encoding, in bulk
        for item in chunk:
            _store(db, _row(item))


class Bed:
    """One table with `total` scheduled messages, swept again and again."""

    def __init__(self, total: int, directory: Path) -> None:
        self.total = total
        self.directory = directory
        self.now = float(int(time.time() // 60) * 60 + 20)  # 20 s into a minute: the window spans two
        self.table = SqliteTable(directory / f"table-{total}.db")
        self.due_entries: list[Item] = []
        self.times: list[float] = []
        self.definitions = load_template(ROOT / "template.yaml").queue_definitions()
        started = time.perf_counter()
        write_bulk(self.table, self._items())
        # Fold the bulk load's WAL into the file now, so no sweep pays for checkpointing it.
        self.table._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")  # noqa: SLF001
        self.setup = time.perf_counter() - started
        self.size = (directory / f"table-{total}.db").stat().st_size / 1e9

    def _items(self) -> Iterator[Item]:
        for row, entry in scheduled_rows(self.total, self.now, random.Random(self.total)):
            if len(self.due_entries) < DUE:
                self.due_entries.append(entry)
            yield row
            yield entry

    def sweep(self, run: int) -> float:
        """One sweep with the cursor where a running sweeper leaves it; the swept entries are put back."""
        queues = SqliteQueues(self.directory / f"queues-{self.total}-{run}.db", self.definitions)
        cursor = {"pk": keys.SCHEDULER_CURSOR.pk, "sk": keys.SCHEDULER_CURSOR.sk}
        self.table.put({**cursor, "done_through": int(self.now // 60) - 1})
        started = time.perf_counter()
        report = scheduler.sweep(self.table, queues, FixedClock(self.now))
        elapsed = time.perf_counter() - started
        depth = queues.get(DISPATCH_QUEUE).approximate_depth()
        if report.dispatched != DUE or depth != DUE:
            raise SystemExit(f"swept {report.dispatched}, queued {depth}; expected {DUE}")
        write_bulk(self.table, iter(self.due_entries))  # due again for the next run
        return elapsed

    def report(self) -> float:
        median = statistics.median(self.times)
        print(
            f"  {self.total:>9,} scheduled: set-up {self.setup:6.1f} s ({self.size:.2f} GB); sweep of "
            f"{DUE:,} due {median * 1000:6.1f} ms median of {len(self.times)} "
            f"(runs: {', '.join(f'{t * 1000:.0f}' for t in self.times)} ms)"
        )
        return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"sweep of {DUE:,} due messages (SQLite table, WAL, synchronous=NORMAL; {os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="wagate-sweeper-") as tmp:
        beds = [Bed(args.small, Path(tmp)), Bed(args.large, Path(tmp))]
        # Alternate the two, so whatever else the machine is doing weighs on both alike.
        for run in range(RUNS + 1):  # run 0 warms caches and code paths up and is not counted
            for bed in beds:
                elapsed = bed.sweep(run)
                if run > 0:
                    bed.times.append(elapsed)
        small, large = (bed.report() for bed in beds)
        for bed in beds:
            bed.table.close()
    ratio = large / small
    print(f"sweeper: {ratio:.2f} ratio ({args.large:,} vs {args.small:,} scheduled; target ≤ {TARGET})")


if __name__ == "__main__":
    main()
