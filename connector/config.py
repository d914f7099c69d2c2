"""The connector's settings, read from the environment once and validated at start."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from connector.leases import LeaseTimes
from connector.shards import DEFAULT_SHARDS
from wagate.domain.pacing import Pacing


class SandboxSettings(BaseModel):
    """Timings of the simulated network (seconds). Tests shrink them; demos keep WhatsApp-like ones."""

    model_config = ConfigDict(frozen=True)

    qr_first_seconds: float = Field(60.0, gt=0, description="WAGATE_SANDBOX_QR_FIRST_SECONDS")
    qr_next_seconds: float = Field(20.0, gt=0, description="WAGATE_SANDBOX_QR_NEXT_SECONDS")
    qr_limit: int = Field(6, ge=0, description="WAGATE_SANDBOX_QR_LIMIT: codes before giving up; 0 = never")
    delivered_seconds: float = Field(1.0, ge=0, description="WAGATE_SANDBOX_DELIVERED_SECONDS")
    read_seconds: float = Field(3.0, ge=0, description="WAGATE_SANDBOX_READ_SECONDS (after delivery)")
    reply_seconds: float = Field(2.0, ge=0, description="WAGATE_SANDBOX_REPLY_SECONDS (after read)")
    auto_reply: bool = Field(True, description="WAGATE_SANDBOX_AUTO_REPLY: the first contact answers")
    journal: Path | None = Field(
        None, description="WAGATE_SANDBOX_JOURNAL: the socket journal file; default {data dir}/sandbox"
    )
    journal_enabled: bool = Field(True, description="WAGATE_SANDBOX_JOURNAL=off turns the journal off")
    journal_poll_seconds: float = Field(0.5, gt=0, description="how often other processes are watched")


class ConnectorConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    shards: int = Field(DEFAULT_SHARDS, ge=1, le=64, description="WAGATE_SHARDS")
    connector_id: str | None = Field(
        None, description="WAGATE_CONNECTOR_ID: unique per live process; default host-pid-random"
    )
    shard_lease_seconds: float = Field(30.0, gt=0, description="WAGATE_SHARD_LEASE_SECONDS")
    session_lease_seconds: float = Field(120.0, gt=0, description="WAGATE_SESSION_LEASE_SECONDS")
    discovery_seconds: float = Field(15.0, gt=0, description="WAGATE_DISCOVERY_SECONDS")
    command_wait_seconds: float = Field(5.0, ge=0, le=20, description="WAGATE_COMMAND_WAIT_SECONDS")
    command_retry_seconds: int = Field(3, ge=1, description="WAGATE_COMMAND_RETRY_SECONDS")
    command_retry_limit: int = Field(10, ge=1, description="WAGATE_COMMAND_RETRY_LIMIT (receives)")
    backoff_base_seconds: float = Field(1.0, gt=0, description="WAGATE_BACKOFF_BASE_SECONDS")
    backoff_cap_seconds: float = Field(300.0, gt=0, description="WAGATE_BACKOFF_CAP_SECONDS")
    stop_timeout_seconds: float = Field(10.0, gt=0, description="WAGATE_STOP_TIMEOUT_SECONDS")
    command_visibility_seconds: int = Field(
        60, ge=2, le=43_200, description="WAGATE_COMMAND_VISIBILITY_SECONDS: held commands are renewed"
    )
    command_max_in_flight: int = Field(
        2000, ge=10, le=20_000, description="WAGATE_COMMAND_MAX_IN_FLIGHT: commands held, per shard"
    )
    send_tries: int = Field(3, ge=1, le=20, description="WAGATE_SEND_TRIES: tries of a transient failure")
    send_retry_base_seconds: float = Field(2.0, ge=0, description="WAGATE_SEND_RETRY_BASE_SECONDS")
    send_retry_cap_seconds: float = Field(60.0, ge=0, description="WAGATE_SEND_RETRY_CAP_SECONDS")
    send_timeout_seconds: float = Field(30.0, gt=0, description="WAGATE_SEND_TIMEOUT_SECONDS: one try")
    send_connect_wait_seconds: float = Field(
        60.0, ge=0, description="WAGATE_SEND_CONNECT_WAIT_SECONDS: a send waits this long for its session"
    )
    pacing: Pacing = Field(default_factory=Pacing, description="WAGATE_PACING, WAGATE_PACING_*")
    pacing_refresh_seconds: float = Field(
        30.0, ge=0, description="WAGATE_PACING_REFRESH_SECONDS: how long a session's settings are cached"
    )
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)

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
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConnectorConfig:
        env = os.environ if env is None else env
        raw = {
            "shards": env.get("WAGATE_SHARDS"),
            "connector_id": env.get("WAGATE_CONNECTOR_ID"),
            "shard_lease_seconds": env.get("WAGATE_SHARD_LEASE_SECONDS"),
            "session_lease_seconds": env.get("WAGATE_SESSION_LEASE_SECONDS"),
            "discovery_seconds": env.get("WAGATE_DISCOVERY_SECONDS"),
            "command_wait_seconds": env.get("WAGATE_COMMAND_WAIT_SECONDS"),
            "command_retry_seconds": env.get("WAGATE_COMMAND_RETRY_SECONDS"),
            "command_retry_limit": env.get("WAGATE_COMMAND_RETRY_LIMIT"),
            "backoff_base_seconds": env.get("WAGATE_BACKOFF_BASE_SECONDS"),
            "backoff_cap_seconds": env.get("WAGATE_BACKOFF_CAP_SECONDS"),
            "stop_timeout_seconds": env.get("WAGATE_STOP_TIMEOUT_SECONDS"),
            "command_visibility_seconds": env.get("WAGATE_COMMAND_VISIBILITY_SECONDS"),
            "command_max_in_flight": env.get("WAGATE_COMMAND_MAX_IN_FLIGHT"),
            "send_tries": env.get("WAGATE_SEND_TRIES"),
            "send_retry_base_seconds": env.get("WAGATE_SEND_RETRY_BASE_SECONDS"),
            "send_retry_cap_seconds": env.get("WAGATE_SEND_RETRY_CAP_SECONDS"),
            "send_timeout_seconds": env.get("WAGATE_SEND_TIMEOUT_SECONDS"),
            "send_connect_wait_seconds": env.get("WAGATE_SEND_CONNECT_WAIT_SECONDS"),
            "pacing_refresh_seconds": env.get("WAGATE_PACING_REFRESH_SECONDS"),
        }
        sandbox = {
            "qr_first_seconds": env.get("WAGATE_SANDBOX_QR_FIRST_SECONDS"),
            "qr_next_seconds": env.get("WAGATE_SANDBOX_QR_NEXT_SECONDS"),
            "qr_limit": env.get("WAGATE_SANDBOX_QR_LIMIT"),
            "delivered_seconds": env.get("WAGATE_SANDBOX_DELIVERED_SECONDS"),
            "read_seconds": env.get("WAGATE_SANDBOX_READ_SECONDS"),
            "reply_seconds": env.get("WAGATE_SANDBOX_REPLY_SECONDS"),
            "auto_reply": env.get("WAGATE_SANDBOX_AUTO_REPLY"),
            "journal": env.get("WAGATE_SANDBOX_JOURNAL"),
        }
        values: dict[str, object] = {k: v for k, v in raw.items() if v not in (None, "")}
        sandbox_values: dict[str, object] = {k: v for k, v in sandbox.items() if v not in (None, "", "off")}
        if env.get("WAGATE_SANDBOX_JOURNAL") == "off":
            sandbox_values["journal_enabled"] = False
        values["sandbox"] = sandbox_values
        values["pacing"] = Pacing.from_env(env)
        return cls.model_validate(values)


def default_connector_id() -> str:
    """host-pid-random: a restarted process must never pass for its predecessor (it would inherit its
    leases as "already ours" while the predecessor might, in theory, still be closing sockets)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
