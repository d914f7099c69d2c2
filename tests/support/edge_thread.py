"""The fake WhatsApp edge on its own event loop in a thread, so `wagate serve` tests can stay synchronous."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import TypeVar

from tests.fakes.whatsapp_edge.server import FakeEdge

T = TypeVar("T")


class EdgeThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.edge: FakeEdge = self.run(self._start())

    async def _start(self) -> FakeEdge:
        edge = FakeEdge()
        await edge.__aenter__()
        return edge

    @property
    def env(self) -> dict[str, str]:
        """What `wagate serve` needs to point its web engine at this edge."""
        return {
            "WAGATE_WA_URL": self.edge.url,
            "WAGATE_WA_NOISE_ROOT": self.edge.root_public.hex(),
            "WAGATE_WA_CA_FILE": self.edge.ca_file,
            "WAGATE_WA_VERSION_URL": self.edge.version_url,
        }

    def run(self, coroutine: Awaitable[T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        self.run(self.edge.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
