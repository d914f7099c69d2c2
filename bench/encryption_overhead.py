"""What sealing content at rest costs: pipeline accept throughput and dashboard read latency, encryption on
vs off, side by side in one script (issue 14's goal: at most 10 % slower).

Each round starts `wagate serve` twice on fresh data directories, once with WAGATE_ENCRYPT_CONTENT=true and
once with false (the order alternates between rounds, so drift of the shared machine hits both alike),
pairs sandbox sessions, then measures through real HTTP:

  (a) accept: 16 concurrent clients POST /v1/messages as fast as it answers → accepted msg/s, and the
      server's CPU per accepted message (Linux /proc);
  (b) dashboard, once the server is idle again: the conversation list (GET /v1/conversations?limit=50)
      and one conversation's messages (GET /v1/conversations/{id}/messages?limit=50), one request at a
      time → p50/p99 ms.

Run: `.venv/bin/python bench/encryption_overhead.py [--messages 2000] [--rounds 2] [--reads 300]`
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pipeline import ENV, LeanClient, accepted_throughput, pair_sessions, server_cpu_seconds  # noqa: E402

from tests.support.serve import Server  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def dashboard_latency(url: str, key: str, reads: int) -> tuple[list[float], list[float]]:
    """ms per request of the conversation list and of the busiest conversation's messages."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        conversations = http.get("/v1/conversations", params={"limit": 50}).json()["items"]
        conv = conversations[0]["id"]
        lists, messages = [], []
        for _ in range(reads):
            started = time.perf_counter()
            assert http.get("/v1/conversations", params={"limit": 50}).status_code == 200
            lists.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            assert http.get(f"/v1/conversations/{conv}/messages", params={"limit": 50}).status_code == 200
            messages.append((time.perf_counter() - started) * 1000)
    return lists, messages


def wait_idle(pid: int, timeout: float = 180.0) -> None:
    """Until the server uses under 5 % of a core for a whole second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = server_cpu_seconds(pid)
        time.sleep(1.0)
        if server_cpu_seconds(pid) - before < 0.05:
            return


def one_run(encrypt: bool, args: argparse.Namespace) -> dict[str, float]:
    env = {**ENV, "WAGATE_ENCRYPT_CONTENT": "true" if encrypt else "false"}
    with (
        tempfile.TemporaryDirectory(prefix="wagate-encbench-") as tmp,
        Server(Path(tmp) / "data", env=env) as server,
    ):
        key = server.create_tenant("bench")
        sessions = pair_sessions(server, key)
        assert server.process is not None
        pid = server.process.pid

        async def accept() -> tuple[float, int]:
            client = LeanClient(server.url, key, connections=args.concurrency)
            try:
                await accepted_throughput(client, sessions, 100, args.concurrency)  # warm up
                rate, ids, _, _ = await accepted_throughput(client, sessions, args.messages, args.concurrency)
                return rate, len(ids)
            finally:
                await client.close()

        cpu_before = server_cpu_seconds(pid)
        rate, accepted = asyncio.run(accept())
        cpu_ms = (server_cpu_seconds(pid) - cpu_before) * 1000 / max(accepted, 1)
        wait_idle(pid)  # the connector's sends and receipts must not share the CPU with the reads timed
        cpu_before = server_cpu_seconds(pid)
        lists, messages = dashboard_latency(server.url, key, args.reads)
        read_cpu_ms = (server_cpu_seconds(pid) - cpu_before) * 1000 / (2 * args.reads + 1)
    return {
        "read_cpu_ms": read_cpu_ms,
        "rate": rate,
        "cpu_ms": cpu_ms,
        "list_p50": statistics.median(lists),
        "list_p99": percentile(lists, 0.99),
        "msgs_p50": statistics.median(messages),
        "msgs_p99": percentile(messages, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages per throughput run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="on/off pairs, order alternating")
    parser.add_argument("--reads", type=int, default=300, help="dashboard requests of each kind per run")
    args = parser.parse_args()
    results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for round_ in range(args.rounds):
        for encrypt in (True, False) if round_ % 2 == 0 else (False, True):
            figures = one_run(encrypt, args)
            results[encrypt].append(figures)
            label = "on " if encrypt else "off"
            print(
                f"round {round_ + 1} encryption {label}: accept {figures['rate']:.0f} msg/s"
                f" ({figures['cpu_ms']:.2f} ms server CPU/msg); conversations p50/p99"
                f" {figures['list_p50']:.1f}/{figures['list_p99']:.1f} ms;"
                f" messages p50/p99 {figures['msgs_p50']:.1f}/{figures['msgs_p99']:.1f} ms;"
                f" {figures['read_cpu_ms']:.2f} ms server CPU per read",
                flush=True,
            )

    def mean(encrypt: bool, name: str) -> float:
        return statistics.fmean(r[name] for r in results[encrypt])

    print()
    print("| | encryption on | encryption off | on vs off |")
    print("|---|---|---|---|")
    for name, label in (
        ("rate", "accepted msg/s"),
        ("cpu_ms", "server CPU ms/msg"),
        ("list_p50", "conversation list p50 ms"),
        ("list_p99", "conversation list p99 ms"),
        ("msgs_p50", "conversation messages p50 ms"),
        ("msgs_p99", "conversation messages p99 ms"),
        ("read_cpu_ms", "server CPU ms per dashboard read"),
    ):
        on, off = mean(True, name), mean(False, name)
        change = (on / off - 1) * 100 if off else 0.0
        print(f"| {label} | {on:.2f} | {off:.2f} | {change:+.1f} % |")
    slower = (1 - mean(True, "rate") / mean(False, "rate")) * 100
    read = (mean(True, "read_cpu_ms") / mean(False, "read_cpu_ms") - 1) * 100
    print(
        f"encryption_overhead: {slower:.1f} % slower accept, {read:+.1f} % server CPU per dashboard read"
        " (target ≤ 10 %)"
    )


if __name__ == "__main__":
    main()
