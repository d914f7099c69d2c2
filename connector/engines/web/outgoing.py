"""What we send: the content model's JSON as `Message` protobufs (sans-I/O), built as WhatsApp clients do.

    text         conversation; extendedTextMessage with contextInfo when it quotes
    location     locationMessage {degreesLatitude, degreesLongitude, name, address, url}
    contacts     one card: contactMessage {displayName, vcard}; more: contactsArrayMessage
    reaction     reactionMessage {key of the target, text = emoji ("" removes), senderTimestampMs}
    edit         protocolMessage MESSAGE_EDIT {key, editedMessage {extendedTextMessage}, timestampMs}; edit=1
    delete       protocolMessage REVOKE {key}; stanza edit=7 (8 when an admin deletes another's in a group)
    poll         pollCreationMessage (V3 when single choice) + messageContextInfo.messageSecret (32 random
                 bytes: votes are encrypted with it); stanza type=poll and <meta polltype=creation/>

A quote (reply) carries the quoted message itself in contextInfo.quotedMessage, with its id (stanzaId)
and its author (participant), so the recipient's phone shows it even when it no longer has it.
Kinds WhatsApp Web cannot send from a linked device (interactive buttons/lists, Meta templates) are
refused by the API before they reach the connector (domain/content.py: PROVIDER_KINDS).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.engines.base import MessageRef as Ref
from connector.engines.web.binary.jid import Jid
from connector.engines.web.protos import wa

REVOKE = wa.Message.ProtocolMessage.Type.REVOKE
MESSAGE_EDIT = wa.Message.ProtocolMessage.Type.MESSAGE_EDIT


@dataclass(frozen=True)
class Built:
    message: wa.Message
    edit: str | None = None  # the stanza's `edit` attribute
    poll_secret: bytes | None = None


def build(
    content: Mapping[str, Any],
    chat: Jid,
    *,
    target: Ref | None = None,
    quoted: Ref | None = None,
    now_ms: int | None = None,
) -> Built:
    """Raises ValueError for a kind this engine does not send, or a target it needs and lacks."""
    kind = content.get("type")
    stamp = now_ms if now_ms is not None else int(time.time() * 1000)
    if kind == "reaction":
        key = _key(chat, _needs(target))
        return Built(
            wa.Message(
                reactionMessage=wa.Message.ReactionMessage(
                    key=key, text=str(content.get("emoji") or ""), senderTimestampMs=stamp
                )
            )
        )
    if kind == "edit":
        ref = _needs(target)
        if not ref.from_me:
            raise ValueError("only our own messages can be edited")
        protocol = wa.Message.ProtocolMessage(key=_key(chat, ref), type=MESSAGE_EDIT, timestampMs=stamp)
        protocol.editedMessage.extendedTextMessage.text = str(content["body"])  # as WhatsApp clients do
        return Built(wa.Message(protocolMessage=protocol), edit="1")
    if kind == "delete":
        ref = _needs(target)
        protocol = wa.Message.ProtocolMessage(key=_key(chat, ref), type=REVOKE)
        admin = chat.is_group and not ref.from_me
        return Built(wa.Message(protocolMessage=protocol), edit="8" if admin else "7")
    message = body(content)
    if quoted is not None:
        _quote(message, quoted)
    if kind == "poll":
        secret = os.urandom(32)
        message.messageContextInfo.messageSecret = secret
        return Built(message, poll_secret=secret)
    return Built(message)


def body(content: Mapping[str, Any]) -> wa.Message:
    """The protobuf of a kind that stands on its own (text, location, contacts, poll). Raises ValueError."""
    kind = content.get("type")
    if kind == "text":
        return wa.Message(conversation=str(content["body"]))
    if kind == "location":
        return wa.Message(
            locationMessage=wa.Message.LocationMessage(
                degreesLatitude=float(content["latitude"]),
                degreesLongitude=float(content["longitude"]),
                name=content.get("name") or None,
                address=content.get("address") or None,
                url=content.get("url") or None,
            )
        )
    if kind == "contacts":
        cards = [_contact(card) for card in content["contacts"]]
        if len(cards) == 1:
            return wa.Message(contactMessage=cards[0])
        return wa.Message(
            contactsArrayMessage=wa.Message.ContactsArrayMessage(
                displayName=f"{len(cards)} contacts", contacts=cards
            )
        )
    if kind == "poll":
        count = int(content.get("selectable_count", 1))
        poll = wa.Message.PollCreationMessage(
            name=str(content["name"]),
            options=[wa.Message.PollCreationMessage.Option(optionName=o) for o in content["options"]],
            selectableOptionsCount=count,
        )
        # Single-choice polls are V3, as current clients write them; multiple choice the first version.
        return wa.Message(pollCreationMessageV3=poll) if count == 1 else wa.Message(pollCreationMessage=poll)
    if kind in ("image", "video", "audio", "document", "sticker") and content.get("caption"):
        return wa.Message(conversation=str(content["caption"]))  # a quote shows an attachment's caption
    raise ValueError(f"the web engine does not send {kind!r} messages")


def vcard(card: dict[str, Any]) -> str:
    """A vCard 3.0 for a contact card; `waid=` on numbers lets phones offer "Message" on them."""
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{_escape(card['name'])}"]
    if card.get("organization"):
        lines.append(f"ORG:{_escape(card['organization'])}")
    for phone in card.get("phones") or []:
        number = str(phone["phone"])
        digits = "".join(ch for ch in number if ch.isdigit())
        wa_id = phone.get("wa_id") or digits
        label = f";type={phone['type']}" if phone.get("type") else ""
        lines.append(f"TEL{label};waid={wa_id}:{number}")
    for email in card.get("emails") or []:
        lines.append(f"EMAIL:{email}")
    lines.append("END:VCARD")
    return "\n".join(lines)


def _contact(card: dict[str, Any]) -> wa.Message.ContactMessage:
    return wa.Message.ContactMessage(displayName=str(card["name"]), vcard=card.get("vcard") or vcard(card))


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")


def _needs(target: Ref | None) -> Ref:
    if target is None:
        raise ValueError("this kind names an earlier message, and none was given")
    return target


def _key(chat: Jid, ref: Ref) -> wa.MessageKey:
    key = wa.MessageKey(remoteJid=str(chat), fromMe=ref.from_me, id=ref.provider_id)
    if chat.is_group and not ref.from_me and ref.participant:
        key.participant = ref.participant
    return key


def _quote(message: wa.Message, quoted: Ref) -> None:
    """contextInfo {stanzaId, participant, quotedMessage} on the message's own part (text moves to
    extendedTextMessage, which has a contextInfo; conversation has none)."""
    context = wa.ContextInfo(stanzaId=quoted.provider_id)
    if quoted.participant:
        context.participant = quoted.participant
    if quoted.content is not None:
        try:
            context.quotedMessage.CopyFrom(body(quoted.content))
        except (ValueError, KeyError):
            pass  # a quote of a kind we cannot rebuild: the id alone still threads it
    if message.HasField("conversation"):
        text = message.conversation
        message.ClearField("conversation")
        message.extendedTextMessage.text = text
        message.extendedTextMessage.contextInfo.CopyFrom(context)
        return
    for field, _ in message.ListFields():
        part = getattr(message, field.name)
        if hasattr(part, "contextInfo"):
            part.contextInfo.CopyFrom(context)
            return
