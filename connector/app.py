"""The connector as one object the local runner or `python -m connector` starts and stops."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from connector.config import ConnectorConfig, default_connector_id
from connector.engines.catalog import EngineCatalog, default_catalog
from connector.liveness import BEATS_PER_MAX_AGE, Heartbeat
from connector.metrics import SessionGauge
from connector.session_runner import SessionState
from connector.supervisor import Supervisor
from wagate.compose import services
from wagate.ports import Clock, Crypto, Queues, Table
from wagate.services.pacing_settings import PacingSettings
from wagate.settings import Settings
from wagate.wiring import Deps

log = logging.getLogger("wagate.connector")


class ConnectorDeps(Protocol):
    """The adapters the connector uses (`wagate.wiring.Deps` has them all)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def table(self) -> Table: ...

    @property
    def queues(self) -> Queues: ...

    @property
    def crypto(self) -> Crypto: ...

    @property
    def clock(self) -> Clock: ...


class Connector:
    """A `local.runner.Service`: `serve(services=[Connector.from_deps])` runs it inside
    `wagate serve`; `python -m connector` runs it alone."""

    name = "connector"

    def __init__(
        self,
        deps: ConnectorDeps,
        config: ConnectorConfig | None = None,
        *,
        owner_id: str | None = None,
        engines: EngineCatalog | None = None,
        pacing: PacingSettings | None = None,
    ) -> None:
        self.config = config if config is not None else ConnectorConfig.from_settings(deps.settings)
        self.owner_id = owner_id or self.config.connector_id or default_connector_id()
        self.engines = engines or default_catalog(
            self.config.sandbox,
            deps.clock,
            journal=sandbox_journal(self.config, deps.settings),
            web=deps.settings.web,
        )
        self.supervisor = Supervisor(
            table=deps.table,
            queues=deps.queues,
            crypto=deps.crypto,
            clock=deps.clock,
            config=self.config,
            owner=self.owner_id,
            engines=self.engines,
            # The pacing settings service is the API's too (compose builds it); alone, it sits on our table.
            pacing=pacing or PacingSettings.on_table(deps.table, self.config.pacing),
            media=getattr(deps, "media_store", None),
        )
        liveness = self.config.liveness_file
        max_age = self.config.liveness_max_age_seconds
        self.heartbeat = Heartbeat(liveness, max_age / BEATS_PER_MAX_AGE) if liveness is not None else None
        every = self.config.metrics_seconds
        self.gauge = SessionGauge(self.running_sessions, every) if every > 0 else None

    @classmethod
    def from_deps(cls, deps: ConnectorDeps) -> Connector:
        return cls(deps, pacing=services(deps).pacing if isinstance(deps, Deps) else None)

    def running_sessions(self) -> int:
        """Sessions this connector runs now (stopped ones excluded)."""
        states = self.supervisor.session_states().values()
        return sum(1 for state in states if state is not SessionState.STOPPED)

    async def start(self) -> None:
        log.info("connector %s starting (%d shards)", self.owner_id, self.config.shards)
        await self.supervisor.start()
        if self.heartbeat is not None:
            self.heartbeat.start()
        if self.gauge is not None:
            self.gauge.start()

    async def stop(self) -> None:
        """Close every socket cleanly and release every lease."""
        if self.gauge is not None:
            await self.gauge.stop()
        await self.supervisor.stop()
        await self.engines.close()
        if self.heartbeat is not None:
            await self.heartbeat.stop()
        log.info("connector %s stopped", self.owner_id)


def sandbox_journal(config: ConnectorConfig, settings: Settings) -> Path | None:
    """Where the sandbox network journals its sockets: only on one machine (local), unless configured."""
    if not config.sandbox.journal_enabled:
        return None
    if config.sandbox.journal is not None:
        return config.sandbox.journal
    if settings.backend == "local":
        return settings.data_dir / "sandbox" / "sockets.jsonl"
    return None
