"""The web engine's settings: WhatsApp version, edge address and trust root, device name, timings, prekeys.

Built from the settings tree's `web` section (`WAGATE_WA_*`, `wagate.settings.WebSection`) over the
defaults here; the other fields are timings tests shrink. Nothing needs setting in production: the version
is fetched from WhatsApp (see `version.py`; pin one only to override); the edge URL, CA bundle, version URL
and Noise root key exist so tests and the benchmarks can point the engine at a fake edge over TLS with a
TEST root.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector.engines.web.media import MediaHosts
from connector.engines.web.media.hosts import Query
from connector.engines.web.noise import WHATSAPP_ROOT_PUBLIC_KEY, ServerTrust, SocketConfig
from connector.engines.web.noise.socket import DEFAULT_ORIGIN, DEFAULT_URL
from connector.engines.web.noise.tls import client_context
from connector.engines.web.version import SERVICE_WORKER_URL, VersionSource, WaVersion, parse_version
from wagate.settings import Browser, Settings, WebSection


class WebSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    wa_version: WaVersion | None = Field(
        None,
        description="WAGATE_WA_VERSION, e.g. 2.3000.1035194821: pin the version claimed. Unset: the current "
        "one is fetched from WhatsApp at connect (cached; built-in fallback). A pin WhatsApp refuses (405) "
        "gives way to the fetched one",
    )
    wa_version_url: str = Field(
        SERVICE_WORKER_URL,
        pattern=r"^https://",
        description="WAGATE_WA_VERSION_URL: where the current version is read (WhatsApp Web's sw.js)",
    )
    wa_version_cache_seconds: float = Field(
        6 * 3600.0, gt=0, description="how long a fetched version is trusted before asking again"
    )
    wa_version_timeout_seconds: float = Field(
        5.0, gt=0, description="how long a connect waits for the version before using the last known"
    )
    url: str = Field(
        DEFAULT_URL, pattern=r"^wss://", description="WAGATE_WA_URL: the edge's WebSocket URL (TLS only)"
    )
    ca_file: str | None = Field(
        None,
        description="WAGATE_WA_CA_FILE: a PEM bundle to trust for the edge instead of the system store "
        "(a TLS-intercepting proxy's CA; tests). SSL_CERT_FILE works too",
    )
    origin: str = Field(DEFAULT_ORIGIN, description="WAGATE_WA_ORIGIN: the Origin header browsers send")
    noise_root_key: bytes = Field(
        WHATSAPP_ROOT_PUBLIC_KEY,
        description="WAGATE_WA_NOISE_ROOT (hex): the certificate root the edge must chain to; tests only",
    )
    proxy: str = Field("system", description="WAGATE_WA_PROXY: 'system' (environment), 'none' or a URL")
    device_name: str = Field(
        "wagate", min_length=1, max_length=64, description="WAGATE_WA_DEVICE_NAME: shown under Linked devices"
    )
    browser: Browser = Field(
        "Chrome", description="WAGATE_WA_BROWSER: the browser the phone shows for this device"
    )
    country: str = Field("US", pattern=r"^[A-Z]{2}$", description="WAGATE_WA_COUNTRY (ISO 3166 alpha-2)")
    language: str = Field("en", pattern=r"^[a-z]{2}$", description="WAGATE_WA_LANGUAGE (ISO 639-1)")
    qr_first_seconds: float = Field(60.0, gt=0, description="how long the first QR code is shown")
    qr_next_seconds: float = Field(20.0, gt=0, description="how long each later QR code is shown")
    connect_timeout_seconds: float = Field(20.0, gt=0, description="WebSocket open + Noise handshake")
    iq_timeout_seconds: float = Field(30.0, gt=0, description="how long to wait for an answer to a query")
    keepalive_seconds: float = Field(25.0, gt=0, description="WAGATE_WA_KEEPALIVE_SECONDS: ping interval")
    keepalive_grace_seconds: float = Field(10.0, gt=0, description="silence beyond interval + grace = dead")
    pre_key_initial: int = Field(812, ge=1, le=2000, description="one-time prekeys uploaded at first login")
    pre_key_batch: int = Field(50, ge=1, le=2000, description="one-time prekeys per top-up")
    pre_key_min: int = Field(5, ge=0, description="top up when the server holds fewer than this")
    signed_pre_key_days: float = Field(7.0, gt=0, description="rotate the signed prekey after this long")
    device_list_seconds: float = Field(
        3600.0,
        gt=0,
        description="how long a contact's device list is trusted (device notifications refresh it)",
    )
    group_metadata_seconds: float = Field(
        300.0,
        ge=0,
        description="how long group metadata is reused when sending (group notifications refresh it)",
    )
    ack_timeout_seconds: float = Field(
        30.0, gt=0, description="how long to wait for the edge's ack of a message"
    )
    recent_messages: int = Field(
        200, ge=0, le=10_000, description="sent messages kept (KeyStore, a day) to answer retry receipts"
    )
    history_import_days: int = Field(
        0,
        ge=0,
        le=365,
        description="WAGATE_WA_HISTORY_IMPORT_DAYS: the last N days of chats in the phone's history sync "
        "become conversations (historical: no CRM webhooks, no unread counts); 0 = off",
    )
    media_timeout_seconds: float = Field(
        120.0, gt=0, description="how long one media upload or download may stall before it fails"
    )
    max_retries: int = Field(
        5, ge=1, le=20, description="retry receipts sent / answered per message and device"
    )
    # WhatsApp's query throttling (throttle.py): after a 429 rate-overlimit, that kind of query is held
    # back, doubling up to the cap while WhatsApp keeps refusing; the episode ends at the first answered
    # query of the kind, or after the quiet period without a refusal when nothing asks.
    rate_limit_hold_seconds: float = Field(
        60.0, gt=0, description="how long a kind of query WhatsApp throttled is held back at first"
    )
    rate_limit_max_hold_seconds: float = Field(
        900.0, gt=0, description="the longest hold (it doubles each time WhatsApp refuses again)"
    )
    rate_limit_quiet_seconds: float = Field(
        600.0,
        gt=0,
        description="no refusal (nor answer) for this long after a hold ends: the episode is over",
    )

    @field_validator("noise_root_key", mode="before")
    @classmethod
    def _hex_key(cls, value: object) -> object:
        if isinstance(value, str):
            value = bytes.fromhex(value)
        if isinstance(value, bytes) and len(value) != 32:
            raise ValueError("the Noise root key is 32 bytes (64 hex digits)")
        return value

    @field_validator("wa_version", mode="before")
    @classmethod
    def _version(cls, value: object) -> object:
        return parse_version(value) if isinstance(value, str) else value

    def version_source(self) -> VersionSource:
        """A new source of the version to claim; build ONE per process and share it between sessions."""
        return VersionSource(
            pinned=self.wa_version,
            url=self.wa_version_url,
            cache_seconds=self.wa_version_cache_seconds,
            timeout=self.wa_version_timeout_seconds,
            verify=client_context(self.ca_file),
            proxy=self._proxy,
        )

    @property
    def _proxy(self) -> str | Literal[True] | None:
        return {"system": True, "none": None}.get(self.proxy, self.proxy)

    def socket_config(self) -> SocketConfig:
        proxy = self._proxy
        return SocketConfig(
            url=self.url,
            origin=self.origin,
            connect_timeout=self.connect_timeout_seconds,
            handshake_timeout=self.connect_timeout_seconds,
            keepalive_interval=self.keepalive_seconds,
            keepalive_grace=self.keepalive_grace_seconds,
            proxy=proxy,
            ca_file=self.ca_file,
        )

    def media_hosts(self, query: Query, verify: ssl.SSLContext | None = None) -> MediaHosts:
        """The media hosts' client for one connection (`query`: its iq), over the edge's TLS trust."""
        return MediaHosts(
            query,
            verify=verify or client_context(self.ca_file),
            proxy=self._proxy,
            timeout=self.media_timeout_seconds,
        )

    def trust(self, clock: Callable[[], float] = time.time) -> ServerTrust:
        return ServerTrust(root_public_key=self.noise_root_key, clock=clock)

    @classmethod
    def from_section(cls, section: WebSection) -> WebSettings:
        """The section's variables over the defaults here (the section has checked their form)."""
        names = {"version": "wa_version", "version_url": "wa_version_url", "noise_root": "noise_root_key"}
        values = {names.get(field, field): value for field, value in section if value is not None}
        return cls.model_validate(values)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebSettings:
        """Raises wagate.settings.SettingsError naming the bad variable."""
        return cls.from_section(Settings.from_env(env).web)
