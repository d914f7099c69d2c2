"""Process configuration: one typed tree of every setting, read from the environment once, checked at start.

`Settings.from_env()` reads it (`wagate/environment.py` does the reading): every variable is `WAGATE_` +
the field's name, within a section (`Section`) the section's prefix + the field's name, or a field's alias
(the names AWS and template.yaml give: `TABLE_NAME`, `KMS_KEY_ID`, ...). An unknown `WAGATE_*` variable or
a malformed value fails there with a message naming the variable. Constructing a model in code never reads
the environment (tests build `Settings(...)` as they need it).

    Settings          WAGATE_*          backend, storage, API limits, media, webhooks, Graph, shards
      .connector      WAGATE_*          the connector process: leases, commands, sends, backoff
        .sandbox      WAGATE_SANDBOX_*  the simulated network's timings
      .web            WAGATE_WA_*       the web engine (unset = the engine's own default)
      .pacing         WAGATE_PACING_*   default anti-ban pacing of every number (`WAGATE_PACING`=off)
      .health         WAGATE_HEALTH_*   account health: its window, risk thresholds, pacing slow-down
      .cli            WAGATE_*          the defaults of `wagate serve` / `wagate sessions`
      .evolution      WAGATE_EVOLUTION_* where `wagate serve` mounts the Evolution API surface

This module imports only pydantic (it is on every handler's import path); pydantic-settings is imported
when the environment is read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, model_validator

from wagate.domain.health import HealthPolicy
from wagate.domain.pacing import Pacing


@dataclass(frozen=True)
class Section:
    """Marks a nested model as a section of the tree: its fields are read from `prefix` + FIELD NAME.
    `aliases` gives a field other variable names where its model cannot declare them (a domain model)."""

    prefix: str
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()


# WAGATE_* variables that are not settings: knobs of the tests (tests/e2e), which a developer's shell may
# hold while `wagate serve` starts from it. Add a test's knob here; anything else belongs in the tree.
READ_ELSEWHERE = frozenset({"WAGATE_CHROMIUM", "WAGATE_SCHEMATHESIS_EXAMPLES"})

# The number of connector shards (command queues): one value for the API, the Lambdas and the connector.
Shards = Annotated[
    int,
    Field(
        ge=1,
        le=64,
        description="connector shards (AWS: set from the template's ConnectorShards parameter)",
    ),
]
DEFAULT_SHARDS = 4

Browser = Literal["Chrome", "Firefox", "IE", "Opera", "Safari", "Edge", "Desktop"]


class SandboxSettings(BaseModel):
    """Timings of the simulated network (seconds). Tests shrink them; demos keep WhatsApp-like ones."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    qr_first_seconds: float = Field(60.0, gt=0, description="how long the first QR code is shown")
    qr_next_seconds: float = Field(20.0, gt=0, description="how long each later QR code is shown")
    qr_limit: int = Field(6, ge=0, description="QR codes before giving up; 0 = never")
    delivered_seconds: float = Field(1.0, ge=0, description="a sent message is delivered after this")
    read_seconds: float = Field(3.0, ge=0, description="... and read this long after delivery")
    reply_seconds: float = Field(2.0, ge=0, description="... and answered this long after it is read")
    auto_reply: bool = Field(True, description="the first contact answers")
    journal: Path | None = Field(
        None, description="the socket journal file (default {data dir}/sandbox/sockets.jsonl); `off` = none"
    )
    journal_enabled: bool = Field(True, description="false (or WAGATE_SANDBOX_JOURNAL=off): no journal")
    journal_poll_seconds: float = Field(0.5, gt=0, description="how often other processes' journal is read")

    @model_validator(mode="before")
    @classmethod
    def _journal_off(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and str(data.get("journal", "")).strip().lower() == "off":
            return {**data, "journal": None, "journal_enabled": False}
        return data


class ConnectorSettings(BaseModel):
    """The connector process (`python -m connector`, or inside `wagate serve`)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    connector_id: str | None = Field(
        None, description="unique per live process: its identity in leases; default host-pid-random"
    )
    shard_lease_seconds: float = Field(30.0, gt=0, description="a dead connector's shards move within this")
    # A session's lease rides on its shard's: a connector that takes the shard over takes its sessions at
    # once (newer shard fence), so this long lease only bounds rare cases (a crash while shards are
    # renumbered) and an idle session renews it a few times an hour instead of every 40 seconds.
    session_lease_seconds: float = Field(
        3600.0, gt=0, description="lease of one session's socket (renewed every third of it)"
    )
    discovery_seconds: float = Field(15.0, gt=0, description="how often live connectors are counted")
    command_wait_seconds: float = Field(5.0, ge=0, le=20, description="long poll of a command queue")
    command_retry_seconds: int = Field(3, ge=1, description="a command that cannot run yet comes back after")
    command_retry_limit: int = Field(10, ge=1, description="receives of a command before it is dropped")
    backoff_base_seconds: float = Field(1.0, gt=0, description="reconnect backoff (full jitter): first step")
    backoff_cap_seconds: float = Field(300.0, gt=0, description="reconnect backoff: the longest wait")
    stop_timeout_seconds: float = Field(10.0, gt=0, description="how long stopping waits for sessions")
    command_visibility_seconds: int = Field(
        60, ge=2, le=43_200, description="visibility of a held command (renewed while it is held)"
    )
    command_max_in_flight: int = Field(2000, ge=10, le=20_000, description="commands held, per shard")
    # One retry budget for every provider: the connector's sends and the Cloud Lambda's (and its token check).
    send_tries: int = Field(
        3,
        ge=1,
        le=20,
        description="tries of a transient failure before `failed`: sends of every provider (web, sandbox, "
        "cloud) and a Cloud session's token check",
    )
    send_retry_base_seconds: float = Field(2.0, ge=0, description="wait before the second try (doubling)")
    send_retry_cap_seconds: float = Field(60.0, ge=0, description="the longest wait between tries")
    send_timeout_seconds: float = Field(30.0, gt=0, description="one try of a send")
    send_connect_wait_seconds: float = Field(60.0, ge=0, description="a send waits this long for its session")
    throttled_send_max_age_seconds: float = Field(
        3600.0,
        ge=0,
        description="a send WhatsApp throttles (web: 429 rate-overlimit on a lookup it needs) stays queued "
        "and goes when the hold ends, unless it would then be older than this (from when it was due): it "
        "fails rate_limited instead; 0 = fail at once",
    )
    pacing_refresh_seconds: float = Field(
        30.0, ge=0, description="how long a session's pacing is cached (an API change applies within it)"
    )
    liveness_file: Path | None = Field(
        None,
        description="the connector touches this file from its event loop (`python -m connector.liveness`)",
    )
    liveness_max_age_seconds: float = Field(
        30.0, gt=0, description="`python -m connector.liveness` fails when the file is older than this"
    )
    metrics_seconds: float = Field(
        0.0, ge=0, description="how often the connector reports ConnectorSessions (EMF on stdout); 0 = never"
    )
    require_web_engine: bool = Field(
        True, description="`python -m connector` refuses to start without the web engine's protobufs"
    )
    sandbox: Annotated[SandboxSettings, Section("WAGATE_SANDBOX_")] = Field(default_factory=SandboxSettings)


class WebSection(BaseModel):
    """The web engine's variables; unset = the engine's default (connector/engines/web/settings.py)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    version: str | None = Field(
        None,
        pattern=r"^\s*\d+\.\d+\.\d+\s*$",
        description="pin the WhatsApp Web version claimed, e.g. 2.3000.1035194821; unset: the current one "
        "is fetched from WhatsApp at connect (cached; built-in fallback), and a refused pin gives way to it",
    )
    version_url: str | None = Field(
        None, pattern=r"^https://", description="where the current version is read (WhatsApp Web's sw.js)"
    )
    url: str | None = Field(None, pattern=r"^wss://", description="the edge's WebSocket URL (TLS only)")
    ca_file: str | None = Field(
        None,
        description="a PEM bundle the web engine trusts for wss://web.whatsapp.com instead of the system "
        "store (a TLS-intercepting proxy's CA; tests)",
    )
    origin: str | None = Field(None, description="the Origin header browsers send")
    noise_root: str | None = Field(
        None, pattern=r"^[0-9a-fA-F]{64}$", description="hex: the certificate root the edge chains to (tests)"
    )
    proxy: str | None = Field(None, description="`system` (environment, default), `none` or a proxy URL")
    device_name: str | None = Field(
        None, min_length=1, max_length=64, description="shown under Linked devices (default wagate)"
    )
    browser: Browser | None = Field(None, description="the browser the phone shows (default Chrome)")
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="ISO 3166 alpha-2 (default US)")
    language: str | None = Field(None, pattern=r"^[a-z]{2}$", description="ISO 639-1 (default en)")
    keepalive_seconds: float | None = Field(None, gt=0, description="ping interval (default 25)")
    history_import_days: int | None = Field(
        None,
        ge=0,
        le=365,
        description="import the last N days of chats from the phone's history sync into conversations, "
        "without notifying CRMs (default 0: off)",
    )


