"""Running our web engine against the fake edge in a test: settings, keys, events, exits, pairing.

def test_something() -> None:
    with_edge(body)                       # asyncio.run with a FakeEdge on 127.0.0.1

async def body(h: Harness) -> None:
    jid = await h.pair()                  # QR scanned by a fake phone, 515, credentials stored
    running = h.start()                   # a fresh engine on the same keys ("a process restart")
    await running.wait(Connected)
    ...
    assert (await running.stop()).reason is ExitReason.STOPPED

    alice = await h.linked("15550001111", "ses_a")   # paired and connected: Running + its jid
    got = await bob.running.wait_where(IncomingMessage, lambda m: m.text == "hi")
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from connector.engines.base import SessionInfo
from connector.engines.events import Connected, EngineEvent, Paired, QrCode
from connector.engines.exits import Exit, ExitReason
from connector.engines.memory_keys import Backing, InMemoryKeyStore
from connector.engines.web.binary.jid import Jid
from connector.engines.web.engine import WebEngine
from connector.engines.web.settings import WebSettings
from connector.engines.web.version import VersionSource
from tests.fakes.whatsapp_edge import EdgeConfig, FakeEdge, FakePhone

E = TypeVar("E")
TIMEOUT = 15.0


@dataclass
class Running:
    engine: WebEngine
    task: asyncio.Task[Exit]
    events: list[EngineEvent] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def emit(self, event: EngineEvent) -> None:
        self.events.append(event)
        self._arrived.set()

    async def wait(self, kind: type[E], count: int = 1, timeout: float = TIMEOUT) -> E:
        """The `count`-th event of this type (waiting for it); fails if the engine exits first."""
        async with asyncio.timeout(timeout):
            while True:
                matching = [event for event in self.events if isinstance(event, kind)]
                if len(matching) >= count:
                    return matching[count - 1]
                if self.task.done():
                    raise AssertionError(f"the engine exited ({self.task.result()}) before {kind.__name__}")
                self._arrived.clear()
                waiter = asyncio.ensure_future(self._arrived.wait())
                await asyncio.wait({waiter, self.task}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()

    async def wait_where(self, kind: type[E], check: Callable[[E], bool], timeout: float = TIMEOUT) -> E:
        """The first event of this type that passes `check` (waiting for it)."""
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if isinstance(event, kind) and check(event):
                        return event
                if self.task.done():
                    raise AssertionError(f"the engine exited ({self.task.result()}) before {kind.__name__}")
                self._arrived.clear()
                waiter = asyncio.ensure_future(self._arrived.wait())
                await asyncio.wait({waiter, self.task}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]

    async def exit(self, timeout: float = TIMEOUT) -> Exit:
        return await asyncio.wait_for(asyncio.shield(self.task), timeout)

    async def stop(self) -> Exit:
        await self.engine.stop()
        return await self.exit()


@dataclass
class Harness:
    edge: FakeEdge
    settings: WebSettings
    backing: Backing = field(default_factory=dict)
    versions: VersionSource = field(init=False)  # shared by the engines, as in one connector process

    def __post_init__(self) -> None:
        self.versions = self.settings.version_source()

    def keys(self, session_id: str = "ses_web") -> InMemoryKeyStore:
        """The session's keys; a new store over the same backing is what a restarted process sees."""
        return InMemoryKeyStore("ten_web", session_id, backing=self.backing)

    def start(
        self, session_id: str = "ses_web", *, session: SessionInfo | None = None, **overrides: Any
    ) -> Running:
        settings = self.settings.model_copy(update=overrides) if overrides else self.settings
        holder: list[Running] = []

        async def emit(event: EngineEvent) -> None:
            await holder[0].emit(event)

        versions = settings.version_source() if overrides else self.versions
        engine = WebEngine(
            session or SessionInfo("ten_web", session_id, "web"),
            self.keys(session_id),
            emit,
            settings=settings,
            versions=versions,
        )
        running = Running(engine, asyncio.get_running_loop().create_task(engine.run()))
        holder.append(running)
        return running

    async def pair(self, phone: str = "15550001111", session_id: str = "ses_web") -> Jid:
        """Register, let the fake phone scan the first QR code, and see the engine ask for a restart."""
        running = self.start(session_id)
        qr = await running.wait(QrCode)
        jid = await FakePhone(self.edge, phone).scan(qr.qr)
        paired = await running.wait(Paired)
        assert paired.jid == str(jid.to_account()) and paired.phone == f"+{phone}"
        outcome = await running.exit()
        assert outcome.reason is ExitReason.RESTART_REQUIRED, outcome
        return jid

    async def connect(self, session_id: str = "ses_web", **overrides: Any) -> Running:
        running = self.start(session_id, **overrides)
        await running.wait(Connected)
        return running

    async def linked(self, phone: str, session_id: str, **overrides: Any) -> Linked:
        """A device of `phone` paired by QR and logged in (prekeys uploaded: others can write to it)."""
        jid = await self.pair(phone, session_id)
        running = await self.connect(session_id, **overrides)
        await self.edge.wait_for("prekeys", jid=jid)
        return Linked(running, jid, phone)


@dataclass
class Linked:
    running: Running
    jid: Jid  # the device
    phone: str  # digits

    @property
    def engine(self) -> WebEngine:
        return self.running.engine

    @property
    def e164(self) -> str:
        return f"+{self.phone}"


def with_edge(
    body: Callable[[Harness], Awaitable[None]], config: EdgeConfig | None = None, **overrides: Any
) -> None:
    """Run `body` against a fresh fake edge; the edge must have seen no protocol violation and no request
    it did not understand."""

    async def main() -> None:
        async with FakeEdge(config or EdgeConfig()) as edge:
            settings = WebSettings(
                url=edge.url,
                ca_file=edge.ca_file,
                wa_version_url=edge.version_url,
                noise_root_key=edge.root_public,
                proxy="none",
                iq_timeout_seconds=5,
                connect_timeout_seconds=5,
                **overrides,
            )
            await body(Harness(edge, settings))
            assert edge.violations == [], edge.violations
            assert edge.unhandled == [], edge.unhandled  # the engine sent nothing the edge does not know

    asyncio.run(main())
