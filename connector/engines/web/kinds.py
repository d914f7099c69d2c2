"""Incoming `Message` protobufs as the content model's typed kinds (domain/content.py), sans-I/O.

Wrappers are unwrapped first, as WhatsApp clients do (up to 5 levels): ephemeralMessage (disappearing
chats), viewOnceMessage / V2 / V2Extension, documentWithCaptionMessage, editedMessage — each a
FutureProofMessage holding the real one in `.message`. Then the first field that says what the message is
picks the kind:

    conversation, extendedTextMessage            text
    image/video/audio/document/stickerMessage    the attachment kinds (caption, file name, voice, gif)
    location/liveLocationMessage                 location
    contactMessage, contactsArrayMessage         contacts (cards read from their vCards)
    reactionMessage                              reaction (key = the message reacted to; "" removes)
    protocolMessage REVOKE / MESSAGE_EDIT        delete / edit of `key`; other protocol types are not
                                                 something a person wrote: nothing
    pollCreationMessage (V1, V2, V3, V5)         poll; its messageSecret is what votes are encrypted with
    pollUpdateMessage                            poll_vote (encrypted: receiving.py decrypts it when it
                                                 knows the poll's secret)
    buttons/list/templateButtonReply/            interactive_reply
      interactiveResponseMessage
    buttonsMessage, listMessage                  interactive
    anything else with content                   unsupported, with the protobuf field's name

Each kind is returned as the content model's JSON (what travels in the `incoming_message` event).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from connector.engines.web.protos import wa
from wagate.domain import content as model

log = logging.getLogger(__name__)

WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
    "editedMessage",
)
VIEW_ONCE = frozenset({"viewOnceMessage", "viewOnceMessageV2", "viewOnceMessageV2Extension"})
POLLS = ("pollCreationMessage", "pollCreationMessageV2", "pollCreationMessageV3", "pollCreationMessageV5")
# Fields that ride along with content but are not content themselves.
_BESIDE = frozenset({"senderKeyDistributionMessage", "messageContextInfo", "deviceSentMessage"})
_MEDIA: dict[str, type[model.MediaBody]] = {
    "imageMessage": model.Image,
    "videoMessage": model.Video,
    "audioMessage": model.Audio,
    "documentMessage": model.Document,
    "stickerMessage": model.Sticker,
}
REVOKE = 0
MESSAGE_EDIT = 14


@dataclass(frozen=True)
class Unwrapped:
    message: wa.Message
    view_once: bool = False
    ephemeral: bool = False


def unwrap(message: wa.Message) -> Unwrapped:
    view_once = ephemeral = False
    for _ in range(5):
        wrapper = next((name for name in WRAPPERS if message.HasField(name)), None)
        if wrapper is None:
            break
        view_once = view_once or wrapper in VIEW_ONCE
        ephemeral = ephemeral or wrapper == "ephemeralMessage"
        message = getattr(message, wrapper).message
    return Unwrapped(message, view_once, ephemeral)


def typed(message: wa.Message) -> dict[str, Any] | None:
    """The content model's JSON of an (already unwrapped) message; None when it is protocol traffic only."""
    found = unwrap(message)
    inner = found.message
    try:
        part = _read(inner, found.view_once)
    except ValidationError as exc:  # odd values (a latitude of 500): still a message, unreadable
        name = _first_field(inner) or "unknown"
        log.info("a %s that does not fit the content model: %s", name, exc.errors()[:1])
        part = model.Unsupported(raw_type=name[:100], detail="its values are out of range")
    if part is None:
        return None
    dumped: dict[str, Any] = part.model_dump(mode="json", exclude_none=True)
    return dumped


def quoted_id(message: wa.Message) -> str | None:
    """The id of the message this one quotes (any part's contextInfo.stanzaId)."""
    inner = unwrap(message).message
    for field, _ in inner.ListFields():
        value = getattr(inner, field.name)
        if hasattr(value, "contextInfo") and value.HasField("contextInfo"):
            return str(value.contextInfo.stanzaId) or None
    return None


