"""Which engine serves which provider: the one place the connector chooses an engine class."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from connector.config import SandboxSettings
from connector.engines.base import Emit, Engine, KeyStore, SessionInfo, Unsupported
from connector.engines.sandbox import SandboxEngine
from connector.engines.sandbox_network import SandboxNetwork
from wagate.domain.sessions import Provider
from wagate.ports import Clock

EngineFactory = Callable[[SessionInfo, KeyStore, Emit], Engine]


class EngineCatalog:
    def __init__(
        self,
        factories: Mapping[str, EngineFactory],
        *,
        closers: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        self._factories = dict(factories)
        self._closers = list(closers)

    def serves(self, provider: str) -> bool:
        return provider in self._factories

    def build(self, session: SessionInfo, keys: KeyStore, emit: Emit) -> Engine:
        """Raises Unsupported for a provider no engine here serves."""
        factory = self._factories.get(session.provider)
        if factory is None:
            raise Unsupported(f"this connector has no engine for provider {session.provider!r}")
        return factory(session, keys, emit)

    async def close(self) -> None:
        for close in self._closers:
            await close()


def default_catalog(sandbox: SandboxSettings, clock: Clock, *, journal: Path | None) -> EngineCatalog:
    """The engines this build ships: sandbox (the web engine joins when it lands; `cloud` needs no
    socket, so the connector does not run it)."""
    network = SandboxNetwork(journal, poll_seconds=sandbox.journal_poll_seconds)

    def sandbox_engine(session: SessionInfo, keys: KeyStore, emit: Emit) -> Engine:
        return SandboxEngine(session, keys, emit, network=network, settings=sandbox, clock=clock)

    return EngineCatalog({Provider.SANDBOX.value: sandbox_engine}, closers=[network.close])