class EvolutionSettings(BaseModel):
    """The Evolution API compatibility surface as `wagate serve` mounts it (wagate/evolution). On AWS it
    is where template.yaml's EvolutionFunction routes put it (/evolution)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    prefix: str = Field(
        "/evolution",
        pattern=r"^(/[A-Za-z0-9._~-]+)+$",
        description="`wagate serve`: the path the Evolution API compatible routes are served under",
    )
    port: int | None = Field(
        None,
        ge=0,
        le=65_535,
        description="`wagate serve`: also serve them at / on this port, for clients that cannot add a "
        "path (--evolution-port; 0 = any free one)",
    )
    server_url: str | None = Field(
        None,
        description="`server_url` in Evolution webhooks: where CRMs reach these routes (AWS: set by the "
        "template; `wagate serve` sets its own)",
    )


class CliSettings(BaseModel):
    """Defaults of the command line (its options override them)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    host: str = Field("127.0.0.1", description="where `wagate serve` listens (--host)")
    port: int = Field(8000, ge=0, le=65_535, description="... and its port (--port; 0 = any free one)")
    url: str = Field("http://127.0.0.1:8000", description="what `wagate sessions ...` talks to (--url)")
    api_key: SecretStr | None = Field(None, description="the tenant API key `wagate sessions ...` uses")


