"""Table writes an idle linked number costs the connector per hour, with the lease settings before and now.

One connector holding every shard and `--sessions` idle sessions, run by the connector's own lease code
(`Leases`, `LeaseKeeper`, the member heartbeat `Supervisor.balance` sends every shard-renewal period) on
the SQLite table, every write counted. An hour would take an hour, so every lease duration is divided by
`--speedup` and each run lasts 5400 / speedup seconds (half an hour to settle, then the hour counted):
the schedule, and so the count, is the hour's (at a high speedup the shard leases, renewed every
30 s / 3 / speedup, may miss under load: lost leases are counted).
"Before" is the default until now (session leases of 120 s, renewed every 40 s); "now" is the
configured default (`WAGATE_SESSION_LEASE_SECONDS`). Writes per idle session per hour are its own
session-lease renewals plus its share of its task's shard renewals and heartbeats (at `--fleet`
sessions per task); on DynamoDB each is one write request unit (items < 1 KB).
Run:
    python bench/lease_writes.py [--sessions 200] [--speedup 100] [--fleet 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from connector.config import ConnectorConfig
from connector.leases import LeaseKeeper, Leases, LeaseTimes, session_lease_key, shard_lease_key
from connector.members import Members
from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.ports import TransactOp
from wagate.wiring import SystemClock

BEFORE_SESSION_LEASE_SECONDS = 120.0
TARGET = 4.0  # writes per idle session per hour (before: 90)
DYNAMODB_WRITE_PRICE = 0.625  # USD per million on-demand write request units (us-east-1)


class CountingTable:
    """The SQLite table, counting every write (put, update, transaction item) by what it writes."""

    def __init__(self, path: Path) -> None:
        self.inner = SqliteTable(path)
        self.writes: Counter[str] = Counter()

    @staticmethod
    def kind(pk: str) -> str:
        if pk.startswith("LEASE#SHARD#"):
            return "shard lease"
        if "#LEASE#" in pk:
            return "session lease"
        if pk == "CONNECTORS":
            return "member heartbeat"
        return "other"

    def put(self, item: Mapping[str, Any], **options: Any) -> None:
        self.writes[self.kind(str(item["pk"]))] += 1
        self.inner.put(dict(item), **options)

    def update(self, pk: str, sk: str, **options: Any) -> Any:
        self.writes[self.kind(pk)] += 1
        return self.inner.update(pk, sk, **options)

    def transact_write(self, ops: Sequence[TransactOp]) -> None:
        for op in ops:
            self.writes[self.kind(str(getattr(op, "pk", "")))] += 1
        self.inner.transact_write(ops)

    def __getattr__(self, name: str) -> Any:  # reads: get, query, delete
        return getattr(self.inner, name)


async def one_hour(session_lease_seconds: float, sessions: int, speedup: float) -> tuple[Counter[str], int]:
    base = ConnectorConfig()
    config = base.model_copy(
        update={
            "shard_lease_seconds": base.shard_lease_seconds / speedup,
            "session_lease_seconds": session_lease_seconds / speedup,
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        table = CountingTable(Path(tmp) / "table.db")
        clock = SystemClock()
        leases = Leases(table, clock, "connector-bench")
        keeper = LeaseKeeper(leases, tick=config.keeper_tick)
        members = Members(table, clock, "connector-bench", ttl=config.shard_lease_seconds)
        fences = {}
        for shard in range(config.shards):
            lease = leases.acquire(shard_lease_key(shard), config.shard_lease)
            assert lease is not None
            fences[shard] = lease.fence
            keeper.hold(lease, config.shard_lease, lambda lost: None)
        for n in range(sessions):
            key = session_lease_key("ten_bench", f"ses_{n:05d}")
            lease = leases.acquire(key, config.session_lease, shard_fence=fences[n % config.shards])
            assert lease is not None
            keeper.hold(lease, config.session_lease, lambda lost: None)
        keeper.start()
        heartbeat = LeaseTimes.for_ttl(config.shard_lease_seconds).renew_every
        # Half an hour first, so the hour counted sees renewals in their steady rhythm, not the phase
        # right after every lease was taken at once.
        for seconds, measured in ((1800 / speedup, False), (3600 / speedup, True)):
            if measured:
                table.writes.clear()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                await asyncio.to_thread(members.heartbeat)
                await asyncio.sleep(min(heartbeat, max(0.0, deadline - time.monotonic())))
        lost = sessions + config.shards - len(keeper)  # a lease not renewed in time is dropped
        await keeper.stop()
        return table.writes, lost


def report(label: str, writes: Counter[str], sessions: int, lost: int, fleet: int) -> float:
    """Writes per idle session per hour: its own lease renewals, plus its share of one connector task's
    shard renewals and heartbeats when that task runs `fleet` sessions."""
    own = writes["session lease"] / sessions
    per_task = writes["shard lease"] + writes["member heartbeat"]
    per_session = own + per_task / fleet
    parts = ", ".join(f"{kind} {count:,}" for kind, count in sorted(writes.items()))
    print(f"{label}: {sum(writes.values()):,} writes in the hour ({parts}); {lost} leases lost")  # noqa: T201
    monthly = per_session * fleet * 24 * 30 * DYNAMODB_WRITE_PRICE / 1e6
    print(  # noqa: T201
        f"  {own:.2f} session-lease writes per idle session + {per_task:,} per connector task"
        f" = {per_session:.2f} per session at {fleet:,} sessions/task = ${monthly:,.2f}/month in lease writes"
    )
    return per_session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200, help="idle sessions actually held")
    parser.add_argument("--speedup", type=float, default=100.0)
    parser.add_argument("--fleet", type=int, default=10_000, help="sessions per task the cost is shown for")
    args = parser.parse_args()
    logging.getLogger("wagate.connector.leases").setLevel(logging.ERROR)  # counted below instead
    now_seconds = ConnectorConfig().session_lease_seconds
    before, lost_before = asyncio.run(one_hour(BEFORE_SESSION_LEASE_SECONDS, args.sessions, args.speedup))
    after, lost_after = asyncio.run(one_hour(now_seconds, args.sessions, args.speedup))
    label = f"before (session lease {BEFORE_SESSION_LEASE_SECONDS:.0f} s)"
    was = report(label, before, args.sessions, lost_before, args.fleet)
    now = report(f"now (session lease {now_seconds:.0f} s)", after, args.sessions, lost_after, args.fleet)
    print(  # noqa: T201
        f"lease_writes: {now:.2f} writes per idle session per hour (was {was:.1f}; target ≤ {TARGET:.0f})"
    )


if __name__ == "__main__":
    main()
