"""The connector's view of the settings tree: its section plus the process-wide values it needs."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping

from pydantic import Field

from connector.leases import LeaseTimes
from wagate.domain.health import HealthPolicy
from wagate.domain.pacing import Pacing
from wagate.settings import DEFAULT_SHARDS, ConnectorSettings, SandboxSettings, Settings, Shards

__all__ = ["ConnectorConfig", "SandboxSettings", "default_connector_id"]


class ConnectorConfig(ConnectorSettings):
    """`Settings.connector` with the shard count, the default pacing and the health policy, which the API
    shares."""

    shards: Shards = DEFAULT_SHARDS
    pacing: Pacing = Field(default_factory=Pacing, description="default pacing of every number")
    health: HealthPolicy = Field(default_factory=HealthPolicy, description="when risk slows a number down")

    @property
    def shard_lease(self) -> LeaseTimes:
        return LeaseTimes.for_ttl(self.shard_lease_seconds)

    @property
    def session_lease(self) -> LeaseTimes:
        return LeaseTimes.for_ttl(self.session_lease_seconds)

    @property
    def keeper_tick(self) -> float:
        """Often enough to notice a self-fencing deadline well within the margin."""
        margin = min(self.shard_lease.margin, self.session_lease.margin)
        return min(5.0, max(0.05, margin / 4))

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectorConfig:
        return cls.model_validate(
            {
                **dict(settings.connector),
                "shards": settings.shards,
                "pacing": settings.pacing,
                "health": settings.health,
            }
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConnectorConfig:
        """Raises wagate.settings.SettingsError naming the variable."""
        return cls.from_settings(Settings.from_env(env))


def default_connector_id() -> str:
    """host-pid-random: a restarted process must never pass for its predecessor (it would inherit its
    leases as "already ours" while the predecessor might, in theory, still be closing sockets)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
