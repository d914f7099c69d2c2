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

  (c) in-process (`--in-process`): the same two dashboard reads through the authorizer and the API
      handler, both settings built side by side in one process and interleaved in 25 rounds, so a busy
      shared machine slows both alike → CPU ms per read (min, p25, median) on vs off.

Run: `.venv/bin/python bench/encryption_overhead.py [--messages 2000] [--rounds 2] [--reads 300]`
or `.venv/bin/python bench/encryption_overhead.py --in-process`
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


def in_process_world(encrypt: bool, tmp: Path) -> tuple[object, object, str, str]:
    """A tenant with 60 conversations and one of 61 messages, read through the handlers in this process."""
    import dataclasses

    from local.template import load_template
    from tests.fakes.push import RecordingPush
    from tests.functions.test_conversations_api import incoming
    from tests.functions.test_sessions_api import deliver, event, hold_lease
    from tests.support.aws_template import TEMPLATE
    from tests.support.lambdas import ApiCaller, load_function
    from wagate import wiring
    from wagate.domain.conversations import conversation_id
    from wagate.domain.events import EventType
    from wagate.services import tenants
    from wagate.settings import Settings

    settings = Settings(backend="local", data_dir=tmp / ("on" if encrypt else "off"), encrypt_content=encrypt)
    deps = dataclasses.replace(
        wiring.build(settings, load_template(TEMPLATE).queue_definitions()), push=RecordingPush()
    )
    wiring.install(deps)
    functions = {name: load_function(name) for name in ("api", "authorizer", "events")}
    call = ApiCaller(functions["api"], functions["authorizer"])
    key = tenants.create_tenant(deps.table, deps.clock, "Bench")[1]
    session = call("POST", "/v1/sessions", key, body={"name": "Desk", "provider": "sandbox"})[1]
    hold_lease(session)
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS))
    for n in range(60):
        deliver(functions, incoming(session, f"P{n}", f"hola numero {n} " * 5, phone=f"+3460011{n:04d}"))
    for n in range(60):
        deliver(functions, incoming(session, f"Q{n}", f"otra vez {n} " * 5, phone="+34600110000"))
    return deps, call, key, conversation_id(session["id"], "+34600110000")


def in_process() -> None:
    from wagate import wiring

    with tempfile.TemporaryDirectory(prefix="wagate-encbench-") as tmp:
        worlds = {encrypt: in_process_world(encrypt, Path(tmp)) for encrypt in (True, False)}
        costs: dict[bool, list[float]] = {True: [], False: []}
        for round_ in range(25):
            for encrypt in (True, False) if round_ % 2 else (False, True):
                deps, call, key, conv = worlds[encrypt]
                wiring.install(deps)  # type: ignore[arg-type]
                started = time.process_time()
                for _ in range(10):
                    call("GET", "/v1/conversations", key, query="limit=50")  # type: ignore[operator]
                    call("GET", f"/v1/conversations/{conv}/messages", key, query="limit=50")  # type: ignore[operator]
                costs[encrypt].append((time.process_time() - started) * 1000 / 20)
    on, off = sorted(costs[True]), sorted(costs[False])
    for label, index in (("min", 0), ("p25", 6), ("median", 12)):
        change = (on[index] / off[index] - 1) * 100
        print(f"{label}: {on[index]:.3f} vs {off[index]:.3f} ms CPU per read ({change:+.1f} %)")
    print(
        f"encryption_overhead_in_process: {(on[12] / off[12] - 1) * 100:+.1f} % CPU per dashboard read"
        " (target ≤ 10 %)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-process", action="store_true", help="(c) only: the handlers in this process")
    parser.add_argument("--messages", type=int, default=2000, help="messages per throughput run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="on/off pairs, order alternating")
    parser.add_argument("--reads", type=int, default=300, help="dashboard requests of each kind per run")
    args = parser.parse_args()
    if args.in_process:
        in_process()
        return
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
