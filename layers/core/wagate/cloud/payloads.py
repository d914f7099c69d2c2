"""Request bodies of the Cloud API's `POST /{phone-number-id}/messages`, built without I/O (Graph's shapes).

Every builder returns the whole body (`messaging_product`, `recipient_type`, `to`, `type`, the typed part
and, for replies, `context.message_id`), so tests compare them with Meta's documented examples as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

MediaType = Literal["image", "document", "audio", "video", "sticker"]
_CAPTIONED = frozenset({"image", "document", "video"})


def recipient(to: str) -> str:
    """Graph's `to`: the digits of an E.164 number (`+34 600…` → `34600…`); any other id unchanged."""
    compact = to.replace(" ", "").replace("-", "").removeprefix("+")
    return compact if compact.isdigit() else to


def _envelope(to: str, kind: str, part: Any, *, reply_to: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient(to),
        "type": kind,
        kind: part,
    }
    if reply_to:
        body["context"] = {"message_id": reply_to}
    return body


def text(to: str, body: str, *, preview_url: bool = False, reply_to: str | None = None) -> dict[str, Any]:
    return _envelope(to, "text", {"body": body, "preview_url": preview_url}, reply_to=reply_to)


def media(
    to: str,
    kind: MediaType,
    *,
    link: str | None = None,
    media_id: str | None = None,
    caption: str | None = None,
    filename: str | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """An image, document, audio, video or sticker, by public `link` or by uploaded `media_id`.
    Raises ValueError unless exactly one of them is given."""
    if (link is None) == (media_id is None):
        raise ValueError("give exactly one of link or media_id")
    part: dict[str, Any] = {"link": link} if link is not None else {"id": media_id}
    if caption and kind in _CAPTIONED:
        part["caption"] = caption
    if filename and kind == "document":
        part["filename"] = filename
    return _envelope(to, kind, part, reply_to=reply_to)


@dataclass(frozen=True)
class TemplateParams:
    """Body parameters of a Meta-approved template: positional ({{1}}, {{2}}…) or named ({{first_name}})."""

    positional: Sequence[str] = ()
    named: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_variables(cls, variables: Mapping[str, str]) -> TemplateParams:
        """wagate's `variables`: keys "1", "2"… are positions; any other key is a parameter name."""
        if variables and all(key.isdigit() for key in variables):
            return cls(positional=[variables[key] for key in sorted(variables, key=int)])
        return cls(named=dict(variables))


def template(
    to: str,
    name: str,
    language: str,
    *,
    params: TemplateParams | None = None,
    components: Sequence[Mapping[str, Any]] = (),
    reply_to: str | None = None,
) -> dict[str, Any]:
    """A template message. `params` fill the body; `components` (header, buttons) are passed as given."""
    part: dict[str, Any] = {"name": name, "language": {"code": language}}
    built: list[Mapping[str, Any]] = []
    if params is not None and (params.positional or params.named):
        parameters: list[dict[str, str]] = [{"type": "text", "text": value} for value in params.positional]
        parameters += [
            {"type": "text", "parameter_name": key, "text": value} for key, value in params.named.items()
        ]
        built.append({"type": "body", "parameters": parameters})
    built += list(components)
    if built:
        part["components"] = built
    return _envelope(to, "template", part, reply_to=reply_to)


def location(
    to: str,
    latitude: float,
    longitude: float,
    *,
    name: str | None = None,
    address: str | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    part: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if name:
        part["name"] = name
    if address:
        part["address"] = address
    return _envelope(to, "location", part, reply_to=reply_to)


@dataclass(frozen=True)
class ContactCard:
    formatted_name: str
    phones: Sequence[str] = ()  # E.164
    first_name: str | None = None
    last_name: str | None = None
    emails: Sequence[str] = ()
    organization: str | None = None


def contacts(to: str, cards: Sequence[ContactCard], *, reply_to: str | None = None) -> dict[str, Any]:
    part = []
    for card in cards:
        name: dict[str, str] = {"formatted_name": card.formatted_name}
        if card.first_name:
            name["first_name"] = card.first_name
        if card.last_name:
            name["last_name"] = card.last_name
        entry: dict[str, Any] = {"name": name}
        if card.phones:
            entry["phones"] = [
                {"phone": phone, "type": "CELL", "wa_id": recipient(phone)} for phone in card.phones
            ]
        if card.emails:
            entry["emails"] = [{"email": email, "type": "WORK"} for email in card.emails]
        if card.organization:
            entry["org"] = {"company": card.organization}
        part.append(entry)
    return _envelope(to, "contacts", part, reply_to=reply_to)


def reaction(to: str, message_id: str, emoji: str) -> dict[str, Any]:
    """React to a message (by its wamid); an empty emoji removes our reaction."""
    return _envelope(to, "reaction", {"message_id": message_id, "emoji": emoji})


@dataclass(frozen=True)
class Button:
    id: str  # comes back in the customer's button_reply
    title: str  # up to 20 characters


@dataclass(frozen=True)
class ListRow:
    id: str
    title: str
    description: str | None = None


@dataclass(frozen=True)
class ListSection:
    title: str
    rows: Sequence[ListRow]


def _interactive(
    to: str,
    kind: str,
    body: str,
    action: dict[str, Any],
    header: str | None,
    footer: str | None,
    reply_to: str | None,
) -> dict[str, Any]:
    part: dict[str, Any] = {"type": kind, "body": {"text": body}, "action": action}
    if header:
        part["header"] = {"type": "text", "text": header}
    if footer:
        part["footer"] = {"text": footer}
    return _envelope(to, "interactive", part, reply_to=reply_to)


def buttons(
    to: str,
    body: str,
    choices: Sequence[Button],
    *,
    header: str | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """Up to three reply buttons. Raises ValueError for none or more than three."""
    if not 1 <= len(choices) <= 3:
        raise ValueError("reply buttons: give 1 to 3")
    action = {"buttons": [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in choices]}
    return _interactive(to, "button", body, action, header, footer, reply_to)


def list_message(
    to: str,
    body: str,
    button: str,
    sections: Sequence[ListSection],
    *,
    header: str | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """A list: `button` opens it; up to 10 rows in all. Raises ValueError for an empty or oversized list."""
    count = sum(len(section.rows) for section in sections)
    if not 1 <= count <= 10:
        raise ValueError("a list holds 1 to 10 rows")
    action = {
        "button": button,
        "sections": [
            {
                "title": section.title,
                "rows": [
                    {
                        "id": row.id,
                        "title": row.title,
                        **({"description": row.description} if row.description else {}),
                    }
                    for row in section.rows
                ],
            }
            for section in sections
        ],
    }
    return _interactive(to, "list", body, action, header, footer, reply_to)


def mark_read(message_id: str, *, typing: bool = False) -> dict[str, Any]:
    """Blue ticks for an incoming message (and, optionally, "typing…" until we answer)."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
    if typing:
        body["typing_indicator"] = {"type": "text"}
    return body
