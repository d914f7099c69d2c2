"""Evolution API's message record (Baileys' WebMessageInfo as Evolution v2 shows it) of a wagate message.

One shape for findMessages, sendText's answer and the MESSAGES_UPSERT / SEND_MESSAGE webhooks:

    {"key": {"remoteJid", "fromMe", "id", "participant"?}, "pushName", "status",
     "message": {<one Baileys content field>: {...}}, "contextInfo"?, "messageType",
     "messageTimestamp", "instanceId", "source"}

As Evolution does, plain and extended text are both `conversation`, and a quote is the top-level
`contextInfo` (`stanzaId`, `participant`, `quotedMessage` when wagate stored it). Attachments carry
wagate's short-lived link to the decrypted file as `url` (and `mediaUrl`, as Evolution's S3 option
does), its sha256 as `fileSha256` (base64, as protobuf JSON writes bytes): WhatsApp's media key and
CDN address never appear here, and `getBase64FromMediaMessage` reads the bytes from wagate's store.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from wagate.domain.content import (
    Audio,
    ContactCard,
    Contacts,
    Delete,
    Document,
    Edit,
    Image,
    Interactive,
    InteractiveReply,
    Location,
    MediaBody,
    Order,
    Poll,
    PollVote,
    Reaction,
    Sticker,
    System,
    Template,
    Text,
    Unsupported,
    Video,
)
from wagate.domain.media import MediaKind, MediaObject, kind_of
from wagate.domain.messages import Direction, Message, MessageStatus, whatsapp_message_id

USER_SERVER = "s.whatsapp.net"
GROUP_SUFFIX = "@g.us"

# Baileys' numeric message status names (WebMessageInfo.Status), as Evolution writes them.
STATUS: dict[MessageStatus, str] = {
    MessageStatus.SCHEDULED: "PENDING",
    MessageStatus.QUEUED: "PENDING",
    MessageStatus.SENDING: "PENDING",
    MessageStatus.SENT: "SERVER_ACK",
    MessageStatus.DELIVERED: "DELIVERY_ACK",
    MessageStatus.READ: "READ",
    MessageStatus.FAILED: "ERROR",
    MessageStatus.CANCELLED: "ERROR",
    MessageStatus.RECEIVED: "DELIVERY_ACK",  # Evolution marks what it received as delivered
}

MEDIA_FIELD: dict[MediaKind, str] = {
    MediaKind.IMAGE: "imageMessage",
    MediaKind.VIDEO: "videoMessage",
    MediaKind.AUDIO: "audioMessage",
    MediaKind.DOCUMENT: "documentMessage",
    MediaKind.STICKER: "stickerMessage",
}
MEDIA_TYPES = frozenset(MEDIA_FIELD.values())

# Finds a message this one names (a quote, a reaction's or edit's target) in the same session, by wagate's
# id (msg_…) or by WhatsApp's id.
Lookup = Callable[[str], Message | None]


# ---- addresses ------------------------------------------------------------------------------------------


def jid_of(address: str) -> str:
    """A wagate address (E.164 phone, or any jid) as a jid: '+34600…' → '34600…@s.whatsapp.net'."""
    if "@" in address:
        return address
    return f"{re.sub(r'[^0-9]', '', address)}@{USER_SERVER}"


def phone_of_jid(jid: str) -> str | None:
    """'34600123456@s.whatsapp.net' (or with a ':device' suffix) → '+34600123456'; None for other jids."""
    user, _, server = jid.partition("@")
    if server != USER_SERVER:
        return None
    digits = user.split(":", 1)[0]
    return f"+{digits}" if digits.isdigit() else None


def key_id(message: Message) -> str:
    """WhatsApp's id of the message: the provider's once known, else the one wagate will send it with."""
    return message.provider_message_id or whatsapp_message_id(message.id)


def device_of(provider_id: str) -> str:
    """Which kind of WhatsApp client wrote a message, guessed from its id the way Baileys' getDevice does."""
    if provider_id.startswith("3EB0") or provider_id.startswith("BAE5"):
        return "web"
    if provider_id.startswith("3A"):
        return "ios"
    if len(provider_id) > 21:
        return "android"
    return "unknown"


def message_key(message: Message) -> dict[str, Any]:
    key: dict[str, Any] = {
        "remoteJid": jid_of(message.chat),
        "fromMe": message.direction == Direction.OUTBOUND,
        "id": key_id(message),
    }
    if message.chat.endswith(GROUP_SUFFIX) and message.direction == Direction.INBOUND:
        participant = message.metadata.get("sender_jid") or (message.sender and jid_of(message.sender))
        if participant:
            key["participant"] = participant
    return key


# ---- the record -----------------------------------------------------------------------------------------


