"""What engines emit while a connection lives: QR codes, pairing, connected, messages, receipts, groups.

`Disconnected`, `LoggedOut` and `Failed` are built by the supervisor from the engine's `Exit`, so an end
is reported exactly once, with the delay the supervisor chose.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from wagate.domain.media import MediaKind as MediaKind  # one kind list: the media store's


@enum.unique
class ReceiptStatus(enum.StrEnum):
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"  # voice notes and videos


# WhatsApp's in-message previews are a few KB; a larger one is not passed on (it would ride every event,
# webhook and stored row of the message).
MAX_THUMBNAIL_BYTES = 16 * 1024


@dataclass(frozen=True)
class MediaRef:
    """An incoming attachment: what it is, and (`fetch`, engine-private) how the engine downloads it.

    `fetch` may hold secrets (a WhatsApp media key): it never leaves the connector. The connector downloads
    the file into the media store (connector/media_fetch.py) and replaces `fetch` by `stored` before the
    event is published; the publisher drops `fetch` whatever happens (publisher.py)."""

    kind: MediaKind
    mime_type: str
    url: str | None = None  # a provider URL holding no secret (never WhatsApp's CDN URL with a key)
    size: int | None = None
    filename: str | None = None
    caption: str | None = None
    sha256: str | None = None
    voice: bool = False  # a voice note (push-to-talk)
    duration: int | None = None  # seconds (audio, video)
    # The small JPEG WhatsApp sends inside the message (images, videos, documents): base64, at most
    # MAX_THUMBNAIL_BYTES; no secret, shown before the file itself is opened.
    thumbnail: str | None = None
    fetch: object | None = field(default=None, repr=False, compare=False)
    stored: StoredMedia | None = None


@dataclass(frozen=True)
class StoredMedia:
    """The file as the media store holds it (id → `media/{tenant}/{id}`), or why it could not be."""

    id: str | None
    mime: str | None = None
    size: int | None = None
    sha256: str | None = None
    error: str | None = None  # e.g. "expired": the CRM still gets the message, without the file


@dataclass(frozen=True)
class QrCode:
    qr: str  # the text to encode in the QR code
    expires_at: float  # epoch seconds; a new QrCode follows unless the phone scans


@dataclass(frozen=True)
class PairingCode:
    code: str  # 8 characters the user types on the phone (Linked devices → Link with phone number)
    expires_at: float  # epoch seconds


@dataclass(frozen=True)
class Paired:
    phone: str  # E.164
    jid: str


@dataclass(frozen=True)
class Connected:
    phone: str
    jid: str
    name: str | None = None


@dataclass(frozen=True)
class IncomingMessage:
    provider_message_id: str  # unique per session
    chat_jid: str  # the 1:1 chat's or the group's jid
    sender_jid: str
    sender_phone: str | None  # E.164 when known (a LID-only sender has none)
    timestamp: float
    text: str | None = None
    media: MediaRef | None = None
    quoted_id: str | None = None  # provider id of the message this one replies to
    group_jid: str | None = None
    push_name: str | None = None
    from_me: bool = False  # sent from the phone itself
    content: dict[str, Any] | None = None  # the typed content (wagate.domain.content's JSON)
    sender_lid: str | None = None  # the sender's LID (`…@lid`) when known: one contact for both ids
    historical: bool = False  # imported from the phone's history sync: stored, not news for a CRM


@dataclass(frozen=True)
class Receipt:
    chat_jid: str
    provider_message_ids: tuple[str, ...]
    status: ReceiptStatus
    at: float
    by_jid: str | None = None  # in groups: which participant
    by_me: bool = False  # read on the account's own phone (or another of its devices): the chat is read


@dataclass(frozen=True)
class ContactInfo:
    """What the engine learned about a person: the phone (E.164), the LID (`…@lid`), the push name."""

    phone: str | None = None
    lid: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ContactsSynced:
    """People learned outside a message (the phone's history sync, a LID migration): the service joins a
    contact known by LID with the one known by phone, and keeps names."""

    contacts: tuple[ContactInfo, ...]
    source: str  # history_sync | lid_migration


@dataclass(frozen=True)
class NumberStatus:
    """Whether one phone number is on WhatsApp, as the network answered (POST /v1/contacts/check)."""

    phone: str  # E.164, as asked
    status: str  # on_whatsapp | not_on_whatsapp | unknown
    jid: str | None = None  # the account, when on WhatsApp
    lid: str | None = None


@dataclass(frozen=True)
class NumbersChecked:
    """The answer to a check_numbers command: one status per number, or why there is none (`error`)."""

    check_id: str
    results: tuple[NumberStatus, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class GroupsListed:
    groups: tuple[GroupInfo, ...]


@dataclass(frozen=True)
class GroupInfo:
    jid: str
    subject: str
    participants: int
    owner_jid: str | None = None
    created_at: float | None = None
    description: str | None = None
    # Who is in it: filled for one group's metadata, left empty in the list (keeps `groups_synced` small)
    members: tuple[GroupMember, ...] = ()


@dataclass(frozen=True)
class GroupMember:
    """One participant of a group: as the group names it (`jid`), its phone (E.164) and LID when known."""

    jid: str
    phone: str | None = None
    lid: str | None = None
    role: str | None = None  # "admin" | "superadmin" | None (a member)


@dataclass(frozen=True)
class GroupChanged:
    """Someone changed a group this number is in (WhatsApp's `w:gp2` notification). `action`: created
    (the number was put in a new group), add, remove, promote, demote, subject, description,
    invite_revoked (invite_link is the new one), left (the number was removed or left), deleted; what it
    changed rides along."""

    group_jid: str
    action: str
    at: float
    members: tuple[GroupMember, ...] = ()  # who was added, removed, promoted or demoted
    subject: str | None = None
    description: str | None = None  # "" when the description was deleted
    invite_link: str | None = None
    by_jid: str | None = None  # who did it, when WhatsApp says
    by_phone: str | None = None
    group: GroupInfo | None = None  # the whole group as read again after the change, when it could be
    reason: str | None = None  # e.g. "invite" (joined by link), "linked_group_join"


@dataclass(frozen=True)
class GroupOperationDone:
    """The outcome of a group operation the API asked for (connector/commands.py publishes it)."""

    operation_id: str
    action: str
    group_jid: str | None
    ok: bool
    result: dict[str, Any] = field(default_factory=dict)  # group, participants [{jid, phone, status}], link
    error_code: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Throttled:
    """WhatsApp refused a kind of query with 429 rate-overlimit: the number stays connected, rate-limited
    (reported once per episode; the web engine's throttle.py)."""

    request: str  # which kind of query, e.g. number_check, group_metadata, device_list
    detail: str
    retry_in: float  # seconds until that kind is asked again


@dataclass(frozen=True)
class ThrottleEnded:
    """The rate-limit episode is over: WhatsApp answered again, or refused nothing for a quiet period."""

    detail: str


@dataclass(frozen=True)
class Disconnected:
    """Built by the supervisor from a retryable Exit."""

    reason: str
    retry_in: float | None
    detail: str = ""  # what went wrong, for people: "TLS: the edge's certificate is not trusted (...)"


@dataclass(frozen=True)
class LoggedOut:
    """Built by the supervisor from an Exit with logged_out."""

    reason: str  # logged_out, or what unlinked us ("logged out by request")
    detail: str = ""  # what WhatsApp said ("login refused: logged out (401)")


@dataclass(frozen=True)
class Failed:
    """Built by the supervisor from a permanent Exit (banned, temporarily banned, no engine, ...)."""

    reason: str
    detail: str = ""
    expires_at: float | None = None  # a temporary ban: when WhatsApp said it ends (epoch seconds)


EngineEvent = (
    QrCode
    | PairingCode
    | Paired
    | Connected
    | IncomingMessage
    | Receipt
    | GroupsListed
    | GroupChanged
    | GroupOperationDone
    | ContactsSynced
    | NumbersChecked
    | Throttled
    | ThrottleEnded
    | Disconnected
    | LoggedOut
    | Failed
)
Emit = Callable[[EngineEvent], Awaitable[None]]
"""Publishes one event. For an IncomingMessage or a Receipt it returns once the event is durably queued:
engines acknowledge the stanza behind it to the network only then (a crash before that means a
redelivery, never a loss)."""
