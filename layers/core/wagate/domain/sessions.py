"""WhatsApp sessions: providers, the one status vocabulary, and which status may follow which."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

SessionName = Annotated[
    str, Field(min_length=1, max_length=120, description="A name the operator recognises")
]


@enum.unique
class Provider(enum.StrEnum):
    """How a session reaches WhatsApp."""

    WEB = "web"  # a linked device over the WhatsApp Web multi-device protocol (QR pairing)
    SANDBOX = "sandbox"  # a simulated network for demos and CRM development; never real WhatsApp
    CLOUD = "cloud"  # Meta's official Cloud API (a phone number id and a token; no socket)


@enum.unique
class SessionStatus(enum.StrEnum):
    PENDING = "pending"  # created; nobody has started it yet
    QR = "qr"  # waiting for the phone to scan a QR code
    CONNECTING = "connecting"  # opening the socket / logging in with stored keys
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # transient: the connector is retrying with backoff
    LOGGED_OUT = "logged_out"  # the phone unlinked us (or we logged out): keys are gone, scan again
    FAILED = "failed"  # permanent: banned, or a configuration the connector cannot fix


PERMANENT = frozenset({SessionStatus.LOGGED_OUT, SessionStatus.FAILED})

# Which status may follow which. Anything may go to LOGGED_OUT or FAILED; a permanent status only
# leaves through an explicit (re)connect, which starts again at PENDING.
_NEXT: dict[SessionStatus, frozenset[SessionStatus]] = {
    SessionStatus.PENDING: frozenset({SessionStatus.QR, SessionStatus.CONNECTING, SessionStatus.CONNECTED}),
    SessionStatus.QR: frozenset(
        {
            SessionStatus.QR,
            SessionStatus.CONNECTING,
            SessionStatus.CONNECTED,
            SessionStatus.DISCONNECTED,
            SessionStatus.PENDING,
        }
    ),
    SessionStatus.CONNECTING: frozenset(
        {SessionStatus.QR, SessionStatus.CONNECTED, SessionStatus.DISCONNECTED, SessionStatus.PENDING}
    ),
    SessionStatus.CONNECTED: frozenset(
        {SessionStatus.DISCONNECTED, SessionStatus.CONNECTING, SessionStatus.PENDING}
    ),
    SessionStatus.DISCONNECTED: frozenset(
        {SessionStatus.CONNECTING, SessionStatus.CONNECTED, SessionStatus.QR, SessionStatus.PENDING}
    ),
    SessionStatus.LOGGED_OUT: frozenset({SessionStatus.PENDING}),
    SessionStatus.FAILED: frozenset({SessionStatus.PENDING}),
}


def can_move(current: SessionStatus, new: SessionStatus) -> bool:
    """Whether `new` may follow `current` (staying put is always allowed: events can repeat)."""
    if new == current or new in PERMANENT:
        return True
    return new in _NEXT[current]


class Session(BaseModel):
    """A WhatsApp number linked to a tenant, as the API shows it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    tenant_id: str
    name: SessionName
    provider: Provider
    phone: str | None = Field(None, description="E.164 number, once known (given, or learned at pairing)")
    status: SessionStatus
    status_reason: str | None = None
    status_detail: str | None = Field(
        None, description="what happened, in words (e.g. why the connection to WhatsApp cannot open)"
    )
    link_by_code: bool = Field(
        False,
        description="web: link by a code typed on the phone (connect with a phone) instead of a QR code",
    )
    pairing_code: str | None = Field(
        None,
        description="web, linking by code: the 8 characters to type on the phone under Linked devices → "
        "Link with phone number, while the session waits for them",
    )
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: float
    updated_at: float
    connected_at: float | None = None
    sandbox: bool = Field(False, description="True for simulated sessions: nothing reaches real WhatsApp")
