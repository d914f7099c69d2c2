"""CRM webhooks as values: the event vocabulary, endpoints, deliveries, the retry schedule and signing.

Signing follows the Standard Webhooks spec (standardwebhooks.com): the secret is `whsec_` + base64 of
32 random bytes; every attempt carries `webhook-id` (the delivery id, the same on every retry and
replay, so a CRM can deduplicate), `webhook-timestamp` (epoch seconds of the attempt) and
`webhook-signature` = `v1,` + base64 HMAC-SHA256 over `{id}.{timestamp}.{body}` keyed with the decoded
secret. After a rotation the old secret keeps signing beside the new one until its overlap ends: the
header then carries both signatures, space-separated, as the spec allows, so a CRM can switch secrets
without dropping a delivery. Written here with `hmac` (ten lines) rather than with the
`standardwebhooks` package, which the tests use to verify every delivery: the Lambda layer then carries
no extra dependency. No I/O here.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import random
import secrets
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from wagate.domain.events import EventType

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
# The default retry delays (seconds) after attempts 1, 2, ...: 11 attempts over about 23.7 hours.
RETRY_DELAYS: tuple[int, ...] = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800)
JITTER = 0.2  # each delay is stretched or shrunk by up to 20% so retries of a burst do not arrive together
MAX_URL_LENGTH = 2048


@enum.unique
class WebhookEvent(enum.StrEnum):
    """The events a webhook can subscribe to: seed 001's vocabulary, as dashboards get it."""

    QR_CODE = EventType.QR_CODE.value
    CONNECTION_SUCCESS = EventType.CONNECTION_SUCCESS.value
    CONNECTION_LOST = EventType.CONNECTION_LOST.value
    LOGGED_OUT = EventType.LOGGED_OUT.value
    INCOMING_MESSAGE = EventType.INCOMING_MESSAGE.value
    MESSAGE_SENT = EventType.MESSAGE_SENT.value
    MESSAGE_STATUS = EventType.MESSAGE_STATUS.value
    GROUPS_SYNCED = EventType.GROUPS_SYNCED.value
    TEMPLATE_UPDATED = EventType.TEMPLATE_UPDATED.value
    # Every change of a session's status with its reason (banned, temporarily banned, restricted,
    # rate limited, logged out, replaced, ...): domain/status_reports.py
    SESSION_STATUS = EventType.SESSION_STATUS.value
    SESSION_EXPIRED = EventType.SESSION_EXPIRED.value
    CONTACT_CREATED = EventType.CONTACT_CREATED.value
    CONTACT_UPDATED = EventType.CONTACT_UPDATED.value
    GROUP_UPDATED = EventType.GROUP_UPDATED.value
    GROUP_OPERATION = EventType.GROUP_OPERATION.value


WEBHOOK_EVENTS = frozenset(e.value for e in WebhookEvent)
# Sent only to webhooks that name them: a webhook made for "every event" keeps getting the message and
# session events it was written for, and a CRM that syncs leads asks for contacts explicitly.
OPT_IN_EVENTS = frozenset({WebhookEvent.CONTACT_CREATED.value, WebhookEvent.CONTACT_UPDATED.value})


@enum.unique
class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its first attempt or for a retry
    DELIVERED = "delivered"  # the CRM answered 2xx
    FAILED = "failed"  # every attempt failed, the CRM answered 410 Gone, or the webhook was disabled


WebhookUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="Where to POST events: https, on a public address (redirects are not followed)",
    ),
]
EventFilter = Annotated[
    list[WebhookEvent],
    Field(
        max_length=len(WebhookEvent),
        description="Events to send; empty (the default) means all of them but contact_created and "
        "contact_updated, which are sent only when named",
    ),
]
Description = Annotated[str | None, Field(max_length=500, description="What this webhook is for")]


