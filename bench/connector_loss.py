"""Connector-loss sweep time with 1,000 connected sessions among 2,000 vs 200,000 sessions, on SQLite.

The sweep (services/connector_loss.py) promises a cost proportional to what is connected, never to every
session of every tenant: it reads the sparse index of connected sessions and their leases. For each size
a fresh table gets N session rows of one tenant each (as store/sessions.py writes them): CONNECTED of them
connected, in the index, each with a live session lease held by this process; the rest linked once and
now disconnected (out of the index). The steady state is timed (nothing lost, so nothing written: what
every minute costs), one warm-up run, then the median of 7, the two sizes taking turns. Then, on the
small table, the time to tell LOST losses (their leases lapse) is printed once.
Rows are written in bulk through the SQLite adapter's own encoding (bench/sweeper.py's `write_bulk`), not one
by one.
Run: `.venv/bin/python bench/connector_loss.py [--large N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sweeper import write_bulk  # bench/: this script's folder

from wagate import process_liveness
from wagate.adapters.local.sqlite_queue import SqliteQueues
from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.domain.events import SessionEvent
from wagate.domain.sessions import Provider, Session, SessionStatus
from wagate.ports import Item
from wagate.services.connector_loss import ConnectorLoss
from wagate.services.outbox import Notice, Outbox
from wagate.services.sessions import SessionService, shard_of
from wagate.store import keys

CONNECTED = 1_000
LOST = 100
RUNS = 7
TARGET = 1.5


class FixedClock:
    def __init__(self, now: float) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


def session_items(total: int, now: float) -> Iterator[Item]:
    identity = process_liveness.current().attributes()
    for index in range(total):
        tenant_id, session_id = f"ten_bench{index:07d}", f"ses_bench{index:07d}"
        connected = index < CONNECTED
        status = SessionStatus.CONNECTED if connected else SessionStatus.DISCONNECTED
        session = Session(
            id=session_id,
            tenant_id=tenant_id,
            name=f"Bench {index}",
            provider=Provider.WEB,
            phone=f"+3460{index:07d}",
            status=status,
            status_reason=None if connected else "connection_lost",
            metadata={"crm_id": index},
            created_at=now - 86400,
            updated_at=now - 60,
            connected_at=now - 3600,
        )
        pk, sk = keys.session(tenant_id, session_id)
        item: Item = {
            "pk": pk,
            "sk": sk,
            "gsi1pk": keys.shard_index(shard_of(session_id, 4)),
            "gsi1sk": keys.shard_index_sort(tenant_id, session_id),
            **session.model_dump(mode="json"),
            "shard": shard_of(session_id, 4),
            "desired": "running",
            "fence": 1,
            "reported": {"status": status.value, "reason": session.status_reason},
        }
        if connected:
            item["gsi2pk"] = keys.connected_sessions(keys.connected_slot_of(session_id))
            item["gsi2sk"] = keys.shard_index_sort(tenant_id, session_id)
            yield {**_lease(tenant_id, session_id, now), **identity}  # held by this (live) process
        yield item


def _lease(tenant_id: str, session_id: str, now: float) -> Item:
    pk, sk = keys.session_lease(tenant_id, session_id)
    return {"pk": pk, "sk": sk, "owner": "bench", "lease_until": now + 3600, "fence": 1}


class Bed:
    def __init__(self, total: int, directory: Path) -> None:
        self.total = total
        self.clock = FixedClock(time.time())
        self.table = SqliteTable(directory / f"table-{total}.db")
        self.queues = SqliteQueues(directory / f"queues-{total}.db", {})
        started = time.perf_counter()
        write_bulk(self.table, session_items(total, self.clock.now()))
        self.table._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")  # noqa: SLF001
        self.setup = time.perf_counter() - started
        self.told = 0

        def emit(event: SessionEvent, notice: Notice) -> None:
            self.told += 1

        sessions = SessionService(self.table, self.queues, self.clock, limit=5)
        self.loss = ConnectorLoss(self.table, self.clock, sessions, Outbox(self.table, self.clock, emit))
        self.times: list[float] = []

    def sweep(self) -> float:
        started = time.perf_counter()
        swept = self.loss.sweep()
        elapsed = time.perf_counter() - started
        if swept.lost or swept.back:
            raise SystemExit(f"steady state told {swept}")
        return elapsed

    def lose(self) -> float:
        """LOST of the connected sessions' leases lapse: the sweep tells each once."""
        for index in range(LOST):
            tenant_id, session_id = f"ten_bench{index:07d}", f"ses_bench{index:07d}"
            self.table.update(*keys.session_lease(tenant_id, session_id), set={"lease_until": 0})
        started = time.perf_counter()
        swept = self.loss.sweep()
        elapsed = time.perf_counter() - started
        if swept.lost != LOST or self.told != LOST:
            raise SystemExit(f"told {swept.lost} losses ({self.told} notices); expected {LOST}")
        return elapsed

    def report(self) -> float:
        median = statistics.median(self.times)
        print(
            f"  {self.total:>9,} sessions ({CONNECTED:,} connected): set-up {self.setup:5.1f} s; sweep "
            f"{median * 1000:6.1f} ms median of {len(self.times)} "
            f"(runs: {', '.join(f'{t * 1000:.0f}' for t in self.times)} ms)"
        )
        return median

    def close(self) -> None:
        self.table.close()
        self.queues.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--large", type=int, default=200_000)
    args = parser.parse_args()
    print(f"connector-loss sweep (SQLite table, WAL, synchronous=NORMAL; {os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="wagate-connector-loss-") as tmp:
        beds = [Bed(args.small, Path(tmp)), Bed(args.large, Path(tmp))]
        for run in range(RUNS + 1):  # run 0 warms caches and code paths up and is not counted
            for bed in beds:
                elapsed = bed.sweep()
                if run > 0:
                    bed.times.append(elapsed)
        small, large = (bed.report() for bed in beds)
        told = beds[0].lose()
        print(f"  telling {LOST} losses (conditional write + outbox row + emit each): {told * 1000:.1f} ms")
        for bed in beds:
            bed.close()
    ratio = large / small
    sizes = f"{args.large:,} vs {args.small:,} sessions"
    print(f"connector_loss_sweep: {ratio:.2f} ratio ({sizes}, {CONNECTED:,} connected; target ≤ {TARGET})")


if __name__ == "__main__":
    main()
