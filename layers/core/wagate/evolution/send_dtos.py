"""Evolution API's send bodies, read as Evolution validates them and turned into wagate's send requests.

Field names, required fields and limits follow Evolution v2's JSON schemas (src/validate/message.schema.ts):
unknown fields are ignored as there, a wrong type or a missing required field is a 400 naming it. Options
every send takes (Evolution's `Metadata`):

    number            phone in any written form, or a jid: '5511999999999', '+55 11 99999-9999',
                      '5511999999999@s.whatsapp.net', '120363…@g.us' (groups); ':device' suffixes dropped
    delay             milliseconds: the message is sent that long after the call (wagate schedules it;
                      the typing indicator is the session's pacing `typing` option)
    quoted            {key: {id, remoteJid?, fromMe?}, message?}: quote the message with that WhatsApp id
    linkPreview, mentioned, mentionsEveryOne, everyOne, encoding, notConvertSticker, thumbnailUrl
                      ignored (wagate does not send mentions or choose link previews yet)
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from wagate.domain.content import ContactCard, ContactPhone, Interactive
from wagate.domain.errors import InvalidInput
from wagate.domain.phones import normalise_phone
from wagate.services.messages import SendRequest

MAX_DELAY_MS = 366 * 24 * 3600 * 1000  # as far ahead as wagate schedules
_GROUP_ID = re.compile(r"^\d{5,20}(-\d{1,12})?$")


class Dto(BaseModel):
    """Evolution reads bodies with a JSON schema that lets other fields through. Field names are its own."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Key(Dto):
    id: StrictStr = Field(min_length=1)
    remoteJid: StrictStr | None = None
    fromMe: StrictBool | None = None
    participant: StrictStr | None = None


class Quoted(Dto):
    key: Key
    message: dict[str, Any] | None = None


class Metadata(Dto):
    number: StrictStr = Field(min_length=1)
    delay: StrictInt | None = Field(None, ge=0, le=MAX_DELAY_MS)
    quoted: Quoted | None = None


class SendText(Metadata):
    text: StrictStr = Field(min_length=1)


MediaType = Literal["image", "document", "video", "audio"]


class SendMedia(Metadata):
    mediatype: MediaType
    media: StrictStr | None = Field(None, description="an http(s) URL or base64; or a multipart `file`")
    mimetype: StrictStr | None = None
    caption: StrictStr | None = None
    fileName: StrictStr | None = None


class SendAudio(Metadata):
    audio: StrictStr | None = Field(None, description="an http(s) URL or base64; or a multipart `file`")


class SendLocation(Metadata):
    latitude: float
    longitude: float
    name: StrictStr
    address: StrictStr


class ContactEntry(Dto):
    fullName: StrictStr = Field(min_length=1)
    wuid: StrictStr | None = Field(None, min_length=10, pattern=r"\d+")
    phoneNumber: StrictStr = Field(min_length=10)
    organization: StrictStr | None = None
    email: StrictStr | None = None
    url: StrictStr | None = None


class SendContact(Metadata):
    contact: list[ContactEntry] = Field(min_length=1)


class SendReaction(Dto):
    key: Key
    reaction: StrictStr

    def chat(self) -> str:
        if not self.key.remoteJid:
            raise InvalidInput(
                'key.remoteJid: the "remoteJid" cannot be empty', details={"field": "key.remoteJid"}
            )
        return self.key.remoteJid


class SendPoll(Metadata):
    name: StrictStr = Field(min_length=1)
    selectableCount: StrictInt = Field(ge=0, le=10)
    values: list[StrictStr] = Field(min_length=2, max_length=10)


class SendTemplate(Metadata):
    name: StrictStr = Field(min_length=1)
    language: StrictStr = Field(min_length=1)
    components: list[dict[str, Any]] | None = None


class Row(Dto):
    title: StrictStr = Field(min_length=1)
    description: StrictStr | None = Field(None, min_length=1)
    rowId: StrictStr = Field(min_length=1)


class Section(Dto):
    title: StrictStr = Field(min_length=1)
    rows: list[Row] = Field(min_length=1)


class SendList(Metadata):
    title: StrictStr
    description: StrictStr | None = None
    footerText: StrictStr
    buttonText: StrictStr
    sections: list[Section] = Field(min_length=1)


class ButtonDto(Dto):
    type: Literal["reply", "copy", "url", "call", "pix"]
    displayText: StrictStr | None = None
    id: StrictStr | None = Field(None, min_length=1)
    url: StrictStr | None = Field(None, min_length=1)
    phoneNumber: StrictStr | None = Field(None, min_length=1)


class SendButtons(Metadata):
    title: StrictStr
    description: StrictStr | None = None
    footer: StrictStr | None = None
    buttons: list[ButtonDto] = Field(min_length=1)


M = TypeVar("M", bound=BaseModel)