class EvolutionFormat(BaseModel):
    """A webhook that speaks Evolution API v2 (set by its `webhook/set`, wagate/evolution): one
    instance's events, as `{event, instance, data, destination, date_time, sender, server_url, apikey}`
    bodies (still signed), each to `url` or, with `by_events`, to `url/<event-name>`."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    instance: str = Field(description="The Evolution instance (the session's name)")
    events: list[str] = Field(description="Evolution's event names (MESSAGES_UPSERT, ...); empty: none")
    by_events: bool = Field(False, description="Evolution's webhookByEvents: the event name ends the URL")
    base64: bool = Field(False, description="Evolution's webhookBase64: small media files inline as base64")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers sent with each call")


class Webhook(BaseModel):
    """A CRM endpoint as the API shows it (the signing secret is shown once, at creation)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    tenant_id: str
    url: str
    events: list[WebhookEvent] = Field(description="Subscribed events; empty means all")
    description: str | None = None
    enabled: bool = Field(description="False after the CRM answered 410 Gone (or by PATCH)")
    disabled_reason: str | None = None
    secret_hint: str = Field(description="The first characters of the signing secret, to recognise it")
    previous_secret_expires_at: float | None = Field(
        None,
        description="After a rotation: until when the previous secret still signs beside the new one",
    )
    created_at: float
    updated_at: float
    session_id: str | None = Field(None, description="Only this session's events (null: every session's)")
    evolution: EvolutionFormat | None = Field(
        None, description="Set for a webhook made by the Evolution API surface: bodies in Evolution's shape"
    )

    def wants(self, event_type: str, session_id: str | None = None) -> bool:
        if self.session_id is not None and session_id is not None and session_id != self.session_id:
            return False
        if not self.events:
            return self.enabled and event_type not in OPT_IN_EVENTS
        return self.enabled and event_type in self.events


class CreatedWebhook(Webhook):
    secret: str = Field(description="whsec_...: verify signatures with it. Shown only now; store it")


class Attempt(BaseModel):
    """One try at delivering: what the CRM answered (or why there was no answer), and how fast."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    number: int
    at: float
    status_code: int | None = Field(None, description="The CRM's HTTP status; null when it never answered")
    latency_ms: float | None = None
    error: str | None = Field(None, description="Why the attempt did not count as delivered")
    response: str | None = Field(None, description="The first bytes of the CRM's answer")
    replay: bool = False


class Delivery(BaseModel):
    """One event for one webhook: the body as signed (the same on every attempt) and its attempts."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str = Field(description="Sent as `webhook-id`: the same on every retry and replay")
    webhook_id: str
    event_type: WebhookEvent
    status: DeliveryStatus
    payload: dict[str, Any] = Field(description="The JSON body sent to the CRM")
    attempt_count: int
    attempts: list[Attempt]
    next_attempt_at: float | None = Field(None, description="When the next retry is due, while pending")
    created_at: float
    updated_at: float


# ---- secrets and signatures ------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(key: bytes, message_id: str, timestamp: int, body: str) -> str:
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(
    signing_keys: Sequence[bytes], message_id: str, timestamp: int, body: str
) -> dict[str, str]:
    """The Standard Webhooks headers, with one signature per key (the current secret's first)."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(k, message_id, timestamp, body) for k in signing_keys),
    }


# ---- retries ---------------------------------------------------------------------------------------


def retry_delay(attempt: int, delays: Sequence[int], rng: random.Random | None = None) -> float | None:
    """Seconds to wait after failed attempt number `attempt` (1-based); None when it was the last."""
    if attempt > len(delays):
        return None
    base = delays[attempt - 1]
    return base * (1 + JITTER * (2 * (rng or _rng).random() - 1))


_rng = random.SystemRandom()


# ---- ids -------------------------------------------------------------------------------------------

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def delivery_id(at: float, *parts: str) -> str:
    """`dlv_` + a ULID-shaped id: the event's millisecond, then 80 bits hashed from `parts`.

    Deterministic, so the same event offered twice (the events queue delivers at least once) maps to the
    same delivery, and time-ordered, so a webhook's deliveries list newest first by key.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return "dlv_" + _base32((int(at * 1000) << 80) | int.from_bytes(digest[:10], "big"))


def delivery_id_floor(at: float) -> str:
    """The smallest delivery id of millisecond `at` (to list deliveries since a time)."""
    return "dlv_" + _base32(int(at * 1000) << 80)


def _base32(value: int) -> str:
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))
