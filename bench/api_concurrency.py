"""Benchmark of `POST /v1/messages` under a CRM worker pool: 4 and 16 concurrent clients on `wagate serve`.

Starts `wagate serve` (sandbox mode, connector in-process) on localhost with a fresh data dir, creates a
tenant and pairs a sandbox session, then runs a closed loop per concurrency level: N keep-alive
connections each send `POST /v1/messages` (own `Idempotency-Key`, as a CRM worker would) one after the
other for a fixed time. Latency is timed per request from write to the end of the answer; accepted/s
counts 202s only. The client is a minimal HTTP/1.1 writer/reader on asyncio streams so it costs little of
the machine's CPU, but it runs on the same box (the figures include it). Bounded: `--seconds` per level.
It also prints the server's CPU time per request (Linux /proc: the whole process, connector included)
and the machine's load average, because on a shared 2-core box other work moves the latency figures
far more than the server's own cost does.
Run:
    python bench/api_concurrency.py [--seconds 10] [--clients 4,16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.serve import Server, wait_for  # noqa: E402

SANDBOX = {"WAGATE_SANDBOX_AUTO_REPLY": "false", "WAGATE_SANDBOX_REPLY_SECONDS": "0"}
TARGET_P99_MS = 50.0
TARGET_RATE = 300.0


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pair_sandbox_session(server: Server, key: str) -> str:
    with server.client(key) as http:
        session = http.post("/v1/sessions", json={"name": "Bench", "provider": "sandbox"}).json()
        wait_for(lambda: http.get(f"/v1/sessions/{session['id']}").json()["status"] == "qr")
        http.post(f"/v1/sandbox/sessions/{session['id']}/scan")
        wait_for(lambda: http.get(f"/v1/sessions/{session['id']}").json()["status"] == "connected")
        return str(session["id"])


def request_bytes(port: int, key: str, session_id: str, number: int) -> bytes:
    body = json.dumps(
        {"session_id": session_id, "to": f"+1555{number % 10_000_000:07d}", "text": f"bench {number}"}
    ).encode()
    head = (
        f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nIdempotency-Key: {uuid.uuid4()}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Reads one HTTP/1.1 response with a Content-Length body; returns its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def closed_loop(
    port: int, key: str, session_id: str, clients: int, seconds: float
) -> tuple[list[float], Counter[int], float]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    counter = iter(range(10**9))
    start = time.perf_counter()
    stop_at = start + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop_at:
                payload = request_bytes(port, key, session_id, next(counter))
                sent = time.perf_counter()
                writer.write(payload)
                status = await read_response(reader)
                latencies.append((time.perf_counter() - sent) * 1000)
                statuses[status] += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, statuses, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per concurrency level")
    parser.add_argument("--clients", default="4,16", help="comma-separated concurrency levels")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    args = parser.parse_args()
    levels = [int(n) for n in args.clients.split(",")]
    figures: dict[int, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp) / "data", env=SANDBOX) as server:
        assert server.process is not None
        print(f"wagate serve pid {server.process.pid} (for a profiler)", flush=True)
        key = server.create_tenant("bench")
        session_id = pair_sandbox_session(server, key)
        # Warm-up at the highest level: imports, the resolver's containers, SQLite pages.
        asyncio.run(closed_loop(server.port, key, session_id, max(levels), args.warmup))
        for clients in levels:
            load = Path("/proc/loadavg").read_text().split()[0]
            cpu_before = cpu_seconds(server.process.pid)
            ms, statuses, elapsed = asyncio.run(
                closed_loop(server.port, key, session_id, clients, args.seconds)
            )
            cpu_ms = (cpu_seconds(server.process.pid) - cpu_before) * 1000 / max(1, len(ms))
            accepted = statuses.get(202, 0) / elapsed
            p50, p99 = percentile(ms, 0.50), percentile(ms, 0.99)
            figures[clients] = (p50, p99, accepted)
            print(
                f"{clients:>2} clients: {len(ms)} requests in {elapsed:.1f} s, statuses {dict(statuses)}; "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(ms):.1f} ms; {accepted:.0f} accepted/s; "
                f"server CPU {cpu_ms:.2f} ms/request; load average {load}"
            )
    first = levels[0]
    p50, p99, accepted = figures[first]
    print(
        f"api_concurrency: p99 {p99:.1f} ms, {accepted:.0f} accepted/s at {first} clients "
        f"(target p99 < {TARGET_P99_MS:.0f} ms and >= {TARGET_RATE:.0f} accepted/s)"
    )


if __name__ == "__main__":
    main()