class Settings(BaseModel):
    """The whole tree. Attribute names are what the rest of the code reads; aliases are what AWS sets."""

    model_config = ConfigDict(frozen=True, validate_by_name=True, validate_by_alias=True, defer_build=True)

    backend: Literal["aws", "local"] = Field(
        "local", description="`aws` in Lambda and ECS (set by the template)"
    )
    data_dir: Path = Field(
        Path(".wagate"), description="local mode: the one directory of SQLite files and key"
    )
    table_name: str = Field(
        "wagate", validation_alias=AliasChoices("TABLE_NAME"), description="AWS: the DynamoDB table"
    )
    kms_key_id: str | None = Field(
        None, validation_alias=AliasChoices("KMS_KEY_ID"), description="AWS: the KMS key of every secret"
    )
    idempotency_table: str = Field(
        "wagate-idempotency",
        validation_alias=AliasChoices("IDEMPOTENCY_TABLE"),
        description="AWS: the Powertools idempotency table",
    )
    queue_name_prefix: str | None = Field(
        None, description="AWS: queues without a `*_QUEUE_URL` variable are found by prefix + logical name"
    )
    websocket_endpoint: str | None = Field(
        None, description="the dashboard socket's @connections API (https)"
    )
    websocket_url: str | None = Field(
        None, description="the dashboard socket's URL (wss) given with its token"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="`python -m connector`'s log level (Lambdas: POWERTOOLS_LOG_LEVEL)"
    )
    encrypt_content: bool = Field(
        True, description="seal message content, names and queue bodies under per-tenant data keys"
    )
    content_key_cache_seconds: float = Field(
        300.0, gt=0, le=3600, description="how long an unwrapped tenant data key is kept in memory"
    )
    insights: bool = Field(
        True,
        description="count insights (one journal entry per change, folded into rollups); false: nothing new "
        "is counted (fewer writes per message) and reports show what was counted before",
    )
    insights_fold_seconds: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="`wagate serve`: how often the insights journal is folded into the rollups (AWS: the "
        "sweeper, every minute)",
    )
    max_sessions_per_tenant: int = Field(
        5, ge=1, description="WhatsApp sessions per tenant (an operator may set a tenant's own quota)"
    )
    # The operator API's keys (api/routes/operator.py): only their SHA-256 is configured, so the setting is no
    # secret. `wagate admin operator-key` makes a key and prints its hash. template.yaml: OperatorKeySha256.
    operator_key_sha256: str | None = Field(
        None,
        validation_alias=AliasChoices("WAGATE_OPERATOR_KEY_SHA256", "OPERATOR_KEY_SHA256"),
        pattern=r"^\s*([0-9a-fA-F]{64}(\s*,\s*[0-9a-fA-F]{64})*)?\s*$",
        description="SHA-256 (hex) of the operator key(s) the operator API accepts, comma-separated (two "
        "while rotating); unset or empty: the operator API answers 403 to everyone",
    )
    abandoned_session_seconds: int = Field(
        86_400,
        ge=0,
        description="a session never linked this long after its creation expires: deleted (its slot "
        "freed), event session_expired; 0 = never",
    )
    contact_checks_per_hour: int = Field(
        300,
        ge=0,
        le=100_000,
        description="numbers a tenant may check with POST /v1/contacts/check per hour (anti-scraping; "
        "over it: 429 number_check_rate_limited); 0 = the check is off",
    )
    contact_check_wait_seconds: float = Field(
        8.0,
        ge=0,
        le=25,
        description="how long POST /v1/contacts/check waits for the connector's answer before it answers "
        "202 (then GET /v1/contacts/checks/{id})",
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="largest accepted request body")
    shards: Shards = DEFAULT_SHARDS
    # Off unless set: template.yaml sets it (parameter TenantRequestsPerSecond) for AWS and `wagate serve`.
    tenant_requests_per_second: float = Field(
        0.0, ge=0, description="API requests per second per tenant (token bucket); 0 = no limit"
    )
    tenant_request_burst: int = Field(600, ge=1, description="API requests a tenant may make at once")
    realtime_token_seconds: int = Field(300, ge=10, description="how long a dashboard socket token is valid")
    # Media URLs are probed when a message is accepted (services/media.py states the rules).
    media_allow_http: bool = Field(False, description="accept http:// media URLs (local testing only)")
    media_allow_private: bool = Field(False, description="fetch media from private/loopback addresses")
    media_probe_seconds: float = Field(5.0, gt=0, le=30, description="timeout of a media URL's probe")
    # Stored media (services/media_files.py; limits per kind: domain/media.py).
    media_bucket: str | None = Field(
        None, validation_alias=AliasChoices("MEDIA_BUCKET"), description="AWS: the private media bucket"
    )
    media_base_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="local mode: where signed media links point (`wagate serve` sets its own address)",
    )
    media_link_seconds: int = Field(
        900, ge=10, le=7 * 24 * 3600, description="how long a media link (GET /v1/media/{id}) is valid"
    )
    media_upload_seconds: int = Field(
        900, ge=10, le=24 * 3600, description="how long an upload link is valid"
    )
    media_body_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        le=10 * 1024 * 1024,
        description="largest file POST /v1/media takes in its body (a Lambda takes 6 MB of base64); larger "
        "files go through POST /v1/uploads",
    )
    # CRM webhooks (services/crm_webhooks.py states the URL rules, services/crm_attempts.py the retries).
    webhooks_allow_http: bool = Field(False, description="accept http:// CRM webhook URLs (local testing)")
    webhooks_allow_private: bool = Field(False, description="call CRM webhooks on private/loopback addresses")
    webhooks_timeout_seconds: float = Field(5.0, gt=0, le=15, description="timeout of one webhook call")
    webhooks_retry_schedule: str = Field(
        "5,30,120,600,1800,3600,7200,14400,28800,28800",
        pattern=r"^\s*\d+(\s*,\s*\d+)*\s*$",
        description="seconds before each webhook retry (jittered ±20%)",
    )
    # Meta Cloud API (cloud/graph.py; webhooks in: cloud/webhooks.py).
    graph_base_url: str = Field("https://graph.facebook.com", description="Meta's Graph API")
    graph_api_version: str = Field(
        "v25.0", pattern=r"^v\d+\.\d+$", description="the Graph API version called"
    )
    graph_timeout_seconds: float = Field(10.0, gt=0, le=25, description="timeout of one Graph call")
    # WAGATE_* from the operator's shell wins; META_* come from template.yaml's parameters.
    meta_app_secret: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("WAGATE_META_APP_SECRET", "META_APP_SECRET"),
        description="Cloud API: the Meta app secret of sessions without their own",
    )
    meta_verify_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("WAGATE_META_VERIFY_TOKEN", "META_VERIFY_TOKEN"),
        description="Cloud API: the token GET /webhooks/meta expects",
    )
    connector: Annotated[ConnectorSettings, Section("WAGATE_")] = Field(default_factory=ConnectorSettings)
    web: Annotated[WebSection, Section("WAGATE_WA_")] = Field(default_factory=WebSection)
    pacing: Annotated[Pacing, Section("WAGATE_PACING_", aliases=(("enabled", ("WAGATE_PACING",)),))] = Field(
        default_factory=Pacing
    )
    health: Annotated[HealthPolicy, Section("WAGATE_HEALTH_")] = Field(default_factory=HealthPolicy)
    metrics_token: SecretStr | None = Field(
        None,
        description="`wagate serve`: the operator token GET /metrics requires (Bearer); unset = no /metrics",
    )
    cli: Annotated[CliSettings, Section("WAGATE_")] = Field(default_factory=CliSettings)
    evolution: Annotated[EvolutionSettings, Section("WAGATE_EVOLUTION_")] = Field(
        default_factory=EvolutionSettings
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The tree from `env` (default: the process environment).

        Raises SettingsError naming the variable: an unknown WAGATE_* variable, or a value refused."""
        from wagate.environment import read_settings

        return read_settings(cls, os.environ if env is None else env)

    @property
    def webhook_retry_delays(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.webhooks_retry_schedule.split(","))

    @property
    def operator_key_hashes(self) -> frozenset[str]:
        raw = self.operator_key_sha256 or ""
        return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())

    @property
    def table_path(self) -> Path:
        return self.data_dir / "table.db"

    @property
    def queues_path(self) -> Path:
        return self.data_dir / "queues.db"

    @property
    def master_key_path(self) -> Path:
        return self.data_dir / "master.key"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"


ROOT = Section("WAGATE_")


class SettingsError(ValueError):
    """A WAGATE_* variable the tree does not know, or a value it refuses; the message names the variable."""
