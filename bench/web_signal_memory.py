"""Benchmark: memory per logged-in idle session holding Signal state for 50 contacts, ours vs Baileys.

The fake edge runs in its own process (its memory counts for neither side) with 50 contact numbers
(each only a phone, device 0, with real prekeys) and 2N+2 pre-linked devices. Each session logs in and
sends one text to every contact: a usync, a prekey bundle, an X3DH session and a first pkmsg per contact
phone and for its own phone (a DeviceSentMessage), as in real use. Then it idles. Ours: one warm-up
session (it also writes to the 50), the baseline RSS, then N more WebEngine sessions in this process;
per session = (RSS after - baseline) / N. Baileys: the same in one node process (makeWASocket per
device, `--expose-gc`). Both keep their keys in process memory (our InMemoryKeyStore, Baileys' plain
object store) and are measured after a garbage collection and a settle. In production our keys live in
the KeyStore (DynamoDB/SQLite), outside the process: the figure here is an upper bound for us.

    python bench/web_signal_memory.py [N=40] [CONTACTS=50]
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
    OurSession,
    baileys_fleet,
    connect_ours,
    node_missing,
    stop_ours,
)

TARGET = 0.2  # ours ≤ 1/5 of Baileys' per session


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def write_to_all(sessions: list[OurSession], contacts: list[str], concurrency: int = 10) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int, session: OurSession) -> None:
        async with gate:
            for number, phone in enumerate(contacts):
                await session.engine.send_text(f"+{phone}", "hello", f"bench_{index}_{number}")

    await asyncio.gather(*(one(index, session) for index, session in enumerate(sessions)))


async def main(count: int, contact_count: int) -> int:
    started = time.perf_counter()
    contacts = [f"1555900{n:04d}" for n in range(contact_count)]
    ours = [link_device(f"1555500{n:04d}") for n in range(count + 1)]
    theirs = [link_device(f"1555600{n:04d}") for n in range(count + 1)]
    async with EdgeProcess.start() as edge:
        await edge.accounts(contacts)
        await edge.provision(ours + theirs)
        warm = await connect_ours(ours[:1], edge)
        await write_to_all(warm, contacts)
        await asyncio.sleep(0.3)
        gc.collect()
        baseline = rss()
        sessions = await connect_ours(ours[1:], edge, concurrency=20)
        await write_to_all(sessions, contacts)
        await asyncio.sleep(2)
        gc.collect()
        ours_per_session = (rss() - baseline) / count
        print(
            f"ours:    {count} sessions × {contact_count} contacts, baseline {baseline / 2**20:.1f} MiB, "
            f"+{ours_per_session / 1024:.1f} KiB/session"
        )
        stats = await edge.stats()
        print(
            f"edge:    {stats['messages']} messages, phone decrypt errors {stats['phone_errors']}, "
            f"violations {len(stats['violations'])}"
        )
        await stop_ours(warm + sessions)

        reason = node_missing()
        if reason is not None:
            print(f"baileys: skipped ({reason})")
            target = f"target ≤ {TARGET} of Baileys"
            print(f"web_signal_memory: {ours_per_session / 1024:.1f} KiB/session ours ({target})")
            return 0
        jids = [f"{phone}@s.whatsapp.net" for phone in contacts]
        figures = await baileys_fleet(theirs, edge, contacts=jids)
        theirs_per_session = (figures["rss"] - figures["baselineRss"]) / figures["count"]
        print(
            f"baileys: {figures['count']} sessions × {contact_count} contacts, baseline "
            f"{figures['baselineRss'] / 2**20:.1f} MiB, +{theirs_per_session / 1024:.1f} KiB/session "
            f"(heap {figures['heapUsed'] / 2**20:.1f} MiB)"
        )
        stats = await edge.stats()
        print(f"edge:    {stats['messages']} messages in all, violations {len(stats['violations'])}")
    ratio = ours_per_session / theirs_per_session
    print(f"elapsed {time.perf_counter() - started:.0f} s")
    print(
        f"web_signal_memory: {ratio:.3f} ours/Baileys RSS per idle session with {contact_count} contacts "
        f"({ours_per_session / 1024:.0f} vs {theirs_per_session / 1024:.0f} KiB) (target ≤ {TARGET})"
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:3]]
    sys.exit(asyncio.run(main(*(arguments + [40, 50][len(arguments) :]))))
