"""How long 1,000 already-paired sandbox sessions take to be connected again after a connector restart.

Seeds N paired sandbox sessions (desired = running, keys stored, leases released as a graceful stop
leaves them) in a temporary data dir, then starts a connector in a fresh process, as a restart would,
and times it from `start()` until every session is connected and every `connection_success` event is
on the EventsQueue (what the service and the dashboards see). After a crash (kill -9) add the shard
lease time (WAGATE_SHARD_LEASE_SECONDS) for another connector to take over; with the same process
restarted, its leases must expire first.
Run: `.venv/bin/python bench/connect_storm.py [N]` (default 1000).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core"), str(ROOT / "bench")]

from connector_density import SHARDS, LocalDeps, seed, wait_connected  # noqa: E402

from connector.app import Connector  # noqa: E402
from connector.config import ConnectorConfig  # noqa: E402
from wagate.domain.events import EventType, SessionEvent  # noqa: E402


async def restart(data_dir: Path, count: int) -> None:
    deps = LocalDeps(data_dir)
    config = ConnectorConfig(shards=SHARDS, command_wait_seconds=1)
    started = time.monotonic()
    connector = Connector(deps, config, owner_id="bench-storm")
    await connector.start()
    await wait_connected(connector, count, timeout=300)
    connected = time.monotonic() - started
    await connector.supervisor.publisher.flush()
    published = time.monotonic() - started
    await connector.stop()
    print(f"all {count} sessions connected after {connected:.2f}s; events published after {published:.2f}s")
    print(f"connect_storm: {published:.2f} s (target < 30 s)")


def count_connected_events(data_dir: Path) -> int:
    queue = LocalDeps(data_dir).queues.get("EventsQueue")
    seen = 0
    while batch := queue.receive(max_messages=10):
        for message in batch:
            seen += SessionEvent.model_validate_json(message.body).type == EventType.CONNECTION_SUCCESS
            queue.delete(message.receipt)
    return seen


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--restart":
        asyncio.run(restart(Path(sys.argv[2]), int(sys.argv[3])))
        return
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory(prefix="wagate-storm-") as tmp:
        data_dir = Path(tmp) / "data"
        asyncio.run(seed(LocalDeps(data_dir), count, desired="running"))
        print(f"seeded {count} paired sandbox sessions")
        sys.stdout.flush()
        output = subprocess.run(
            [sys.executable, __file__, "--restart", str(data_dir), str(count)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
        events = count_connected_events(data_dir)
        print(*output[:-1], sep="\n")
        print(f"connection_success events on the EventsQueue: {events}")
        if events != count:
            raise SystemExit(f"expected {count} connection_success events, found {events}")
        print(output[-1])


if __name__ == "__main__":
    main()