def message_record(
    message: Message,
    *,
    instance_id: str,
    lookup: Lookup | None = None,
    base64_media: str | None = None,
) -> dict[str, Any]:
    """The Evolution record of one wagate message. `lookup` finds messages it names (a quote's text, a
    reaction target's `fromMe`); `base64_media` is the file's bytes for `webhook_base64`."""
    field, body = content_of(message, lookup)
    body_message: dict[str, Any] = {field: body}
    if field in MEDIA_TYPES and body.get("url"):
        body_message["mediaUrl"] = body["url"]
    if field in MEDIA_TYPES and base64_media is not None:
        body_message["base64"] = base64_media
    stamp = message.sent_at if message.direction == Direction.OUTBOUND and message.sent_at else None
    record: dict[str, Any] = {
        "key": message_key(message),
        "pushName": message.metadata.get("push_name"),
        "status": STATUS[message.status],
        "message": body_message,
        "messageType": field,
        "messageTimestamp": int(stamp or message.created_at),
        "instanceId": instance_id,
        "source": device_of(key_id(message)),
    }
    context = _context(message, lookup)
    if context:
        record["contextInfo"] = context
    return record


def content_of(message: Message, lookup: Lookup | None = None) -> tuple[str, Any]:
    """(messageType, the content field's value) for a message's content: a string for `conversation`
    (as Evolution writes text), an object for every other field."""
    content = message.content
    if content is None:
        return _legacy(message)
    if isinstance(content, Text):
        return "conversation", content.body
    if isinstance(content, MediaBody):
        return _media(content)
    if isinstance(content, Location):
        if content.live:
            return "liveLocationMessage", _drop_none(
                {"degreesLatitude": content.latitude, "degreesLongitude": content.longitude}
            )
        return "locationMessage", _drop_none(
            {
                "degreesLatitude": content.latitude,
                "degreesLongitude": content.longitude,
                "name": content.name,
                "address": content.address,
                "url": content.url,
            }
        )
    if isinstance(content, Contacts):
        return _contacts(content)
    if isinstance(content, Reaction):
        return "reactionMessage", {
            "key": _target_key(message, content.target_id, content.target_provider_id, lookup),
            "text": content.emoji,
            "senderTimestampMs": int(message.created_at * 1000),
        }
    if isinstance(content, Edit):
        return "protocolMessage", {
            "key": _target_key(message, content.target_id, content.target_provider_id, lookup),
            "type": "MESSAGE_EDIT",
            "editedMessage": {"conversation": content.body},
        }
    if isinstance(content, Delete):
        return "protocolMessage", {
            "key": _target_key(message, content.target_id, content.target_provider_id, lookup),
            "type": "REVOKE",
        }
    if isinstance(content, Poll):
        # Baileys writes single-choice polls as V3, the others as the first version.
        field = "pollCreationMessageV3" if content.selectable_count == 1 else "pollCreationMessage"
        return field, {
            "name": content.name,
            "options": [{"optionName": option} for option in content.options],
            "selectableOptionsCount": content.selectable_count,
        }
    if isinstance(content, PollVote):
        return "pollUpdateMessage", {
            "pollCreationMessageKey": _target_key(
                message, content.target_id, content.target_provider_id, lookup
            ),
            "vote": {"selectedOptions": [_b64_of_hex(h) for h in content.option_hashes]},
        }
    if isinstance(content, Interactive):
        return _interactive(content)
    if isinstance(content, InteractiveReply):
        return _reply(content)
    if isinstance(content, Template):
        return "conversation", content.body or message.text or ""
    if isinstance(content, Order):
        return "orderMessage", _drop_none(
            {"itemCount": sum(int(i.quantity or 0) for i in content.items), "message": content.text}
        )
    if isinstance(content, System):
        return "protocolMessage", _drop_none({"type": content.system_type.upper(), "text": content.body})
    if isinstance(content, Unsupported):
        # On web the raw type is Baileys' own field name (e.g. pinInChatMessage): keep it as the type.
        return content.raw_type or "unknown", {}
    return "unknown", {}


def _legacy(message: Message) -> tuple[str, Any]:
    """Rows from before the content model: a text, or a media URL with its type."""
    if message.media is not None and message.media.mime:
        field = MEDIA_FIELD[kind_of(message.media.mime)]
        return field, _drop_none(
            {
                "mimetype": message.media.mime,
                "caption": message.media.caption,
                "fileName": message.media.filename,
            }
        )
    return "conversation", message.text or ""


def _media(content: MediaBody) -> tuple[str, dict[str, Any]]:
    stored: MediaObject | None = content.media
    kind = stored.kind if stored is not None else _kind_of_body(content)
    field = MEDIA_FIELD[kind]
    body: dict[str, Any] = {
        "url": stored.url if stored is not None else None,
        "mimetype": content.mime_type or (stored.mime if stored is not None else None),
        "caption": content.caption,
        "fileSha256": _b64_of_hex(stored.sha256) if stored is not None and stored.sha256 else None,
        # uint64 fields are strings in protobuf's JSON (and in Evolution's records)
        "fileLength": str(stored.size) if stored is not None and stored.size is not None else None,
        "viewOnce": content.view_once or None,
    }
    if isinstance(content, Document):
        name = content.filename or (stored.filename if stored is not None else None)
        body["fileName"] = name
        body["title"] = name
    if isinstance(content, Audio):
        body["ptt"] = content.voice or bool(stored and stored.voice)
        body["seconds"] = stored.duration if stored is not None else None
    if isinstance(content, Video):
        body["seconds"] = stored.duration if stored is not None else None
        body["gifPlayback"] = content.gif or None
    if isinstance(content, Sticker):
        body["isAnimated"] = content.animated
    return field, _drop_none(body)


