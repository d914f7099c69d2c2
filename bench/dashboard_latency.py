"""Dashboard latency: an engine event → the dashboard socket, p50/p99 at 100 events/s (local mode).

`wagate serve` runs as a subprocess with its connector in-process. A paired sandbox session is asked (over
the API) to make a simulated contact write, 100 times a second. Each `incoming_message` carries the time
the engine emitted it; the dashboard socket measures when it arrives, after the publisher, the events
queue, the events consumer (store + fan-out) and the @connections API. Target: p99 < 50 ms (seed 001).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.serve import Server, wait_for  # noqa: E402

RATE = 100  # events per second
SECONDS = 10
SANDBOX = {"WAGATE_SANDBOX_AUTO_REPLY": "false", "WAGATE_SANDBOX_REPLY_SECONDS": "0"}


async def run(server: Server, key: str) -> list[float]:
    http = server.client(key)
    session = http.post("/v1/sessions", json={"name": "Bench", "provider": "sandbox"}).json()
    wait_for(lambda: http.get(f"/v1/sessions/{session['id']}").json()["status"] == "qr")
    http.post(f"/v1/sandbox/sessions/{session['id']}/scan")
    wait_for(lambda: http.get(f"/v1/sessions/{session['id']}").json()["status"] == "connected")
    token = http.post("/v1/realtime/token").json()["token"]
    latencies: list[float] = []
    total = RATE * SECONDS
    async with (
        websockets.connect(f"{server.ws_url}?token={token}") as socket,
        httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as client,
    ):
        await socket.send(json.dumps({"event": "subscribe", "data": {}}))
        await socket.recv()

        async def receive() -> None:
            while len(latencies) < total:
                message = json.loads(await socket.recv())
                if message["event"] == "incoming_message":
                    emitted = dt.datetime.fromisoformat(message["data"]["timestamp"]).timestamp()
                    latencies.append(time.time() - emitted)

        receiver = asyncio.create_task(receive())
        start = time.perf_counter()
        pending = []
        for i in range(total):
            await asyncio.sleep(max(0.0, start + i / RATE - time.perf_counter()))
            body = {"contact": "+15550100001", "text": f"message {i}"}
            pending.append(
                asyncio.create_task(client.post(f"/v1/sandbox/sessions/{session['id']}/reply", json=body))
            )
        await asyncio.gather(*pending)
        await asyncio.wait_for(receiver, timeout=60)
    http.close()
    return latencies


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp) / "data", env=SANDBOX) as server:
        key = server.create_tenant("bench")
        ms = sorted(x * 1000 for x in asyncio.run(run(server, key)))
    p50, p99 = statistics.median(ms), ms[int(len(ms) * 0.99) - 1]
    print(f"events: {len(ms)} at {RATE}/s; p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms")
    print(f"dashboard_latency: p99 {p99:.1f} ms at {RATE} events/s (target < 50 ms)")


if __name__ == "__main__":
    main()
