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

Keys. Everything an engine must remember between connections goes through its `KeyStore`, by namespace
(`engines/keys.py`). The rest lives beside this module by role: `events.py` (what engines emit),
`exits.py` (how a connection ended), `errors.py` (what their calls raise).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.engines.errors import Unsupported
from connector.engines.events import Emit, GroupInfo, MediaKind, MediaRef, NumberStatus
from connector.engines.exits import Exit
from connector.engines.keys import KeyStore
from wagate.domain.messages import whatsapp_message_id

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


# ---- sending -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutgoingMedia:
    kind: MediaKind
    mime_type: str
    url: str | None = None  # fetched by the engine
    data: bytes | None = None  # or given inline
    caption: str | None = None
    filename: str | None = None
    path: Path | None = None  # or a file (a stored upload the connector copied out of the media store)
    voice: bool = False  # audio sent as a voice note (push-to-talk)
    media_id: str | None = None  # a stored file (media store), read by the connector before the send
    size: int | None = None


@dataclass(frozen=True)
class MessageRef:
    """An earlier message a send names: the one reacted to, edited, deleted or quoted."""

    provider_id: str
    from_me: bool  # we sent it (then its author is us)
    participant: str | None = None  # in groups: the jid of who wrote it, when not us
    content: dict[str, Any] | None = None  # quotes: what it said (the content model's JSON)


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


# ---- groups ------------------------------------------------------------------------------------------

# What a group operation can be (GroupOp.action).
GROUP_OPERATIONS = frozenset(
    {"create", "add", "remove", "promote", "demote", "subject", "description"}
    | {"invite", "revoke_invite", "leave"}
)


@dataclass(frozen=True)
class GroupOp:
    """One change to a group (or its creation), as the API asked for it."""

    action: str  # one of GROUP_OPERATIONS
    group_jid: str | None = None  # None for create
    subject: str | None = None  # create, subject
    description: str | None = None  # description ("" deletes it); create may set one too
    participants: tuple[str, ...] = ()  # E.164 or user jids: create, add, remove, promote, demote


@dataclass(frozen=True)
class ParticipantOutcome:
    """What WhatsApp said about one participant of an add/remove/promote/demote (or a create)."""

    jid: str
    phone: str | None
    status: int  # 200 done; else the server's code (403 privacy: invite them; 408 left recently; 409 ...)
    invite_code: str | None = None  # with 403: an invitation the server prepared instead


@dataclass(frozen=True)
class GroupOpResult:
    # The group after the change (its members too: a group of 1,024 keeps the outcome event well under the
    # events queue's 256 KB, so they are carried once), when the answer (or a refresh) says
    group: GroupInfo | None = None
    participants: tuple[ParticipantOutcome, ...] = ()
    invite_link: str | None = None


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

    async def check_numbers(self, phones: Sequence[str]) -> list[NumberStatus]:
        """Whether each number is on WhatsApp. An engine that cannot ask says `unknown`, never guesses.
        Raises NotConnected."""
        return [NumberStatus(phone, "unknown") for phone in phones]

    @abstractmethod
    async def logout(self) -> None:
        """Unlink this device on WhatsApp's side; `run()` then returns a logged-out Exit."""

    async def send_content(
        self,
        to: str,
        content: Mapping[str, Any],
        message_id: str,
        *,
        target: MessageRef | None = None,
        quoted: MessageRef | None = None,
    ) -> SendResult:
        """Send a typed kind (the content model's JSON: location, contacts, reaction, edit, delete, poll…)
        naming `target` (reactions, edits, deletes) and quoting `quoted`. Raises NotConnected,
        SendRejected, Unsupported (a kind this engine cannot send: the API refuses those at accept time)."""
        kind = content.get("type")
        raise Unsupported(f"{type(self).__name__} does not send {kind!r}", code="unsupported_kind")

    async def send_presence(self, to: str | None, state: str) -> None:
        """Presence: `available` / `unavailable` (to nobody), or a chat state in the chat with `to`:
        `composing`, `recording` (a voice note), `paused`. Optional: a no-op where unsupported.
        Raises NotConnected."""
        return None

    async def download_media(self, media: MediaRef, path: Path, *, max_bytes: int) -> int:
        """Download an incoming attachment (its engine-private `fetch`) into `path`, written only once every
        check passed; returns its length. Raises Unsupported (an engine without downloads), EngineError."""
        raise Unsupported(f"{type(self).__name__} cannot download media", code="no_media_download")

    async def send_typing(self, to: str, typing: bool) -> None:
        """Show (or stop showing) "typing…" in the chat with `to`: WhatsApp's `composing` / `paused`
        presence. Optional: an engine that cannot leaves it a no-op. Raises NotConnected."""
        return None

    async def manage_group(self, op: GroupOp, operation_id: str) -> GroupOpResult:
        """Create a group (`operation_id` makes a retried create the same one where the network dedupes),
        change its participants, subject or description, get or revoke its invite link, or leave it.
        Raises NotConnected, GroupRefused (WhatsApp said no: not an admin, not in the group, no such
        group, not acceptable), Unsupported (an engine without groups), ValueError (bad input)."""
        raise Unsupported(f"{type(self).__name__} does not manage groups", code="groups_unsupported")

    async def simulate(self, action: str, data: Mapping[str, Any]) -> None:
        """Sandbox only: make the simulated network do something. Raises Unsupported elsewhere."""
        raise Unsupported(f"{type(self).__name__} does not simulate anything", code="not_sandbox")
