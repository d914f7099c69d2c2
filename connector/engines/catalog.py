"""Which engine serves which provider: the one place the connector chooses an engine class."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from connector.engines.base import Engine, SessionInfo
from connector.engines.errors import Unsupported
from connector.engines.events import Emit
from connector.engines.keys import KeyStore
from connector.engines.sandbox import SandboxEngine
from connector.engines.sandbox_network import SandboxNetwork
from wagate.domain.sessions import Provider
from wagate.ports import Clock
from wagate.settings import SandboxSettings, WebSection

EngineFactory = Callable[[SessionInfo, KeyStore, Emit], Engine]
log = logging.getLogger("wagate.connector.catalog")


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


def default_catalog(
    sandbox: SandboxSettings, clock: Clock, *, journal: Path | None, web: WebSection | None = None
) -> EngineCatalog:
    """The engines this build ships: sandbox and web (`cloud` needs no socket: a Lambda sends for it)."""
    network = SandboxNetwork(journal, poll_seconds=sandbox.journal_poll_seconds)

    def sandbox_engine(session: SessionInfo, keys: KeyStore, emit: Emit) -> Engine:
        return SandboxEngine(session, keys, emit, network=network, settings=sandbox, clock=clock)

    factories: dict[str, EngineFactory] = {Provider.SANDBOX.value: sandbox_engine}
    web_engine = _web_engine_factory(web or WebSection())
    if web_engine is not None:
        factories[Provider.WEB.value] = web_engine
    return EngineCatalog(factories, closers=[network.close])


def web_engine_missing() -> str | None:
    """Why this build cannot run the web engine (its generated protobufs are missing), or None."""
    try:
        import connector.engines.web.engine  # noqa: F401 - importing it is the check
    except ImportError as exc:
        return str(exc)
    return None


def _web_engine_factory(section: WebSection) -> EngineFactory | None:
    """The web engine needs WhatsApp's generated protobufs (a build step: `make node`). Without them the
    connector still runs sandbox sessions, and web sessions fail with `no_engine` and this reason logged."""
    try:
        from connector.engines.web.engine import web_engine_factory
        from connector.engines.web.settings import WebSettings
    except ImportError as exc:
        log.warning("the web engine is unavailable: %s", exc)
        return None
    factory: EngineFactory = web_engine_factory(WebSettings.from_section(section))
    return factory
