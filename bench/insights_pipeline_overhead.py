"""What counting insights adds to the whole send pipeline: `wagate serve` with and without it, side by side.

Each round starts `wagate serve` twice (fresh data directories, connector in-process, pacing off, 4 paired
sandbox sessions; `WAGATE_INSIGHTS=true` then `false`, or the other way round in odd rounds) and sends
the same messages through the real HTTP API (16 concurrent clients, as bench/pipeline.py's (a), text
only). Each message goes accept → command queue → the connector's send → events queue → events consumer
(sent, then the sandbox's delivered and read receipts) → dashboard push. Measured: the server process's
CPU time (Linux /proc, user + system) from the first request until every message is read on the
dashboard socket, plus FOLD_WAIT seconds in both runs, so the insights run's folder (every 5 s) has folded
what they counted and the run without pays the same idle time. The figure is the median over the rounds
of the with/without ratio of CPU time per message (neighbours in time: the machine's drift cancels).
Run: `.venv/bin/python bench/insights_pipeline_overhead.py [--messages 1500] [--rounds 5]`
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from pipeline import ENV, LeanClient, accepted_throughput, pair_sessions, server_cpu_seconds, watching  # noqa: E402

from tests.support.serve import Server  # noqa: E402

TARGET = 10.0  # percent
FOLD_WAIT = 6.0  # seconds: longer than `wagate serve`'s fold interval (WAGATE_INSIGHTS_FOLD_SECONDS = 5)


async def one_pass(server: Server, key: str, sessions: list[str], messages: int) -> float:
    """Server CPU seconds per message, from the first request until all are read (+ FOLD_WAIT)."""
    assert server.process is not None
    watch, listener = await watching(server, key)
    client = LeanClient(server.url, key, connections=32)
    try:
        before = server_cpu_seconds(server.process.pid)
        _, ids, statuses, _ = await accepted_throughput(client, sessions, messages, 16)
        assert statuses == {202: messages}, statuses
        await watch.wait_for(set(ids), timeout=300, read=True)
        await asyncio.sleep(FOLD_WAIT)
        used = server_cpu_seconds(server.process.pid) - before
    finally:
        await client.close()
        listener.cancel()
    return used / messages


def one_run(messages: int, insights: bool) -> tuple[float, dict[str, int]]:
    """(CPU seconds per message, the insights totals the server reports afterwards)."""
    env = {**ENV, "WAGATE_INSIGHTS": "true" if insights else "false"}
    with (
        tempfile.TemporaryDirectory(prefix="wagate-insights-") as tmp,
        Server(Path(tmp) / "data", env=env) as server,
    ):
        key = server.create_tenant("bench")
        sessions = pair_sessions(server, key)
        per_message = asyncio.run(one_pass(server, key, sessions, messages))
        with server.client(key) as http:
            totals = http.get("/v1/insights").json()["totals"]
    return per_message, {name: totals[name] for name in ("sent", "delivered", "read")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cpu: dict[bool, list[float]] = {True: [], False: []}
    for n in range(args.rounds):
        for insights in (True, False) if n % 2 == 0 else (False, True):
            started = time.perf_counter()
            per_message, totals = one_run(args.messages, insights)
            cpu[insights].append(per_message)
            expected = args.messages if insights else 0  # what was counted: all of them, or nothing
            assert totals == {"sent": expected, "delivered": expected, "read": expected}, totals
            state = "on " if insights else "off"
            print(
                f"round {n + 1} insights {state}: {per_message * 1000:.2f} ms server CPU per message;"
                f" counted {totals['sent']:,} ({time.perf_counter() - started:.0f} s)"
            )
    ratios = sorted(on / off for on, off in zip(cpu[True], cpu[False], strict=True))
    overhead = (statistics.median(ratios) - 1) * 100
    print(
        f"server CPU per message: off {statistics.median(cpu[False]) * 1000:.2f} ms, on"
        f" {statistics.median(cpu[True]) * 1000:.2f} ms (medians); per round "
        + ", ".join(f"{(r - 1) * 100:+.1f} %" for r in ratios)
    )
    print(f"insights_pipeline_overhead: {overhead:.1f} % server CPU per message (target ≤ {TARGET:.0f} %)")


if __name__ == "__main__":
    main()
