"""The Engine interface: all the connector sees of an engine (web, sandbox, ...), its events and key store.

Lifecycle. The supervisor builds one engine per connection attempt (engines need not support a second
`run()`): `Engine(session, keys, emit)`, then `await run()`. `run()` opens the socket, logs in with the
stored keys (or shows QR codes), emits events while it lives, and returns an `Exit` when the connection
ends. The `Exit` is the reconnect decision as data: retry NOW (e.g. the restart WhatsApp asks for after
pairing), after a BACKOFF (a transient drop), or NEVER (logged out, banned, replaced). Ordinary ends never
raise; an exception out of `run()` is a bug, and the supervisor treats it as a BACKOFF.

Events. Engines emit only what they observe: QR codes, pairing, connected, incoming messages, receipts,
group lists. What ends a connection (`Disconnected`, `LoggedOut`, `Failed`) is built by the supervisor
from the `Exit`, so it is reported exactly once, with the delay the supervisor chose.

Keys. Everything an engine must remember between connections goes through its `KeyStore`, by namespace.
One incoming stanza's key changes go in one `async with keys.transaction():` so they commit together.

    EngineError                      is_transient says whether a later retry may succeed
    ├── NotConnected                 no live connection right now (transient)
    ├── SendRejected                 WhatsApp refused this message (e.g. the number is not on WhatsApp)
    └── Unsupported                  this engine cannot do that (e.g. a sandbox action on the web engine)
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from wagate.domain.messages import whatsapp_message_id

# ---- keys --------------------------------------------------------------------------------------------


@enum.unique
class KeyNamespace(enum.StrEnum):
    CREDS = "creds"  # the device's own identity and registration (one record, id "creds")
    SESSION = "session"  # Signal sessions, by peer address
    PRE_KEY = "pre-key"  # one-time pre-keys, by id
    SENDER_KEY = "sender-key"  # group sender keys, by group and sender
    IDENTITY = "identity"  # peers' identity keys, by address
    DEVICE_LIST = "device-list"  # peers' device lists, by user
    LID_MAP = "lid-map"  # phone number ↔ LID mappings
    PRIVACY_TOKEN = "privacy-token"  # contacts' trusted-contact tokens (tctoken), by contact


class KeyStore(Protocol):
    """An engine's protocol state for one session, by namespace. Values are opaque bytes.

    Writes may raise `connector.leases.LeaseLost` (a ConflictError): this connector no longer holds the
    session, and the engine must stop.
    """

    async def get(self, namespace: str, ids: Iterable[str]) -> dict[str, bytes]:
        """The stored values of `ids` that exist (missing ids are simply absent from the result)."""
        ...

    async def put(self, namespace: str, values: Mapping[str, bytes | None]) -> None:
        """Store each value; None deletes. Inside a transaction, applied when it commits."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Everything put inside commits together at the end (or not at all, on an exception).

        A transaction belongs to the task that opened it: its reads see its own writes, other tasks
        (even ones it starts) see them after the commit. Transactions of one store run one at a time; a
        nested transaction joins the outer one.
        """
        ...

    async def wipe(self) -> None:
        """Delete every key of the session, all namespaces (after a logout)."""
        ...


# ---- what an engine is told about its session --------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo:
    tenant_id: str
    session_id: str
    provider: str
    phone: str | None = None  # E.164, when the operator gave it or a previous pairing learned it
    link_by_code: bool = False  # link by a code typed on the phone (of `phone`) instead of a QR code

    @property
    def label(self) -> str:
        """`tenant/session`, for logs."""
        return f"{self.tenant_id}/{self.session_id}"


# ---- how a connection ended --------------------------------------------------------------------------


@enum.unique
class Retry(enum.StrEnum):
    NOW = "now"  # reconnect at once (WhatsApp asked for a restart)
    BACKOFF = "backoff"  # transient: reconnect after backoff()
    NEVER = "never"  # permanent: stay down until someone connects the session again


@enum.unique
class ExitReason(enum.StrEnum):
    STOPPED = "stopped"  # stop() was called
    RESTART_REQUIRED = "restart_required"  # e.g. right after pairing
    CONNECTION_LOST = "connection_lost"  # network drop, server closed the stream, keepalive timeout
    REPLACED = "replaced"  # another socket for the same device took over
    LOGGED_OUT = "logged_out"  # unlinked from the phone, or logout() was called
    BANNED = "banned"  # the number is banned
    QR_TIMEOUT = "qr_timeout"  # nobody scanned the QR codes in time
    PASSKEY_REQUIRED = "passkey_required"  # WhatsApp wants the account's passkey to link: a person must act
    FAILED = "failed"  # something the connector cannot fix by retrying (bad configuration, no engine)
    CRASHED = "crashed"  # the engine raised (a bug): retried with backoff


@dataclass(frozen=True)
class Exit:
    reason: ExitReason
    retry: Retry
    logged_out: bool = False  # the device is unlinked: the supervisor wipes the keys
    detail: str = ""

    @classmethod
    def stopped(cls) -> Exit:
        return cls(ExitReason.STOPPED, Retry.NEVER)

    @classmethod
    def lost(cls, detail: str = "") -> Exit:
        return cls(ExitReason.CONNECTION_LOST, Retry.BACKOFF, detail=detail)

    @classmethod
    def restart(cls, detail: str = "") -> Exit:
        return cls(ExitReason.RESTART_REQUIRED, Retry.NOW, detail=detail)

    @classmethod
    def logged_out_(cls, detail: str = "") -> Exit:
        return cls(ExitReason.LOGGED_OUT, Retry.NEVER, logged_out=True, detail=detail)

    @classmethod
    def banned(cls, detail: str = "") -> Exit:
        return cls(ExitReason.BANNED, Retry.NEVER, detail=detail)

    @classmethod
    def replaced(cls, detail: str = "") -> Exit:
        return cls(ExitReason.REPLACED, Retry.NEVER, detail=detail)

    @classmethod
    def failed(cls, detail: str) -> Exit:
        return cls(ExitReason.FAILED, Retry.NEVER, detail=detail)


# ---- events ------------------------------------------------------------------------------------------


@enum.unique
class ReceiptStatus(enum.StrEnum):
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"  # voice notes and videos


@enum.unique
class MediaKind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"


@dataclass(frozen=True)
class MediaRef:
    """Where an incoming attachment can be fetched (engine-specific `url`), and what it is."""

    kind: MediaKind
    mime_type: str
    url: str | None = None
    size: int | None = None
    filename: str | None = None
    caption: str | None = None
    sha256: str | None = None


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


@dataclass(frozen=True)
class Receipt:
    chat_jid: str
    provider_message_ids: tuple[str, ...]
    status: ReceiptStatus
    at: float
    by_jid: str | None = None  # in groups: which participant


@dataclass(frozen=True)
class GroupInfo:
    jid: str
    subject: str
    participants: int
    owner_jid: str | None = None
    created_at: float | None = None
    description: str | None = None


@dataclass(frozen=True)
class GroupsListed:
    groups: tuple[GroupInfo, ...]


@dataclass(frozen=True)
class Disconnected:
    """Built by the supervisor from a retryable Exit."""

    reason: str
    retry_in: float | None
    detail: str = ""  # what went wrong, for people: "TLS: the edge's certificate is not trusted (...)"


@dataclass(frozen=True)
class LoggedOut:
    """Built by the supervisor from an Exit with logged_out."""

    reason: str


@dataclass(frozen=True)
class Failed:
    """Built by the supervisor from a permanent Exit (banned, no engine, ...)."""

    reason: str
    detail: str = ""


EngineEvent = (
    QrCode
    | PairingCode
    | Paired
    | Connected
    | IncomingMessage
    | Receipt
    | GroupsListed
    | Disconnected
    | LoggedOut
    | Failed
)
Emit = Callable[[EngineEvent], Awaitable[None]]


# ---- sending -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutgoingMedia:
    kind: MediaKind
    mime_type: str
    url: str | None = None  # fetched by the engine
    data: bytes | None = None  # or given inline
    caption: str | None = None
    filename: str | None = None


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    at: float
    to_jid: str


def provider_message_id(message_id: str) -> str:
    """The WhatsApp message id for one of our message ids (see `wagate.domain.messages`)."""
    return whatsapp_message_id(message_id)


def to_jid(to: str) -> str:
    """`+15551234567` → `15551234567@s.whatsapp.net`; a jid is returned unchanged. Raises ValueError."""
    if "@" in to:
        return to
    digits = to[1:] if to.startswith("+") else to
    if not digits.isdigit() or not 6 <= len(digits) <= 15:
        raise ValueError(f"not a phone number in E.164 form: {to!r}")
    return f"{digits}@s.whatsapp.net"


def jid_phone(jid: str) -> str | None:
    """The E.164 phone of a user jid (`15551234567:3@s.whatsapp.net` → `+15551234567`), else None."""
    user, _, server = jid.partition("@")
    if server not in ("s.whatsapp.net", "c.us"):
        return None
    digits = user.split(":", 1)[0]
    return f"+{digits}" if digits.isdigit() else None


# ---- errors ------------------------------------------------------------------------------------------


class EngineError(Exception):
    is_transient = False

    def __init__(self, message: str, *, code: str = "engine_error", details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details


class NotConnected(EngineError):
    is_transient = True


class SendRejected(EngineError):
    pass


class Unsupported(EngineError):
    pass


# ---- the engine --------------------------------------------------------------------------------------


class Engine(ABC):
    """One WhatsApp connection attempt for one session. See the module docstring for the lifecycle."""

    def __init__(self, session: SessionInfo, keys: KeyStore, emit: Emit) -> None:
        self.session = session
        self.keys = keys
        self.emit = emit

    @property
    @abstractmethod
    def connected(self) -> bool:
        """Logged in and able to send now."""

    @abstractmethod
    async def run(self) -> Exit:
        """Connect, log in (or show QR codes), and serve until the connection ends."""

    @abstractmethod
    async def stop(self) -> None:
        """Close the socket cleanly; `run()` then returns `Exit.stopped()`. Safe to call at any time."""

    @abstractmethod
    async def send_text(
        self, to: str, text: str, message_id: str, *, quoted_id: str | None = None
    ) -> SendResult:
        """Send with `provider_message_id(message_id)`. Raises NotConnected, SendRejected."""

    @abstractmethod
    async def send_media(
        self, to: str, media: OutgoingMedia, message_id: str, *, quoted_id: str | None = None
    ) -> SendResult:
        """Raises NotConnected, SendRejected."""

    @abstractmethod
    async def mark_read(self, chat_jid: str, message_ids: Sequence[str]) -> None:
        """Send read receipts for incoming messages. Raises NotConnected."""

    @abstractmethod
    async def list_groups(self) -> list[GroupInfo]:
        """The groups this number participates in. Raises NotConnected."""

    @abstractmethod
    async def logout(self) -> None:
        """Unlink this device on WhatsApp's side; `run()` then returns a logged-out Exit."""

    async def send_typing(self, to: str, typing: bool) -> None:
        """Show (or stop showing) "typing…" in the chat with `to`: WhatsApp's `composing` / `paused`
        presence. Optional: an engine that cannot leaves it a no-op. Raises NotConnected."""
        return None

    async def simulate(self, action: str, data: Mapping[str, Any]) -> None:
        """Sandbox only: make the simulated network do something. Raises Unsupported elsewhere."""
        raise Unsupported(f"{type(self).__name__} does not simulate anything", code="not_sandbox")
