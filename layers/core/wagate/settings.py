"""Process configuration read from the environment once, validated at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    """Everything the wiring needs to build adapters. Names match the env vars in template.yaml."""

    model_config = ConfigDict(frozen=True)

    backend: Literal["aws", "local"] = Field("local", description="WAGATE_BACKEND")
    data_dir: Path = Field(Path(".wagate"), description="WAGATE_DATA_DIR: local mode's one data directory")
    template: Path | None = Field(None, description="WAGATE_TEMPLATE: template.yaml, for local queues")
    table_name: str = Field("wagate", description="TABLE_NAME (aws)")
    kms_key_id: str | None = Field(None, description="KMS_KEY_ID (aws)")
    idempotency_table: str = Field("wagate-idempotency", description="IDEMPOTENCY_TABLE (aws)")
    websocket_endpoint: str | None = Field(None, description="WAGATE_WEBSOCKET_ENDPOINT: @connections API")
    max_sessions_per_tenant: int = Field(5, ge=1, description="WAGATE_MAX_SESSIONS_PER_TENANT")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="WAGATE_MAX_BODY_BYTES")
    shards: int = Field(4, ge=1, le=64, description="WAGATE_SHARDS: connector shards (command queues)")
    realtime_token_seconds: int = Field(300, ge=10, description="WAGATE_REALTIME_TOKEN_SECONDS")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        raw = {
            "backend": env.get("WAGATE_BACKEND"),
            "data_dir": env.get("WAGATE_DATA_DIR"),
            "template": env.get("WAGATE_TEMPLATE"),
            "table_name": env.get("TABLE_NAME"),
            "kms_key_id": env.get("KMS_KEY_ID"),
            "idempotency_table": env.get("IDEMPOTENCY_TABLE"),
            "websocket_endpoint": env.get("WAGATE_WEBSOCKET_ENDPOINT"),
            "max_sessions_per_tenant": env.get("WAGATE_MAX_SESSIONS_PER_TENANT"),
            "max_body_bytes": env.get("WAGATE_MAX_BODY_BYTES"),
            "shards": env.get("WAGATE_SHARDS"),
            "realtime_token_seconds": env.get("WAGATE_REALTIME_TOKEN_SECONDS"),
        }
        return cls.model_validate({k: v for k, v in raw.items() if v not in (None, "")})

    @property
    def table_path(self) -> Path:
        return self.data_dir / "table.db"

    @property
    def queues_path(self) -> Path:
        return self.data_dir / "queues.db"

    @property
    def master_key_path(self) -> Path:
        return self.data_dir / "master.key"