def message_secret(message: wa.Message) -> bytes | None:
    if message.HasField("messageContextInfo") and message.messageContextInfo.messageSecret:
        return bytes(message.messageContextInfo.messageSecret)
    return None


def _first_field(message: wa.Message) -> str | None:
    names = [field.name for field, _ in message.ListFields() if field.name not in _BESIDE]
    return names[0] if names else None


def _read(m: wa.Message, view_once: bool) -> Any:
    if m.HasField("conversation"):
        return model.Text(body=m.conversation)
    if m.HasField("extendedTextMessage"):
        return model.Text(body=m.extendedTextMessage.text)
    for field, cls in _MEDIA.items():
        if m.HasField(field):
            return _media(field, cls, getattr(m, field), view_once)
    if m.HasField("locationMessage"):
        loc = m.locationMessage
        return model.Location(
            latitude=loc.degreesLatitude,
            longitude=loc.degreesLongitude,
            name=loc.name or None,
            address=loc.address or None,
            url=loc.url or None,
            live=loc.isLive,
        )
    if m.HasField("liveLocationMessage"):
        live = m.liveLocationMessage
        return model.Location(
            latitude=live.degreesLatitude,
            longitude=live.degreesLongitude,
            name=live.caption or None,
            live=True,
        )
    if m.HasField("contactMessage"):
        return model.Contacts(contacts=[_card(m.contactMessage)])
    if m.HasField("contactsArrayMessage"):
        cards = [_card(c) for c in m.contactsArrayMessage.contacts]
        if not cards:
            return model.Unsupported(raw_type="contactsArrayMessage", detail="no contact cards in it")
        return model.Contacts(contacts=cards)
    if m.HasField("reactionMessage"):
        reaction = m.reactionMessage
        return model.Reaction(target_provider_id=reaction.key.id or None, emoji=reaction.text)
    if m.HasField("protocolMessage"):
        return _protocol(m.protocolMessage)
    poll = next((getattr(m, name) for name in POLLS if m.HasField(name)), None)
    if poll is not None:
        options = [o.optionName for o in poll.options]
        return model.Poll(
            name=poll.name, options=options, selectable_count=min(poll.selectableOptionsCount, len(options))
        )
    if m.HasField("pollUpdateMessage"):
        update = m.pollUpdateMessage
        return model.PollVote(target_provider_id=update.pollCreationMessageKey.id or None)
    reply = _reply(m)
    if reply is not None:
        return reply
    if m.HasField("buttonsMessage"):
        buttons = m.buttonsMessage
        return model.Interactive(
            style="buttons",
            body=buttons.contentText or " ",
            footer=buttons.footerText or None,
            header=buttons.text or None,
            buttons=[
                model.Button(id=b.buttonId, title=b.buttonText.displayText[:20])
                for b in buttons.buttons[:3]
                if b.buttonId
            ]
            or None,
        )
    if m.HasField("listMessage"):
        listed = m.listMessage
        sections = [
            model.ListSection(
                title=s.title[:24] or None,
                rows=[
                    model.ListRow(id=r.rowId, title=r.title[:24], description=r.description[:72] or None)
                    for r in s.rows[:10]
                ],
            )
            for s in listed.sections[:10]
            if s.rows
        ]
        return model.Interactive(
            style="list",
            body=listed.description or listed.title or " ",
            header=listed.title[:60] or None,
            footer=listed.footerText[:60] or None,
            button=listed.buttonText[:20] or "…",
            sections=sections or None,
        )
    name = _first_field(m)
    if name is None:
        return None  # a sender key distribution, a context only: nothing a person wrote
    return model.Unsupported(raw_type=name[:100])


