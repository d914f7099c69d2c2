"""One Cloud API webhook message → the `incoming_message` data the `web` engine produces (sans-I/O).

The data has exactly the fields of `connector.engines.events.IncomingMessage` plus `type`, as the connector's
publisher sends them, so the events consumer's code path stores both alike:
    provider_message_id  the wamid                      chat_jid, sender_jid   `{digits}@s.whatsapp.net`,
    sender_phone         E.164, or None (BSUID only)                           or the BSUID when no phone
    timestamp, text, media (a MediaRef: `url` = `cloud-media:{media id}`, fetched later with the token),
    quoted_id (context.id of a reply), group_jid, push_name, from_me (False: echoes are not mirrored)
    content (the content model's JSON, domain/content.py: cloud/kinds.py maps each Meta type)
Kinds without a text of their own (location, contacts, order, replies to buttons and lists, flows) get a
short text rendering and their Meta `type`. Edits, revokes and reactions (a removal too) name the message
they change. Anything this module cannot read (a type it does not know, Meta's own `unsupported`, content
Meta could not deliver, a field of the wrong JSON type) is still a message from the customer: it is
stored with type `unsupported` and no text, so the CRM learns that the customer wrote. Every field is read
defensively: nothing here raises on odd shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wagate.cloud.kinds import typed
from wagate.domain.messages import MAX_TIMESTAMP

MEDIA_REF = "cloud-media:"
MAX_ID = 256  # ids go into sort keys (DynamoDB: 1 KB): longer ones are not ids Meta sends
MAX_TEXT = 65536  # WhatsApp's own limit is 4096 characters; a stored item must stay under 400 KB
MAX_NAME = 256
_MEDIA_KINDS = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "document": "document",
    "sticker": "sticker",
}
_DEFAULT_MIME = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/ogg",
    "document": "application/octet-stream",
    "sticker": "image/webp",
}


@dataclass(frozen=True)
class Ignored:
    """Something in a webhook deliberately not applied, and why (logged, and counted by the tests)."""

    field: str
    reason: str
    detail: str = ""


def user_jid(phone_or_id: str) -> str:
    """A WhatsApp user id as the web engine writes it: digits → `…@s.whatsapp.net`; a BSUID as it is."""
    return f"{phone_or_id}@s.whatsapp.net" if _digits(phone_or_id) else phone_or_id


def e164(phone: str | None) -> str | None:
    return f"+{phone}" if phone and _digits(phone) else None


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes "²" and other scripts' digits."""
    return text.isascii() and text.isdigit()


