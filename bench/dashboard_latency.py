"""Dashboard latency: a connector event → the dashboard socket, p50/p99 at 100 events/s (local mode).

`wagate serve` runs as a subprocess. This script plays the connector: it puts `incoming_message` events
on the local EventsQueue (the same SQLite queue file the connector writes) at a steady rate, each stamped
with the time it was published, and a dashboard WebSocket measures when each one arrives (after the
events consumer stored it and fanned it out). Target: p99 < 50 ms (seed 001's promise).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.aws_template import TEMPLATE  # noqa: E402
from tests.support.serve import Server  # noqa: E402
from wagate.adapters.local.sqlite_queue import SqliteQueues  # noqa: E402
from wagate.domain.events import EventType, SessionEvent  # noqa: E402
from wagate.local.template import load_template  # noqa: E402

RATE = 100  # events per second
SECONDS = 10


async def run(server: Server, key: str) -> list[float]:
    http = server.client(key)
    session = http.post("/v1/sessions", json={"name": "Bench", "provider": "sandbox"}).json()
    token = http.post("/v1/realtime/token").json()["token"]
    queues = SqliteQueues(server.data_dir / "queues.db", load_template(TEMPLATE).queue_definitions())
    events_queue = queues.get("EventsQueue")
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    total = RATE * SECONDS

    async with websockets.connect(f"{server.ws_url}?token={token}") as socket:
        await socket.send(json.dumps({"event": "subscribe", "data": {}}))
        await socket.recv()

        async def receive() -> None:
            while len(latencies) < total:
                message = json.loads(await socket.recv())
                if message["event"] != "incoming_message":
                    continue
                provider_id = message["data"]["providerMessageId"]
                if provider_id in sent_at:
                    latencies.append(time.perf_counter() - sent_at[provider_id])

        receiver = asyncio.create_task(receive())
        start = time.perf_counter()
        for i in range(total):
            await asyncio.sleep(max(0.0, start + i / RATE - time.perf_counter()))
            provider_id = f"BENCH{i:06d}"
            event = SessionEvent(
                type=EventType.INCOMING_MESSAGE,
                tenant_id=session["tenant_id"],
                session_id=session["id"],
                fence=0,
                at=time.time(),
                data={
                    "provider_message_id": provider_id,
                    "chat_jid": "15550100001@s.whatsapp.net",
                    "sender_jid": "15550100001@s.whatsapp.net",
                    "sender_phone": "+15550100001",
                    "timestamp": time.time(),
                    "text": f"message {i}",
                    "type": "text",
                },
            )
            sent_at[provider_id] = time.perf_counter()
            await asyncio.to_thread(
                events_queue.send, event.model_dump_json(), group_id=session["id"], dedup_id=event.id
            )
        await asyncio.wait_for(receiver, timeout=30)
    http.close()
    return latencies


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp) / "data") as server:
        key = server.create_tenant("bench")
        latencies = sorted(asyncio.run(run(server, key)))
    ms = [x * 1000 for x in latencies]
    p50, p99 = statistics.median(ms), ms[int(len(ms) * 0.99) - 1]
    print(f"events: {len(ms)} at {RATE}/s; p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms")
    print(f"dashboard_latency: p99 {p99:.1f} ms at {RATE} events/s (target < 50 ms)")


if __name__ == "__main__":
    main()
