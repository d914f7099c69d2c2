"""Message content, sans-I/O: the `Message` protobufs we send, and what the service needs from those we get.

    out   conversation, or extendedTextMessage with contextInfo (stanzaId, participant) to quote;
          deviceSentMessage {destinationJid, message} for our own other devices;
          senderKeyDistributionMessage {groupId, axolotlSenderKeyDistributionMessage} for group members
    in    text (conversation, extendedTextMessage, a media caption), the quoted message id, media
          references, a sender key distribution to process, and whether it is protocol traffic only
          (history sync, app state keys, reactions…) that the service never sees

An incoming attachment's `MediaRef.fetch` is the media hosts' reference (media/hosts.py: key, direct path,
hashes, length) and the kind its keys are expanded for; it stays in the connector, which downloads the file
into the media store. No URL or key of WhatsApp's is put anywhere the service sees.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from connector.engines.events import MAX_THUMBNAIL_BYTES, MediaKind, MediaRef
from connector.engines.web import kinds
from connector.engines.web.binary.jid import Jid
from connector.engines.web.media import MediaKind as HostsKind
from connector.engines.web.media import MediaRef as HostsRef
from connector.engines.web.protos import wa


def text_message(text: str, *, quoted_id: str | None = None, quoted_sender: Jid | None = None) -> wa.Message:
    if quoted_id is None:
        return wa.Message(conversation=text)
    context = wa.ContextInfo(stanzaId=quoted_id)
    if quoted_sender is not None:
        context.participant = str(quoted_sender)
    return wa.Message(extendedTextMessage=wa.Message.ExtendedTextMessage(text=text, contextInfo=context))


def device_sent(destination: Jid, message: wa.Message) -> wa.Message:
    """What our own other devices get: the message and the chat it went to."""
    wrapped = wa.Message(deviceSentMessage=wa.Message.DeviceSentMessage(destinationJid=str(destination)))
    wrapped.deviceSentMessage.message.CopyFrom(message)
    return wrapped


def with_distribution(group: Jid, distribution: bytes, message: wa.Message | None = None) -> wa.Message:
    """`message` (or nothing) plus our sender key for `group`."""
    result = wa.Message()
    if message is not None:
        result.CopyFrom(message)
    result.senderKeyDistributionMessage.groupId = str(group)
    result.senderKeyDistributionMessage.axolotlSenderKeyDistributionMessage = distribution
    return result


def stanza_type(message: wa.Message) -> str:
    """The `type` attribute of the `<message>` stanza: reaction, poll, media (attachments), else text."""
    inner = kinds.unwrap(message).message
    if inner.HasField("reactionMessage") or inner.HasField("encReactionMessage"):
        return "reaction"
    if any(inner.HasField(name) for name in (*kinds.POLLS, "pollUpdateMessage")):
        return "poll"
    return "media" if media_type(inner) else "text"


def edit_attribute(message: wa.Message) -> str | None:
    """The stanza's `edit`: 1 an edit, 7 a delete of our own, 8 an admin deleting another's."""
    if not message.HasField("protocolMessage"):
        return None
    protocol = message.protocolMessage
    if protocol.type == kinds.MESSAGE_EDIT:
        return "1"
    if protocol.type == kinds.REVOKE and protocol.HasField("key"):
        return "7" if protocol.key.fromMe else "8"
    return None


def is_poll_creation(message: wa.Message) -> bool:
    """A poll's stanza carries <meta polltype="creation"/>."""
    return any(message.HasField(name) for name in kinds.POLLS)


def media_type(message: wa.Message) -> str | None:
    """The `mediatype` attribute of `<enc>` (WhatsApp Web's names), for attachments."""
    if message.HasField("imageMessage"):
        return "image"
    if message.HasField("videoMessage"):
        return "gif" if message.videoMessage.gifPlayback else "video"
    if message.HasField("audioMessage"):
        return "ptt" if message.audioMessage.ptt else "audio"
    if message.HasField("documentMessage"):
        return "document"
    if message.HasField("stickerMessage"):
        return "sticker"
    return None


@dataclass(frozen=True)
class Distribution:
    group: str
    key: bytes


