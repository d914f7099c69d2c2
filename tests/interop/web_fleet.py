"""Fleets of pre-linked clients against a fake edge in its own process, for the web benchmarks.

async with EdgeProcess.start() as edge:                       # python -m tests.fakes.whatsapp_edge
    ours = [link_device(...) for ...]; await edge.provision(ours)
    engines = await connect_ours(ours, edge)                  # WebEngine sessions, all Connected
    figures = await baileys_fleet(devices, edge)              # one node process, makeWASocket each
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.engines.base import SessionInfo
from connector.engines.events import Connected, EngineEvent
from connector.engines.exits import Exit
from connector.engines.web.engine import WebEngine
from connector.engines.web.settings import WebSettings
from connector.engines.web.version import DEFAULT_WA_VERSION
from tests.fakes.whatsapp_edge.linked import LinkedDevice
from tests.interop.node_process import JsonLinesProcess, node_trust

REPO = Path(__file__).resolve().parents[2]
INTEROP = REPO / "tests" / "interop"


@dataclass
class EdgeProcess:
    process: JsonLinesProcess
    url: str
    root: bytes
    ca_file: str

    @classmethod
    @asynccontextmanager
    async def start(cls) -> AsyncIterator[EdgeProcess]:
        process = await JsonLinesProcess.start(
            [sys.executable, "-m", "tests.fakes.whatsapp_edge"],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            hello = await process.read()
            yield cls(process, hello["url"], bytes.fromhex(hello["root"]), hello["ca_file"])
        finally:
            await process.close({"end": True})

    async def provision(self, devices: Sequence[LinkedDevice]) -> None:
        for start in range(
            0, len(devices), 1000
        ):  # one line each: 10,000 records outgrow the edge's line limit
            batch = devices[start : start + 1000]
            await self.process.send({"provision": [device.edge_record for device in batch]})
            await self.process.read_until("provisioned", timeout=600)  # slow on a loaded box

    async def accounts(self, phones: Sequence[str]) -> None:
        """Numbers that exist on the (fake) WhatsApp with only their phone: contacts to write to."""
        await self.process.send({"accounts": list(phones)})
        await self.process.read_until("accounts", timeout=60)

    async def stats(self) -> dict[str, Any]:
        await self.process.send({"stats": True})
        stats, _ = await self.process.read_until("live")
        return stats

    def settings(self) -> WebSettings:
        return WebSettings(
            url=self.url,
            ca_file=self.ca_file,
            wa_version_url=self.url.removesuffix("/ws/chat").replace("wss://", "https://", 1) + "/sw.js",
            noise_root_key=self.root,
            proxy="none",
        )


@dataclass
class OurSession:
    engine: WebEngine
    task: asyncio.Task[Exit]


async def connect_ours(
    devices: Sequence[LinkedDevice], edge: EdgeProcess, *, concurrency: int = 1
) -> list[OurSession]:
    """One WebEngine per device, each awaited until Connected (`concurrency` logins at a time)."""
    settings = edge.settings()
    versions = settings.version_source()  # one per process, as web_engine_factory does
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int, device: LinkedDevice) -> OurSession:
        async with gate:
            connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            async def emit(event: EngineEvent) -> None:
                if isinstance(event, Connected) and not connected.done():
                    connected.set_result(None)

            session_id = f"ses_{index}"
            keys = await device.keys(session_id)
            info = SessionInfo("ten_bench", session_id, "web")
            engine = WebEngine(info, keys, emit, settings=settings, versions=versions)
            task = asyncio.get_running_loop().create_task(engine.run())
            waiting: set[asyncio.Future[Any]] = {connected, task}
            done, _ = await asyncio.wait(waiting, timeout=60, return_when=asyncio.FIRST_COMPLETED)
            if connected not in done:
                raise RuntimeError(
                    f"session {index} did not connect: {task.result() if task.done() else 'timeout'}"
                )
            return OurSession(engine, task)

    return list(await asyncio.gather(*(one(index, device) for index, device in enumerate(devices))))


async def stop_ours(sessions: Sequence[OurSession]) -> None:
    for session in sessions:
        await session.engine.stop()
    await asyncio.gather(*(session.task for session in sessions))


def node_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (INTEROP / "node_modules" / "@whiskeysockets" / "baileys" / "package.json").is_file():
        return "Baileys is not installed (npm ci in tests/interop)"
    return None


async def baileys_fleet(
    devices: Sequence[LinkedDevice], edge: EdgeProcess, *, settle_ms: int = 2000, contacts: Sequence[str] = ()
) -> dict[str, Any]:
    """Log every device in with Baileys (the first one is a warm-up) in one node process, each sending a
    text to every jid in `contacts`; its figures."""
    node = await JsonLinesProcess.start(
        ["node", "--expose-gc", str(INTEROP / "baileys_edge_client.mjs")],
        cwd=INTEROP,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "BAILEYS_LOG": "silent",
            **node_trust(edge.ca_file),
        },
    )
    try:
        await node.send(
            {
                "url": edge.url,
                "root": edge.root.hex(),
                "version": list(DEFAULT_WA_VERSION),
                "mode": "fleet",
                "creds": [device.baileys_record() for device in devices],
                "settleMs": settle_ms,
                "contacts": list(contacts),
            }
        )
        ready, before = await node.read_until("ready", timeout=600)
        failed = [message for message in before if "failed" in message]
        if failed:
            raise RuntimeError(f"Baileys sessions failed to log in: {failed[:3]}")
        figures: dict[str, Any] = ready["ready"]
        return figures
    finally:
        await node.close({"end": True})