def read(model: type[M], body: Any) -> M:
    """The body as `model`, or InvalidInput listing each problem (`details.messages`, Evolution's wording)."""
    if not isinstance(body, dict):
        raise InvalidInput(
            "the body must be a JSON object", details={"messages": ["instance is not of a type(s) object"]}
        )
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        messages = [_problem(error) for error in exc.errors(include_url=False)]
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors(include_url=False)})
        raise InvalidInput("; ".join(messages), details={"messages": messages, "fields": fields}) from None


def _problem(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "body"
    if error["type"] == "missing":
        return f'requires property "{where}"'
    return f"{where} {error['msg'][0].lower()}{error['msg'][1:]}"


# ---- numbers --------------------------------------------------------------------------------------------


def recipient(number: str, *, field: str = "number") -> str:
    """Evolution's `number` as wagate's `to`: E.164 for a person, the jid for a group. Raises InvalidInput.

    Read the way Evolution's createJid reads it (device suffix dropped, a jid kept, long digit strings or
    'creator-time' ids are groups), except that no digit is added or removed: WhatsApp itself resolves
    Brazil's and Mexico's mobile prefixes, and a gateway never guesses a recipient."""
    text = re.sub(r":\d+(?=@|$)", "", number.strip())
    user, at, server = text.partition("@")
    if at:
        if server == "g.us" and _GROUP_ID.match(user):
            return text
        if server == "s.whatsapp.net" and user.isdigit():
            return normalise_phone("+" + user, field=field)
        if server == "lid":
            raise InvalidInput(
                f"{field}: wagate sends to phone numbers; give the number (…@s.whatsapp.net), not a LID",
                details={"field": field, "value": number},
            )
        if server == "broadcast":
            raise InvalidInput(
                f"{field}: status and broadcast lists are not sent through wagate", details={"field": field}
            )
        raise InvalidInput(
            f"{field}: not a WhatsApp number or group id ({number!r})",
            details={"field": field, "value": number},
        )
    compact = re.sub(r"[\s+()]", "", text)
    if "-" in compact and len(compact) >= 24 and _GROUP_ID.match(re.sub(r"[^\d-]", "", compact)):
        return re.sub(r"[^\d-]", "", compact) + "@g.us"
    digits = re.sub(r"\D", "", compact)
    if len(digits) >= 18:
        return f"{digits}@g.us"
    if not digits or re.search(r"[A-Za-z]", text):
        raise InvalidInput(
            f"{field}: a phone number in international format (5511999999999) or a jid",
            details={"field": field},
        )
    return normalise_phone("+" + digits, field=field)


# ---- contents -------------------------------------------------------------------------------------------


def contact_cards(dto: SendContact) -> list[ContactCard]:
    cards = []
    for entry in dto.contact:
        wa_id = entry.wuid or re.sub(r"\D", "", entry.phoneNumber)
        cards.append(
            ContactCard(
                name=entry.fullName,
                phones=[ContactPhone(phone=entry.phoneNumber, type="CELL", wa_id=wa_id)],
                emails=[entry.email] if entry.email else [],
                organization=entry.organization,
            )
        )
    return cards


def list_content(dto: SendList) -> Interactive:
    """sendList as wagate's interactive list (Meta's limits: the route reports them as a 400)."""
    return read(
        Interactive,
        {
            "style": "list",
            "body": dto.description or dto.title,
            "header": dto.title if dto.description else None,
            "footer": dto.footerText or None,
            "button": dto.buttonText,
            "sections": [
                {
                    "title": s.title,
                    "rows": [{"id": r.rowId, "title": r.title, "description": r.description} for r in s.rows],
                }
                for s in dto.sections
            ],
        },
    )


def buttons_content(dto: SendButtons) -> Interactive:
    """sendButtons as reply buttons. Evolution's other button types (url, call, copy, pix) are WhatsApp
    native-flow buttons that Meta's API has no reply-button form for: refused, naming them."""
    others = sorted({b.type for b in dto.buttons if b.type != "reply"})
    if others:
        raise InvalidInput(
            f"buttons of type {', '.join(others)} cannot be sent through wagate; use reply buttons "
            "(type: reply, with displayText and id)",
            details={"field": "buttons"},
        )
    buttons = [{"id": b.id or str(n), "title": b.displayText or ""} for n, b in enumerate(dto.buttons, 1)]
    body = dto.title if not dto.description else f"*{dto.title}*\n\n{dto.description}"
    return read(Interactive, {"style": "buttons", "body": body, "footer": dto.footer, "buttons": buttons})


def send_request(
    session_id: str, dto: Metadata, *, now: float, reply_to: str | None = None, **content: Any
) -> SendRequest:
    """wagate's send request for an Evolution send: `content` holds wagate's field (text=, media=, ...).
    Raises InvalidInput naming what wagate refuses (a text over 4096 characters, a poll's duplicates...)."""
    body: dict[str, Any] = {"session_id": session_id, "to": recipient(dto.number), **content}
    if reply_to is not None:
        body["reply_to"] = reply_to
    if dto.delay:
        body["scheduled_at"] = now + dto.delay / 1000
    return read(SendRequest, body)
