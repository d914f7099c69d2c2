"""Benchmark: CPU time per login (WebSocket + Noise handshake + ClientPayload + success handling up to
"connected"), our web engine vs Baileys, against the same fake edge in its own process.

Both log N pre-linked devices in one after the other, after one warm-up login, and report the CPU time
of their own process over those N logins (`time.process_time()` here, `process.cpuUsage()` in node):
credentials loaded, handshake with certificate checks, login, the prekey count query, going active
(Baileys also runs its key-bundle digest and LID bookkeeping: what each client really does on login).

    python bench/web_login_cpu.py [N=100]
"""

from __future__ import annotations

import asyncio
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


async def main(count: int) -> int:
    ours = [link_device(f"1555300{n:04d}") for n in range(count + 1)]
    theirs = [link_device(f"1555400{n:04d}") for n in range(count + 1)]
    async with EdgeProcess.start() as edge:
        await edge.provision(ours + theirs)
        warm = await connect_ours(ours[:1], edge)
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        sessions = await connect_ours(ours[1:], edge)
        ours_ms = (time.process_time() - cpu_before) * 1000 / count
        wall_ms = (time.perf_counter() - wall_before) * 1000 / count
        print(f"ours:    {count} logins, {ours_ms:.2f} ms CPU each ({wall_ms:.1f} ms wall, edge included)")
        await stop_ours(warm + sessions)

        reason = node_missing()
        if reason is not None:
            print(f"baileys: skipped ({reason})")
            print(f"web_login_cpu: {ours_ms:.2f} ms CPU per login ours (target: well below Baileys)")
            return 0
        figures = await baileys_fleet(theirs, edge, settle_ms=200)
        theirs_ms = figures["loginCpuMs"] / figures["count"]
        print(f"baileys: {figures['count']} logins, {theirs_ms:.2f} ms CPU each")
    ratio = ours_ms / theirs_ms
    print(
        f"web_login_cpu: {ratio:.2f} ours/Baileys CPU per login "
        f"({ours_ms:.2f} vs {theirs_ms:.2f} ms) (target < 1)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)))
