"""Process configuration read from the environment once, validated at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Settings(BaseModel):
    """Everything the wiring needs to build adapters. Names match the env vars in template.yaml."""

    model_config = ConfigDict(frozen=True)

    backend: Literal["aws", "local"] = Field("local", description="WAGATE_BACKEND")
    data_dir: Path = Field(Path(".wagate"), description="WAGATE_DATA_DIR: local mode's one data directory")
    table_name: str = Field("wagate", description="TABLE_NAME (aws)")
    kms_key_id: str | None = Field(None, description="KMS_KEY_ID (aws)")
    idempotency_table: str = Field("wagate-idempotency", description="IDEMPOTENCY_TABLE (aws)")
    websocket_endpoint: str | None = Field(None, description="WAGATE_WEBSOCKET_ENDPOINT: @connections API")
    max_sessions_per_tenant: int = Field(5, ge=1, description="WAGATE_MAX_SESSIONS_PER_TENANT")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="WAGATE_MAX_BODY_BYTES")
    shards: int = Field(4, ge=1, le=64, description="WAGATE_SHARDS: connector shards (command queues)")
    realtime_token_seconds: int = Field(300, ge=10, description="WAGATE_REALTIME_TOKEN_SECONDS")
    # Media URLs are probed when a message is accepted (services/media.py states the rules).
    media_allow_http: bool = Field(False, description="WAGATE_MEDIA_ALLOW_HTTP: accept http:// media URLs")
    media_allow_private: bool = Field(
        False, description="WAGATE_MEDIA_ALLOW_PRIVATE: fetch media from private/loopback addresses"
    )
    media_probe_seconds: float = Field(5.0, gt=0, le=30, description="WAGATE_MEDIA_PROBE_SECONDS")
    # CRM webhooks (services/webhooks.py states the URL rules, services/webhook_attempts.py the retries).
    webhooks_allow_http: bool = Field(False, description="WAGATE_WEBHOOKS_ALLOW_HTTP: accept http:// URLs")
    webhooks_allow_private: bool = Field(
        False, description="WAGATE_WEBHOOKS_ALLOW_PRIVATE: call webhooks on private/loopback addresses"
    )
    webhooks_timeout_seconds: float = Field(5.0, gt=0, le=15, description="WAGATE_WEBHOOKS_TIMEOUT_SECONDS")
    webhooks_retry_schedule: str = Field(
        "5,30,120,600,1800,3600,7200,14400,28800,28800",
        pattern=r"^\s*\d+(\s*,\s*\d+)*\s*$",
        description="WAGATE_WEBHOOKS_RETRY_SCHEDULE: seconds before each retry (jittered ±20%)",
    )
    # Meta Cloud API (adapters/cloud_api.py; webhooks in: services/meta_webhooks.py).
    graph_base_url: str = Field("https://graph.facebook.com", description="WAGATE_GRAPH_BASE_URL")
    graph_api_version: str = Field("v25.0", pattern=r"^v\d+\.\d+$", description="WAGATE_GRAPH_API_VERSION")
    graph_timeout_seconds: float = Field(10.0, gt=0, le=25, description="WAGATE_GRAPH_TIMEOUT_SECONDS")
    meta_app_secret: SecretStr | None = Field(
        None, description="WAGATE_META_APP_SECRET (or META_APP_SECRET): for sessions without one"
    )
    meta_verify_token: SecretStr | None = Field(
        None, description="WAGATE_META_VERIFY_TOKEN (or META_VERIFY_TOKEN): GET /webhooks/meta takes it"
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        raw = {
            "backend": env.get("WAGATE_BACKEND"),
            "data_dir": env.get("WAGATE_DATA_DIR"),
            "table_name": env.get("TABLE_NAME"),
            "kms_key_id": env.get("KMS_KEY_ID"),
            "idempotency_table": env.get("IDEMPOTENCY_TABLE"),
            "websocket_endpoint": env.get("WAGATE_WEBSOCKET_ENDPOINT"),
            "max_sessions_per_tenant": env.get("WAGATE_MAX_SESSIONS_PER_TENANT"),
            "max_body_bytes": env.get("WAGATE_MAX_BODY_BYTES"),
            "shards": env.get("WAGATE_SHARDS"),
            "realtime_token_seconds": env.get("WAGATE_REALTIME_TOKEN_SECONDS"),
            "media_allow_http": env.get("WAGATE_MEDIA_ALLOW_HTTP"),
            "media_allow_private": env.get("WAGATE_MEDIA_ALLOW_PRIVATE"),
            "media_probe_seconds": env.get("WAGATE_MEDIA_PROBE_SECONDS"),
            "webhooks_allow_http": env.get("WAGATE_WEBHOOKS_ALLOW_HTTP"),
            "webhooks_allow_private": env.get("WAGATE_WEBHOOKS_ALLOW_PRIVATE"),
            "webhooks_timeout_seconds": env.get("WAGATE_WEBHOOKS_TIMEOUT_SECONDS"),
            "webhooks_retry_schedule": env.get("WAGATE_WEBHOOKS_RETRY_SCHEDULE"),
            "graph_base_url": env.get("WAGATE_GRAPH_BASE_URL"),
            "graph_api_version": env.get("WAGATE_GRAPH_API_VERSION"),
            "graph_timeout_seconds": env.get("WAGATE_GRAPH_TIMEOUT_SECONDS"),
            # WAGATE_* from the operator's shell wins; META_* come from template.yaml's parameters.
            "meta_app_secret": env.get("WAGATE_META_APP_SECRET") or env.get("META_APP_SECRET"),
            "meta_verify_token": env.get("WAGATE_META_VERIFY_TOKEN") or env.get("META_VERIFY_TOKEN"),
        }
        return cls.model_validate({k: v for k, v in raw.items() if v not in (None, "")})

    @property
    def webhook_retry_delays(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.webhooks_retry_schedule.split(","))

    @property
    def table_path(self) -> Path:
        return self.data_dir / "table.db"

    @property
    def queues_path(self) -> Path:
        return self.data_dir / "queues.db"

    @property
    def master_key_path(self) -> Path:
        return self.data_dir / "master.key"