def timestamp(raw: Any, fallback: float) -> float:
    """Meta's epoch seconds (a string), or `fallback` (the arrival) when it is not a finite time a
    datetime can hold (MAX_TIMESTAMP): "1e20" must not break whatever formats it later."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return fallback
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        return fallback
    return value if 0 <= value <= MAX_TIMESTAMP else fallback  # also refuses nan (no comparison holds)


def parse_message(
    message: Mapping[str, Any], contacts: Sequence[Any], received_at: float
) -> dict[str, Any] | Ignored:
    """The `incoming_message` data of one `value.messages[]` item, or why it is ignored."""
    kind = str(message.get("type") or "unknown")
    wamid = message.get("id")
    if not isinstance(wamid, str) or not wamid or len(wamid) > MAX_ID:
        return Ignored("messages", "a message without a usable id cannot be deduplicated", kind[:100])
    phone = _id(message.get("from"))
    user_id = _id(message.get("from_user_id"))
    sender = phone or user_id
    if sender is None:
        contact = _contact(contacts, None, None)
        sender = _id(contact.get("wa_id")) or _id(contact.get("user_id"))
    if sender is None:
        return Ignored("messages", "a message names no sender (no from, from_user_id or contact)", wamid)
    content = _content(kind, message)
    if isinstance(content, Ignored):
        return content
    unreadable = content is UNSUPPORTED
    model = typed(kind, message, unreadable=unreadable)
    if unreadable:
        kind, content = "unsupported", (None, None)
    text, media = content
    contact = _contact(contacts, phone, user_id)
    profile = obj(contact.get("profile"))
    context = obj(message.get("context"))
    quoted = _str(context.get("id"))
    if kind in ("reaction", "edit", "revoke"):
        quoted = None  # the message they change is named in `content` (target_provider_id)
    group = _id(message.get("group_id"))
    jid = user_jid(sender)
    return {
        "type": media["kind"] if media else kind,
        "provider_message_id": wamid,
        "chat_jid": group or jid,
        "sender_jid": jid,
        "sender_phone": e164(phone) if phone else e164(_id(contact.get("wa_id"))),
        "timestamp": timestamp(message.get("timestamp"), received_at),
        "text": text[:MAX_TEXT] if text else text,
        "media": media,
        "quoted_id": _id(quoted),
        "group_jid": group,
        "push_name": (_str(profile.get("name")) or "")[:MAX_NAME] or None,
        "from_me": False,
        "content": model,
        "sender_lid": None,  # the web engine's: Meta names people by phone (or BSUID)
        "historical": False,
    }


Content = tuple[str | None, dict[str, Any] | None]
UNSUPPORTED: Content = (None, None)
"""The content of a message wagate cannot read: stored with type `unsupported` (identity-compared)."""


def _content(kind: str, message: Mapping[str, Any]) -> Content | Ignored:
    """(text, media) of a message kind, UNSUPPORTED, or why the kind is not a message to store."""
    part = obj(message.get(kind))
    if kind == "text":
        return _str(part.get("body")) or "", None
    if kind in _MEDIA_KINDS:
        media_id = _id(part.get("id"))
        if media_id is None:
            return UNSUPPORTED  # Meta could not deliver the media (its errors say why)
        return _str(part.get("caption")), {
            "kind": _MEDIA_KINDS[kind],
            "mime_type": _str(part.get("mime_type")) or _DEFAULT_MIME[kind],
            "url": MEDIA_REF + media_id,
            "size": None,
            "filename": _str(part.get("filename")),
            "caption": _str(part.get("caption")),
            "sha256": _str(part.get("sha256")),
            "voice": kind == "audio" and part.get("voice") is True,
            "duration": None,
            "thumbnail": None,  # Meta sends no preview: the file is fetched by its id
            "stored": None,  # Meta's files are not fetched into the media store yet
        }
    if kind == "location":
        return _location(part), None
    if kind == "contacts":
        return _contacts(message.get("contacts")), None
    if kind == "reaction":
        return _str(part.get("emoji")) or "", None  # "" takes an earlier reaction back
    if kind == "button":
        return _str(part.get("text")) or _str(part.get("payload")) or "", None
    if kind == "interactive":
        return _interactive(message)
    if kind == "order":
        return _order(part), None
    if kind == "system":
        return _str(part.get("body")) or "", None
    if kind == "revoke":
        return "", None  # not None, None: that is UNSUPPORTED (an identical constant tuple)
    if kind == "edit":
        inner = obj(part.get("message"))
        inner_part = obj(inner.get(str(inner.get("type"))))
        return _str(inner_part.get("body")) or _str(inner_part.get("caption")), None
    return UNSUPPORTED  # Meta's own `unsupported`/`unknown`, or a type wagate does not know yet


def _interactive(message: Mapping[str, Any]) -> Content:
    part = message.get("interactive")
    if not isinstance(part, Mapping):
        return UNSUPPORTED  # Meta could not deliver this message's content
    kind = str(part.get("type"))
    reply = obj(part.get(kind))
    if kind in ("button_reply", "list_reply"):
        return _str(reply.get("title")) or _str(reply.get("id")) or "", None
    if kind == "nfm_reply":  # a WhatsApp Flow's answer: its JSON is the useful part
        return _str(reply.get("response_json")) or _str(reply.get("body")) or "", None
    return UNSUPPORTED


def _location(part: Mapping[str, Any]) -> str:
    where = f"{_scalar(part.get('latitude'))},{_scalar(part.get('longitude'))}"
    label = " — ".join(x for x in (_str(part.get("name")), _str(part.get("address"))) if x)
    url = _str(part.get("url"))
    return " ".join(x for x in (f"📍 {label}" if label else "📍", f"geo:{where}", url) if x)


def _contacts(cards: Any) -> str:
    lines = []
    for card in items(cards):
        if not isinstance(card, Mapping):
            continue
        name = _str(obj(card.get("name")).get("formatted_name")) or ""
        phones = [_str(obj(p).get("phone")) for p in items(card.get("phones"))]
        lines.append(f"👤 {name} {', '.join(p for p in phones if p)}".rstrip())
    return "\n".join(lines) or "👤"


def _order(part: Mapping[str, Any]) -> str:
    products = [i for i in items(part.get("product_items")) if isinstance(i, Mapping)]
    lines = [f"🛒 order of {len(products)} products (catalog {_scalar(part.get('catalog_id'))})"]
    for item in products:
        lines.append(
            f"{_scalar(item.get('quantity'))} × {_scalar(item.get('product_retailer_id'))} "
            f"@ {_scalar(item.get('item_price'))} {_scalar(item.get('currency'))}"
        )
    if _str(part.get("text")):
        lines.append(str(part["text"]))
    return "\n".join(lines)


def _contact(contacts: Sequence[Any], phone: str | None, user_id: str | None) -> Mapping[str, Any]:
    """The `contacts[]` entry of the sender (by wa_id, then by BSUID), else the first one."""
    entries = [c for c in contacts if isinstance(c, Mapping)]
    for entry in entries:
        if (phone and entry.get("wa_id") == phone) or (user_id and entry.get("user_id") == user_id):
            return entry
    return entries[0] if entries else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _id(value: Any) -> str | None:
    """An identifier (phone, BSUID, wamid, group id): a non-empty string short enough for a key."""
    text = _str(value)
    return text if text is not None and len(text) <= MAX_ID else None


def _scalar(value: Any) -> str:
    """A JSON scalar as text; an object or a list (where Meta sends a scalar) as nothing, kept short."""
    return "" if isinstance(value, Mapping | list) or value is None else str(value)[:100]


def obj(value: Any) -> Mapping[str, Any]:
    """`value` if it is a JSON object, else an empty one: webhook bodies are read defensively."""
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