def _media(field: str, cls: type[model.MediaBody], part: Any, view_once: bool) -> model.MediaBody:
    extra: dict[str, Any] = {}
    if field == "audioMessage":
        extra["voice"] = part.ptt
    elif field == "videoMessage":
        extra["gif"] = part.gifPlayback
    elif field == "stickerMessage":
        extra["animated"] = part.isAnimated
    caption = getattr(part, "caption", "") or None
    filename = getattr(part, "fileName", "") or None
    return cls(
        caption=caption[: model.MAX_CAPTION] if caption else None,
        filename=filename[:255] if filename else None,
        mime_type=(part.mimetype or None) and part.mimetype[:100],
        view_once=view_once,
        **extra,
    )


def _protocol(protocol: Any) -> Any:
    if protocol.type == REVOKE and protocol.HasField("key"):
        return model.Delete(target_provider_id=protocol.key.id or None)
    if protocol.type == MESSAGE_EDIT and protocol.HasField("key"):
        edited = unwrap(protocol.editedMessage).message
        body = _edited_text(edited)
        if body is None:
            return model.Unsupported(raw_type="protocolMessage.MESSAGE_EDIT", detail="an edit without text")
        return model.Edit(target_provider_id=protocol.key.id or None, body=body)
    return None  # history sync, app state keys, settings…: traffic between devices, not a message


def _edited_text(m: wa.Message) -> str | None:
    if m.HasField("conversation"):
        return str(m.conversation) or None
    if m.HasField("extendedTextMessage"):
        return str(m.extendedTextMessage.text) or None
    for field in _MEDIA:
        if m.HasField(field):
            return getattr(getattr(m, field), "caption", "") or None
    return None


def _reply(m: wa.Message) -> Any:
    if m.HasField("buttonsResponseMessage"):
        r = m.buttonsResponseMessage
        return model.InteractiveReply(
            reply_type="button_reply", id=r.selectedButtonId or None, title=r.selectedDisplayText or None
        )
    if m.HasField("listResponseMessage"):
        r2 = m.listResponseMessage
        return model.InteractiveReply(
            reply_type="list_reply",
            id=r2.singleSelectReply.selectedRowId or None,
            title=r2.title or None,
            description=r2.description[:1024] or None,
        )
    if m.HasField("templateButtonReplyMessage"):
        r3 = m.templateButtonReplyMessage
        return model.InteractiveReply(
            reply_type="template_button", id=r3.selectedId or None, title=r3.selectedDisplayText or None
        )
    if m.HasField("interactiveResponseMessage"):
        r4 = m.interactiveResponseMessage
        flow = r4.nativeFlowResponseMessage
        return model.InteractiveReply(
            reply_type="flow_reply",
            id=flow.name or None,
            title=r4.body.text or None,
            response_json=flow.paramsJson or None,
        )
    return None


def _card(contact: Any) -> model.ContactCard:
    """A contact card from its vCard (TEL lines carry `waid=` when the number is on WhatsApp)."""
    phones: list[model.ContactPhone] = []
    emails: list[str] = []
    organization = None
    name = contact.displayName or None
    for raw in (contact.vcard or "").splitlines():
        key, _, value = raw.partition(":")
        head, *params = key.split(";")
        head = head.split(".")[-1].upper()  # item1.TEL → TEL
        value = value.strip()
        if head == "TEL" and value:
            wa_id = next((p.split("=", 1)[1] for p in params if p.lower().startswith("waid=")), None)
            labels = [p.split("=", 1)[-1][:32] for p in params if p.upper().startswith("TYPE=")]
            label = labels[0] if labels else None
            phones.append(model.ContactPhone(phone=value[:64], type=label, wa_id=wa_id))
        elif head == "EMAIL" and value:
            emails.append(value[:256])
        elif head == "ORG" and value:
            organization = value.rstrip(";")[:256] or None
        elif head == "FN" and value and name is None:
            name = value
    return model.ContactCard(
        name=(name or (phones[0].phone if phones else "?"))[:256],
        phones=phones[:20],
        emails=emails[:20],
        organization=organization,
        vcard=contact.vcard or None,
    )
