"""How many idle, connected sandbox sessions one connector process holds, and the memory each costs.

Seeds N paired sandbox sessions (rows + encrypted keys) in a temporary data dir; then, in a fresh
process, starts a connector with them all stopped and measures its RSS (the empty process), marks them
running, waits until every one is connected and idle, and measures again.
Run: `.venv/bin/python bench/connector_density.py [N]` (default 5000).
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core")]

from connector.app import Connector  # noqa: E402
from connector.config import ConnectorConfig  # noqa: E402
from connector.engines.sandbox import store_pairing  # noqa: E402
from connector.keystore import TableKeyStore  # noqa: E402
from connector.leases import Leases, LeaseTimes, session_lease_key  # noqa: E402
from connector.session_runner import SessionState  # noqa: E402
from connector.shards import command_queue_name, shard_of  # noqa: E402
from wagate.adapters.local.file_crypto import FileCrypto  # noqa: E402
from wagate.adapters.local.sqlite_queue import QueueDefinition, SqliteQueues  # noqa: E402
from wagate.adapters.local.sqlite_table import SqliteTable  # noqa: E402
from wagate.settings import Settings  # noqa: E402
from wagate.wiring import SystemClock  # noqa: E402

SHARDS = 4
TENANT = "ten_bench"


class LocalDeps:
    """The adapters of one local data dir (what `wagate.wiring.deps()` builds, with explicit queues)."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        definitions = [
            QueueDefinition("EventsQueue", fifo=True),
            *(QueueDefinition(command_queue_name(n), fifo=True) for n in range(SHARDS)),
        ]
        self.settings = Settings(backend="local", data_dir=data_dir)
        self.table = SqliteTable(data_dir / "table.db")
        self.queues = SqliteQueues(data_dir / "queues.db", {d.name: d for d in definitions})
        self.crypto = FileCrypto(data_dir / "master.key")
        self.clock = SystemClock()


def session_row(session_id: str, desired: str) -> dict[str, Any]:
    shard = shard_of(session_id, SHARDS)
    return {
        "pk": f"T#{TENANT}",
        "sk": f"SESSION#{session_id}",
        "id": session_id,
        "tenant_id": TENANT,
        "name": "bench",
        "provider": "sandbox",
        "status": "connected",
        "desired": desired,
        "shard": shard,
        "gsi1pk": f"SHARD#{shard}",
        "gsi1sk": f"SESSION#{TENANT}#{session_id}",
    }


async def seed(deps: LocalDeps, count: int, desired: str) -> list[str]:
    """`count` sandbox sessions already paired (their credentials stored as a scan would)."""
    leases = Leases(deps.table, deps.clock, "bench-seed")
    times = LeaseTimes.for_ttl(60)
    sessions = [f"ses_bench{i:06d}" for i in range(count)]
    for session_id in sessions:
        deps.table.put(session_row(session_id, desired))
        lease = leases.acquire(session_lease_key(TENANT, session_id), times)
        assert lease is not None
        keys = TableKeyStore(deps.table, deps.crypto, lease, tenant_id=TENANT, session_id=session_id)
        await store_pairing(keys, session_id, deps.clock.now())
        leases.release(lease)
    return sessions


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def wait_connected(connector: Connector, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        states = connector.supervisor.session_states().values()
        if sum(state is SessionState.CONNECTED for state in states) >= count:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"only {sum(s is SessionState.CONNECTED for s in states)} of {count} connected")
        await asyncio.sleep(0.2)


async def measure(data_dir: Path, count: int) -> None:
    """In a fresh process (the seeding's memory must not count): empty RSS, then with every session."""
    deps = LocalDeps(data_dir)
    sessions = [row["id"] for row in deps.table.query(f"T#{TENANT}").items]
    config = ConnectorConfig(shards=SHARDS, discovery_seconds=3600, command_wait_seconds=1)
    connector = Connector(deps, config, owner_id="bench-density")
    await connector.start()
    await asyncio.sleep(1.0)
    gc.collect()
    empty = rss_bytes()

    for session_id in sessions:  # now they should run
        deps.table.update(f"T#{TENANT}", f"SESSION#{session_id}", set={"desired": "running"})
    started = time.monotonic()
    await connector.supervisor.discover_all()
    await wait_connected(connector, count, timeout=600)
    connect_seconds = time.monotonic() - started
    await connector.supervisor.publisher.flush()
    await asyncio.sleep(3.0)  # idle: nothing but lease renewals
    gc.collect()
    full = rss_bytes()
    held = sum(s is SessionState.CONNECTED for s in connector.supervisor.session_states().values())
    await connector.stop()

    per_session = (full - empty) / held
    print(f"connected {held} sessions in {connect_seconds:.1f}s")
    print(f"RSS empty connector: {empty / 2**20:.1f} MiB; with {held} idle sessions: {full / 2**20:.1f} MiB")
    print(f"sessions held: {held}")
    print(f"connector_density: {per_session / 1024:.1f} KB/session (target <= 100 KB/session)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        asyncio.run(measure(Path(sys.argv[2]), int(sys.argv[3])))
        return
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory(prefix="wagate-density-") as tmp:
        data_dir = Path(tmp) / "data"
        started = time.monotonic()
        asyncio.run(seed(LocalDeps(data_dir), count, desired="stopped"))
        print(f"seeded {count} paired sandbox sessions in {time.monotonic() - started:.1f}s")
        sys.stdout.flush()
        subprocess.run([sys.executable, __file__, "--measure", str(data_dir), str(count)], check=True)


if __name__ == "__main__":
    main()
