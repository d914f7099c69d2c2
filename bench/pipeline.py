"""The send pipeline end to end: accepted throughput, and accept → `sent` latency, through `wagate serve`.

`wagate serve` runs as a subprocess (fresh data dir, connector in-process, pacing off); sandbox sessions
are created and paired over the API (`POST /v1/sandbox/sessions/{id}/scan`); everything after that is
real HTTP and the real dashboard socket:

  (a) closed loop, 16 concurrent clients: POST /v1/messages as fast as it answers → accepted msg/s;
      `--media-share` of them (10 % by default) are files sent as a CRM sends them: POST /v1/media
      (multipart, a ~100 KB PNG, sniffed and hashed as it streams into the media store) and then POST
      /v1/messages naming its id (checked at accept: the file exists, is complete, fits the provider),
      both inside the timed loop. The sandbox engine sends a file as a text (no WhatsApp upload), so
      what this measures is wagate's own cost of taking files in, not WhatsApp's media hosts;
  (b) open loop at a fixed 200 msg/s: each message timed from its scheduled send to its `message_sent` on
      the dashboard socket (realtime token, subscribed to every session): accept, command queue, the
      connector's claim and send, the events queue, the events consumer, the @connections push.

Also printed: the server's CPU time per accepted message (Linux /proc), which says whether the machine or
something else is the limit. Run: `.venv/bin/python bench/pipeline.py [--messages 3000] [--rate 200]`
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import struct
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.serve import Server, wait_for  # noqa: E402

SESSIONS = 4
KEEP_ALIVE_SECONDS = 3.0  # below uvicorn's 5 s keep-alive timeout
ENV = {
    "WAGATE_PACING": "off",
    "WAGATE_SANDBOX_AUTO_REPLY": "false",
    "WAGATE_MAX_SESSIONS_PER_TENANT": str(SESSIONS),
    "WAGATE_LOG_LEVEL": "WARNING",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def server_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pair_sessions(server: Server, key: str) -> list[str]:
    with server.client(key) as http:
        sessions = []
        for i in range(SESSIONS):
            created = http.post("/v1/sessions", json={"name": f"bench {i}", "provider": "sandbox"})
            sessions.append(created.json()["id"])
        for session in sessions:
            wait_for(lambda s=session: http.get(f"/v1/sessions/{s}").json()["status"] == "qr", timeout=30)
            http.post(f"/v1/sandbox/sessions/{session}/scan")
        for session in sessions:
            wait_for(
                lambda s=session: http.get(f"/v1/sessions/{s}").json()["status"] == "connected", timeout=30
            )
    return sessions


class SentWatch:
    """The dashboard socket: when each message's `message_sent` arrived (perf_counter), when the connector
    sent it (the event's timestamp: the engine's send time, epoch), and which were read (their last event)."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.sent_by_engine: dict[str, float] = {}
        self.read: set[str] = set()
        self.ready = asyncio.Event()
        self._changed = asyncio.Event()

    async def listen(self, url: str) -> None:
        async with websockets.connect(url, max_queue=None) as socket:
            await socket.send(json.dumps({"event": "subscribe", "data": {}}))
            await socket.recv()
            self.ready.set()
            async for raw in socket:
                message = json.loads(raw)
                data = message["data"]
                if message["event"] == "message_sent":
                    self.sent[data["messageId"]] = time.perf_counter()
                    sent_at = dt.datetime.fromisoformat(data["timestamp"]).timestamp()
                    self.sent_by_engine[data["messageId"]] = sent_at
                elif message["event"] == "message_status" and data.get("status") == "read":
                    self.read.add(data["messageId"])
                self._changed.set()

    async def wait_for(self, ids: set[str], timeout: float, *, read: bool = False) -> None:
        """Until every one is sent (or read: all its events are through). Exits after `timeout`."""
        deadline = time.monotonic() + timeout
        while not ids <= (self.read if read else self.sent.keys()):
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                done = len(ids & (self.read if read else self.sent.keys()))
                raise SystemExit(f"only {done} of {len(ids)} messages were {'read' if read else 'sent'}")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass


class LeanClient:
    """A minimal HTTP/1.1 keep-alive client for POST /v1/messages. The load generator shares the machine
    with the server it measures, and httpx costs about as much CPU per request as `wagate serve` itself
    does; this costs a small fraction of it (the server always sends Content-Length)."""

    def __init__(self, url: str, key: str, *, connections: int) -> None:
        parsed = httpx.URL(url)
        self._host, self._port = str(parsed.host), int(parsed.port or 80)
        self._head = f"Host: {self._host}:{self._port}\r\nAuthorization: Bearer {key}\r\n".encode()
        self._free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = asyncio.Queue()
        self._opened = 0
        self._limit = connections

    async def post(self, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        return await self.post_raw(path, json.dumps(payload).encode(), b"application/json")

    async def post_raw(self, path: str, data: bytes, content_type: bytes) -> tuple[int, Any]:
        reader, writer, used = await self._checkout()
        request = b"POST %s HTTP/1.1\r\n%sContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
        writer.write(request % (path.encode(), self._head, content_type, len(data), data))
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        answer = await reader.readexactly(length)
        self._free.put_nowait((reader, writer, time.monotonic()))
        return int(head[9:12]), json.loads(answer)

    async def _checkout(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, float]:
        while not self._free.empty():
            reader, writer, used = self._free.get_nowait()
            if time.monotonic() - used < KEEP_ALIVE_SECONDS:
                return reader, writer, used
            writer.close()  # the server may be closing it (uvicorn's keep-alive timeout): never reuse it
            self._opened -= 1
        if self._opened < self._limit:
            self._opened += 1
            reader, writer = await asyncio.open_connection(self._host, self._port)
            return reader, writer, time.monotonic()
        return await self._free.get()

    async def close(self) -> None:
        while not self._free.empty():
            _, writer, _ = self._free.get_nowait()
            writer.close()


def body(sessions: list[str], i: int) -> dict[str, Any]:
    return {"session_id": sessions[i % len(sessions)], "to": f"+1555060{i % 10000:04d}", "text": f"m{i}"}


BOUNDARY = b"wagate-bench-boundary-7d1f"


def photo(seed: int, side: int = 180) -> bytes:
    """A ~100 KB PNG of noise (what a phone photo weighs once WhatsApp has compressed it), unique per seed."""
    noise = random.Random(seed).randbytes
    rows = b"".join(b"\x00" + noise(side * 3) for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


def multipart(name: str, data: bytes) -> bytes:
    return (
        b'--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n%s\r\n--%s--\r\n"
    ) % (BOUNDARY, name.encode(), data, BOUNDARY)


def is_media(i: int, share: float) -> bool:
    """Spread evenly: message i is a file when the running share crosses a whole number."""
    return share > 0 and int((i + 1) * share) > int(i * share)


async def accepted_throughput(
    client: LeanClient, sessions: list[str], total: int, concurrency: int, media_share: float = 0.0
) -> tuple[float, list[str], dict[int, int], int]:
    ids: list[str] = []
    statuses: dict[int, int] = {}
    counter = iter(range(total))
    files = [multipart(f"photo{n}.png", photo(n)) for n in range(8)]
    media_sent = 0

    async def worker() -> None:
        nonlocal media_sent
        for i in counter:
            payload = body(sessions, i)
            if is_media(i, media_share):
                status, stored = await client.post_raw(
                    "/v1/media", files[i % len(files)], b"multipart/form-data; boundary=" + BOUNDARY
                )
                if status != 201:
                    statuses[status] = statuses.get(status, 0) + 1
                    continue
                del payload["text"]
                payload["media"] = {"upload_id": stored["id"], "caption": f"m{i}"}
                media_sent += 1
            status, answer = await client.post("/v1/messages", payload)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 202:
                ids.append(answer["id"])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started), ids, statuses, media_sent


@dataclass
class Latencies:
    to_socket: list[float]  # ms: scheduled POST → message_sent on the dashboard socket
    to_engine: list[float]  # ms: scheduled POST → the connector's send (the event's timestamp)


async def latency_at_rate(
    client: LeanClient, sessions: list[str], watch: SentWatch, rate: float, seconds: float, offset: int
) -> Latencies:
    total = int(rate * seconds)
    scheduled: dict[str, tuple[float, float]] = {}

    async def one(i: int, at: float, wall: float) -> None:
        status, answer = await client.post("/v1/messages", body(sessions, offset + i))
        if status == 202:
            scheduled[answer["id"]] = (at, wall)

    start = time.perf_counter() + 0.1
    wall_start = time.time() + (start - time.perf_counter())
    tasks = []
    for i in range(total):
        at = start + i / rate
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        # Timed from its schedule, not from when it went: a stall shows up (no coordinated omission).
        tasks.append(asyncio.create_task(one(i, at, wall_start + i / rate)))
    await asyncio.gather(*tasks)
    await watch.wait_for(set(scheduled), timeout=120)
    return Latencies(
        to_socket=sorted((watch.sent[m] - at) * 1000 for m, (at, _) in scheduled.items()),
        to_engine=sorted((watch.sent_by_engine[m] - wall) * 1000 for m, (_, wall) in scheduled.items()),
    )


def percentiles(ms: list[float]) -> tuple[float, float, float]:
    return statistics.median(ms), ms[max(0, int(len(ms) * 0.99) - 1)], ms[-1]


async def watching(server: Server, key: str) -> tuple[SentWatch, asyncio.Task[None]]:
    """The dashboard socket, subscribed and ready, and the task listening to it (cancel it when done)."""
    with server.client(key) as http:
        token = http.post("/v1/realtime/token").json()["token"]
    watch = SentWatch()
    listener = asyncio.create_task(watch.listen(f"{server.ws_url}?token={token}"))
    await asyncio.wait_for(watch.ready.wait(), 10)
    return watch, listener


async def run(server: Server, key: str, sessions: list[str], args: argparse.Namespace) -> None:
    assert server.process is not None
    watch, listener = await watching(server, key)
    # As many connections as requests in flight at once: 16 for (a); (b) opens more while the server lags.
    client = LeanClient(server.url, key, connections=256)
    try:
        cpu_before = server_cpu_seconds(server.process.pid)
        rate, ids, statuses, media_sent = await accepted_throughput(
            client, sessions, args.messages, args.concurrency, args.media_share
        )
        cpu = server_cpu_seconds(server.process.pid) - cpu_before
        print(
            f"(a) {args.messages} POST /v1/messages ({media_sent} of them files uploaded first with POST"
            f" /v1/media), {args.concurrency} concurrent: {rate:.0f} msg/s"
            f" accepted, statuses {statuses}; server CPU {cpu * 1000 / args.messages:.2f} ms per message"
            " (accept, and the sends and events running meanwhile)"
        )
        drain_started = time.perf_counter()
        await watch.wait_for(set(ids), timeout=300)
        sent_after = time.perf_counter() - drain_started
        await watch.wait_for(set(ids), timeout=300, read=True)  # their receipts too: (b) starts quiet
        read_after = time.perf_counter() - drain_started
        print(
            f"    the last of them was on the dashboard as sent {sent_after:.1f}s after the last accept,"
            f" as read {read_after:.1f}s after"
        )
        results = []
        for i, at_rate in enumerate([*args.also_at, args.rate]):  # lower rates first: where time goes
            found = await latency_at_rate(client, sessions, watch, at_rate, args.seconds, 10**5 * (i + 1))
            results.append((at_rate, found))
            await watch.wait_for(set(watch.sent) - watch.read, timeout=300, read=True)
    finally:
        await client.close()
    listener.cancel()
    for at_rate, found in results:
        socket_p = percentiles(found.to_socket)
        engine_p = percentiles(found.to_engine)
        print(
            f"(b) {len(found.to_socket)} at {at_rate:.0f} msg/s: accept → message_sent on the dashboard"
            f" socket p50 {socket_p[0]:.1f} ms, p99 {socket_p[1]:.1f} ms, max {socket_p[2]:.1f} ms;"
            f" accept → the connector's send p50 {engine_p[0]:.1f} ms, p99 {engine_p[1]:.1f} ms"
        )
    p99 = percentiles(results[-1][1].to_socket)[1]
    print(
        f"pipeline: {rate:.0f} msg/s accepted ({args.media_share:.0%} files), p99 {p99:.0f} ms"
        f" accept→sent @{args.rate:.0f} msg/s (target ≥500, <100 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000, help="messages for the throughput run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--media-share", type=float, default=0.1, help="share of (a)'s messages that are files (0: text only)"
    )
    parser.add_argument("--rate", type=float, default=200.0, help="msg/s of the latency run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each latency run")
    parser.add_argument(
        "--also-at", type=float, nargs="*", default=[50.0], help="lower rates measured first (context)"
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="wagate-pipeline-") as tmp,
        Server(Path(tmp) / "data", env=ENV) as server,
    ):
        key = server.create_tenant("bench")
        sessions = pair_sessions(server, key)
        cpus = os.cpu_count()
        print(f"serving at {server.url}; {len(sessions)} sandbox sessions paired; pacing off (cpus: {cpus})")
        asyncio.run(run(server, key, sessions, args))


if __name__ == "__main__":
    main()
