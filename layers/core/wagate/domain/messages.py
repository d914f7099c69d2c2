"""Messages: the message as the API shows it, the one status vocabulary, and the rule that status only moves
forward. What a message says is its `content` (domain/content.py, one typed union for every kind)."""

from __future__ import annotations

import enum
import hashlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wagate.domain.content import Content, Kind

MessageText = Annotated[
    str, Field(min_length=1, max_length=4096, description="Plain text, up to 4096 characters")
]
MAX_TIMESTAMP = 253402300799.0  # 9999-12-31T23:59:59Z: the latest epoch second a datetime can hold
MAX_MEDIA_BYTES = 16 * 1024 * 1024  # WhatsApp's limit for most media (seed 003)


@enum.unique
class Direction(enum.StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


@enum.unique
class MessageStatus(enum.StrEnum):
    SCHEDULED = "scheduled"  # waiting for its time (scheduled_at)
    QUEUED = "queued"  # accepted, waiting for the connector
    SENDING = "sending"  # claimed by a connector
    SENT = "sent"  # WhatsApp accepted it (one tick)
    DELIVERED = "delivered"  # reached the phone (two ticks)
    READ = "read"  # read (blue ticks); `played` receipts of voice notes also land here
    FAILED = "failed"  # gave up: see `error`
    CANCELLED = "cancelled"  # cancelled before it was sent
    RECEIVED = "received"  # an inbound message


# How far along each status is. A receipt may arrive late or twice: an update only applies when it moves
# the message forward, so `delivered` after `read` changes nothing (monotonic).
PROGRESS: dict[MessageStatus, int] = {
    MessageStatus.SCHEDULED: 0,
    MessageStatus.QUEUED: 1,
    MessageStatus.SENDING: 2,
    MessageStatus.SENT: 3,
    MessageStatus.DELIVERED: 4,
    MessageStatus.READ: 5,
    MessageStatus.RECEIVED: 5,
    MessageStatus.FAILED: 6,
    MessageStatus.CANCELLED: 6,
}
STAMPS: dict[MessageStatus, str] = {
    MessageStatus.SENT: "sent_at",
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
}


def implied_steps(previous: MessageStatus, new: MessageStatus) -> list[MessageStatus]:
    """The steps a receipt skipped: `read` implies `delivered`, which implies `sent`. Receipts arrive out
    of order (Meta's webhooks, WhatsApp's own), and a CRM counting deliveries must still count this one."""
    if new not in (MessageStatus.DELIVERED, MessageStatus.READ):
        return []
    return [
        s
        for s in (MessageStatus.SENT, MessageStatus.DELIVERED)
        if PROGRESS[previous] < PROGRESS[s] < PROGRESS[new]
    ]


CANCELLABLE = frozenset({MessageStatus.SCHEDULED, MessageStatus.QUEUED})


def moves_forward(current: MessageStatus, new: MessageStatus) -> bool:
    """Whether `new` may replace `current`. Failure may only follow statuses before `delivered`,
    cancellation only those before `sent`."""
    if current in (MessageStatus.FAILED, MessageStatus.CANCELLED):
        return False
    if new == MessageStatus.FAILED:
        # Cloud API: `sent` is Meta accepting the request; its webhook may report a failure afterwards.
        return PROGRESS[current] < PROGRESS[MessageStatus.DELIVERED]
    if new == MessageStatus.CANCELLED:
        return PROGRESS[current] < PROGRESS[MessageStatus.SENT]
    return PROGRESS[new] > PROGRESS[current]


ContentKind = Kind  # the message's kind is its content's (domain/content.py)


class MediaContent(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    url: str | None = Field(None, description="https URL wagate fetches (up to 16 MB)")
    upload_id: str | None = Field(
        None,
        description="Or a stored file's media id (POST /v1/media, or a received attachment's); on a cloud "
        "session also a Meta media id",
    )
    mime: str | None = Field(
        None,
        min_length=3,
        max_length=100,
        description="e.g. image/jpeg, application/pdf (with url; a stored file's type is sniffed)",
    )
    caption: str | None = Field(None, max_length=1024)
    filename: str | None = Field(None, max_length=255)


class ReactionMark(BaseModel):
    """One person's reaction on a message (the latest per person; an empty emoji removes it)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, defer_build=True)

    sender: str = Field(alias="from", description="E.164 phone or jid of who reacted; `me` for our own")
    emoji: str
    at: float


class Revision(BaseModel):
    """What a message said before an edit or a delete replaced it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    change: str = Field(description="edit or delete")
    text: str | None = None
    content: Content | None = None
    at: float = Field(description="When it was replaced (epoch seconds)")
    change_id: str | None = Field(None, description="The provider id of the edit or delete")


class MessageError(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    code: str = Field(description="Machine-readable reason, e.g. not_on_whatsapp, session_logged_out")
    message: str
    retryable: bool = False


class Message(BaseModel):
    """A message as the API shows it (outbound or inbound)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, defer_build=True)

    id: str
    tenant_id: str
    session_id: str
    direction: Direction
    to: str | None = Field(None, description="E.164 phone or group id (outbound)")
    sender: str | None = Field(None, alias="from", description="E.164 phone or jid (inbound)")
    chat: str = Field(description="The conversation's peer: E.164 phone or group jid")
    kind: ContentKind = Field(description="What the message is: its content's type (see `content`)")
    text: str | None = Field(None, description="The text, caption or a short rendering of the content")
    content: Content | None = Field(None, description="The typed content (README: content model)")
    template: dict[str, Any] | None = None
    media: MediaContent | None = None
    status: MessageStatus
    error: MessageError | None = None
    provider_message_id: str | None = None
    quoted_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    broadcast_id: str | None = Field(None, description="The broadcast this message is one of (outbound)")
    scheduled_at: float | None = None
    created_at: float
    updated_at: float
    sent_at: float | None = None
    delivered_at: float | None = None
    read_at: float | None = None
    attempts: int = 0
    sandbox: bool = False
    source: Literal["phone"] | None = Field(
        None,
        description="`phone`: an outbound message typed on the account's own phone (WhatsApp's app), not "
        "sent through wagate; absent for messages sent through wagate and for inbound ones",
    )
    reactions: list[ReactionMark] = Field(default_factory=list, description="Reactions on this message")
    edited_at: float | None = Field(None, description="When it was last edited")
    deleted_at: float | None = Field(None, description="When it was deleted for everyone")
    history: list[Revision] = Field(
        default_factory=list, description="What it said before each edit or delete, oldest first"
    )


def whatsapp_message_id(message_id: str) -> str:
    """The WhatsApp message id for one of our message ids: the same on every retry, so a re-send after a
    crash is deduplicated by the recipient. Shaped like the ids WhatsApp Web clients use (3EB0 + hex)."""
    return "3EB0" + hashlib.sha256(message_id.encode()).hexdigest()[:18].upper()