def _kind_of_body(content: MediaBody) -> MediaKind:
    for cls, kind in ((Image, MediaKind.IMAGE), (Video, MediaKind.VIDEO), (Audio, MediaKind.AUDIO)):
        if isinstance(content, cls):
            return kind
    return MediaKind.STICKER if isinstance(content, Sticker) else MediaKind.DOCUMENT


def vcard(card: ContactCard) -> str:
    """The card as WhatsApp clients write it (vCard 3.0, `waid` on each phone that has one)."""
    if card.vcard:
        return card.vcard
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"N:{card.name}", f"FN:{card.name}"]
    if card.organization:
        lines.append(f"ORG:{card.organization};")
    lines.extend(f"EMAIL:{email}" for email in card.emails)
    for n, phone in enumerate(card.phones, start=1):
        wa_id = phone.wa_id or re.sub(r"[^0-9]", "", phone.phone)
        lines.append(f"item{n}.TEL;waid={wa_id}:{phone.phone}")
        lines.append(f"item{n}.X-ABLabel:{phone.type or 'Mobile'}")
    lines.append("END:VCARD")
    return "\n".join(lines)


def _contacts(content: Contacts) -> tuple[str, dict[str, Any]]:
    if len(content.contacts) == 1:
        card = content.contacts[0]
        return "contactMessage", {"displayName": card.name, "vcard": vcard(card)}
    return "contactsArrayMessage", {
        "displayName": f"{len(content.contacts)} contacts",
        "contacts": [{"displayName": c.name, "vcard": vcard(c)} for c in content.contacts],
    }


def _interactive(content: Interactive) -> tuple[str, dict[str, Any]]:
    if content.style == "buttons":
        return "buttonsMessage", _drop_none(
            {
                "contentText": content.body,
                "footerText": content.footer,
                "text": content.header,
                "buttons": [
                    {"buttonId": b.id, "buttonText": {"displayText": b.title}, "type": "RESPONSE"}
                    for b in content.buttons or []
                ],
                "headerType": "TEXT" if content.header else "EMPTY",
            }
        )
    return "listMessage", _drop_none(
        {
            "title": content.header,
            "description": content.body,
            "buttonText": content.button,
            "footerText": content.footer,
            "listType": "SINGLE_SELECT",
            "sections": [
                _drop_none(
                    {
                        "title": s.title,
                        "rows": [
                            _drop_none({"title": r.title, "description": r.description, "rowId": r.id})
                            for r in s.rows
                        ],
                    }
                )
                for s in content.sections or []
            ],
        }
    )


def _reply(content: InteractiveReply) -> tuple[str, dict[str, Any]]:
    if content.reply_type == "button_reply":
        return "buttonsResponseMessage", _drop_none(
            {"selectedButtonId": content.id, "selectedDisplayText": content.title}
        )
    if content.reply_type == "list_reply":
        return "listResponseMessage", _drop_none(
            {
                "title": content.title,
                "description": content.description,
                "listType": "SINGLE_SELECT",
                "singleSelectReply": {"selectedRowId": content.id},
            }
        )
    if content.reply_type == "template_button":
        return "templateButtonReplyMessage", _drop_none(
            {"selectedId": content.id, "selectedDisplayText": content.title}
        )
    return "interactiveResponseMessage", _drop_none(
        {
            "body": {"text": content.title} if content.title else None,
            "nativeFlowResponseMessage": _drop_none(
                {"name": content.id, "paramsJson": content.response_json}
            ),
        }
    )


def _target_key(
    message: Message, target_id: str | None, provider_id: str | None, lookup: Lookup | None
) -> dict[str, Any]:
    """The key of the message a reaction, edit, delete or vote acts on (same chat)."""
    target = lookup(target_id) if lookup is not None and target_id else None
    if target is not None:
        return message_key(target)
    key: dict[str, Any] = {"remoteJid": jid_of(message.chat), "id": provider_id or ""}
    if target_id is not None and provider_id is None:
        key["id"] = whatsapp_message_id(target_id)
    return key


def _context(message: Message, lookup: Lookup | None) -> dict[str, Any] | None:
    if not message.quoted_id:
        return None
    context: dict[str, Any] = {"stanzaId": message.quoted_id}
    quoted = lookup(message.quoted_id) if lookup is not None else None
    if quoted is not None:
        field, body = content_of(quoted)
        context["quotedMessage"] = {field: body}
        if quoted.direction == Direction.INBOUND and quoted.sender:
            context["participant"] = quoted.metadata.get("sender_jid") or jid_of(quoted.sender)
    return context


def _b64_of_hex(value: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        return value


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
