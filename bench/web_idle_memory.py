"""Benchmark: resident memory per idle, logged-in session: our web engine vs Baileys, same fake edge.

The fake edge runs in its own process (its memory counts for neither side) with 2N+2 pre-linked devices.
Ours: one warm-up session, then the baseline RSS, then N more WebEngine sessions in this process, all
logged in and idle; per session = (RSS after - baseline) / N. Baileys: the same in one node process
(makeWASocket per device, `--expose-gc`). Both measure after a garbage collection and a short settle.

    python bench/web_idle_memory.py [N=200]
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fake edge lives with the tests

from tests.fakes.whatsapp_edge.linked import link_device  # noqa: E402
from tests.interop.web_fleet import (  # noqa: E402
    EdgeProcess,
    baileys_fleet,
    connect_ours,
    node_missing,
    stop_ours,
)

TARGET = 0.2  # ours ≤ 1/5 of Baileys' per session


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def main(count: int) -> int:
    started = time.perf_counter()
    ours = [link_device(f"1555100{n:04d}") for n in range(count + 1)]
    theirs = [link_device(f"1555200{n:04d}") for n in range(count + 1)]
    async with EdgeProcess.start() as edge:
        await edge.provision(ours + theirs)
        warm = await connect_ours(ours[:1], edge)
        await asyncio.sleep(0.3)
        gc.collect()
        baseline = rss()
        sessions = await connect_ours(ours[1:], edge, concurrency=20)
        await asyncio.sleep(2)
        gc.collect()
        ours_per_session = (rss() - baseline) / count
        print(
            f"ours:    {count} sessions, baseline {baseline / 2**20:.1f} MiB, "
            f"+{ours_per_session / 1024:.1f} KiB/session"
        )
        stats = await edge.stats()
        print(
            f"edge:    {stats['live']} live, {stats['logins']} logins, violations {len(stats['violations'])}"
        )

        reason = node_missing()
        if reason is not None:
            print(f"baileys: skipped ({reason})")
            print(
                f"web_idle_memory: {ours_per_session / 1024:.1f} KiB/session ours "
                f"(target ≤ {TARGET} of Baileys)"
            )
            await stop_ours(warm + sessions)
            return 0
        figures = await baileys_fleet(theirs, edge)
        theirs_per_session = (figures["rss"] - figures["baselineRss"]) / figures["count"]
        print(
            f"baileys: {figures['count']} sessions, baseline {figures['baselineRss'] / 2**20:.1f} MiB, "
            f"+{theirs_per_session / 1024:.1f} KiB/session (heap {figures['heapUsed'] / 2**20:.1f} MiB)"
        )
        await stop_ours(warm + sessions)
    ratio = ours_per_session / theirs_per_session
    print(f"elapsed {time.perf_counter() - started:.0f} s")
    print(
        f"web_idle_memory: {ratio:.3f} ours/Baileys RSS per idle session "
        f"({ours_per_session / 1024:.0f} vs {theirs_per_session / 1024:.0f} KiB) (target ≤ {TARGET})"
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)))