@dataclass(frozen=True)
class Content:
    text: str | None = None
    media: MediaRef | None = None
    quoted_id: str | None = None
    distribution: Distribution | None = None
    destination: str | None = None  # a DeviceSentMessage: the chat our other device wrote to
    history_sync: bool = False
    typed: dict[str, Any] | None = None  # the content model's JSON (kinds.py)
    secret: bytes | None = None  # messageContextInfo.messageSecret (a poll's votes are encrypted with it)
    vote: Any = None  # a pollUpdateMessage, to decrypt with its poll's secret
    # what only our own phone may send: a history sync notification or LID migration (history.py)
    own_sync: wa.Message.ProtocolMessage | None = None

    @property
    def visible(self) -> bool:
        """Something a person wrote: the service gets it as an incoming message."""
        return self.text is not None or self.media is not None or self.typed is not None


def read_content(message: wa.Message) -> Content:
    destination: str | None = None
    if message.HasField("deviceSentMessage"):
        destination = message.deviceSentMessage.destinationJid or None
        inner = message.deviceSentMessage.message
        if message.HasField("senderKeyDistributionMessage"):
            inner.senderKeyDistributionMessage.CopyFrom(message.senderKeyDistributionMessage)
        message = inner
    distribution = None
    if message.HasField("senderKeyDistributionMessage"):
        sent = message.senderKeyDistributionMessage
        distribution = Distribution(sent.groupId, sent.axolotlSenderKeyDistributionMessage)
    history = message.HasField("protocolMessage") and message.protocolMessage.HasField(
        "historySyncNotification"
    )
    secret = kinds.message_secret(message)
    typed = kinds.typed(message)
    inner = kinds.unwrap(message).message  # ephemeral, view-once, document-with-caption, edited
    text, quoted = _text(inner)
    media = _media(inner)
    quoted = quoted or kinds.quoted_id(inner)
    vote = inner.pollUpdateMessage if inner.HasField("pollUpdateMessage") else None
    own_sync = None
    if message.HasField("protocolMessage") and (
        history or message.protocolMessage.HasField("lidMigrationMappingSyncMessage")
    ):
        own_sync = message.protocolMessage
    return Content(text, media, quoted, distribution, destination, history, typed, secret, vote, own_sync)


def _text(message: wa.Message) -> tuple[str | None, str | None]:
    if message.HasField("conversation"):
        return message.conversation, None
    if message.HasField("extendedTextMessage"):
        extended = message.extendedTextMessage
        return extended.text, _context_id(extended)
    return None, None


def _context_id(part: Any) -> str | None:
    if part is None or not part.HasField("contextInfo"):
        return None
    return part.contextInfo.stanzaId or None


_KINDS = {
    "imageMessage": MediaKind.IMAGE,
    "videoMessage": MediaKind.VIDEO,
    "audioMessage": MediaKind.AUDIO,
    "documentMessage": MediaKind.DOCUMENT,
    "stickerMessage": MediaKind.STICKER,
}


def _media(message: wa.Message) -> MediaRef | None:
    for field, kind in _KINDS.items():
        if not message.HasField(field):
            continue
        part = getattr(message, field)
        voice = field == "audioMessage" and bool(part.ptt)
        seconds = int(part.seconds) if field in ("audioMessage", "videoMessage") and part.seconds else None
        return MediaRef(
            kind=kind,
            mime_type=part.mimetype or "application/octet-stream",
            size=part.fileLength or None,
            filename=(part.fileName or None) if field == "documentMessage" else None,
            caption=(part.caption or None)
            if field in ("imageMessage", "videoMessage", "documentMessage")
            else None,
            sha256=part.fileSha256.hex() or None,
            voice=voice,
            duration=seconds,
            thumbnail=_thumbnail(part),
            fetch=MediaFetch(HostsRef.from_message(part), _download_kind(field, part)),
        )
    return None


def _thumbnail(part: Any) -> str | None:
    """The message's own JPEG preview (base64), when it has a small one."""
    raw = bytes(getattr(part, "jpegThumbnail", b"") or b"")  # audio and stickers have none
    if not raw.startswith(b"\xff\xd8") or len(raw) > MAX_THUMBNAIL_BYTES:
        return None
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class MediaFetch:
    """How the engine downloads an attachment: never serialised, never published."""

    ref: HostsRef
    kind: HostsKind


def _download_kind(field: str, part: Any) -> HostsKind:
    """The kind the media key is expanded for (voice notes use audio keys, GIFs video keys)."""
    if field == "audioMessage" and part.ptt:
        return HostsKind.PTT
    if field == "videoMessage" and part.gifPlayback:
        return HostsKind.GIF
    return HostsKind(_KINDS[field].value)
