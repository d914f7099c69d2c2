"""One Cloud API webhook message → the `incoming_message` data the `web` engine produces (sans-I/O).

The data has exactly the fields of `connector.engines.base.IncomingMessage` plus `type`, as the connector's
publisher sends them, so the events consumer's code path stores both alike:
    provider_message_id  the wamid                      chat_jid, sender_jid   `{digits}@s.whatsapp.net`,
    sender_phone         E.164, or None (BSUID only)                           or the BSUID when no phone
    timestamp, text, media (a MediaRef: `url` = `cloud-media:{media id}`, fetched later with the token),
    quoted_id (context.id of a reply), group_jid, push_name, from_me (False: echoes are not mirrored)
Kinds without a text of their own (location, contacts, order, replies to buttons and lists, flows) get a
short text rendering and their Meta `type`. Kinds that are not a customer's message (system notices,
revokes, edits, unsupported, content Meta could not deliver) are `Ignored`, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MEDIA_REF = "cloud-media:"
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
    return f"{phone_or_id}@s.whatsapp.net" if phone_or_id.isdigit() else phone_or_id


def e164(phone: str | None) -> str | None:
    return f"+{phone}" if phone and phone.isdigit() else None


def timestamp(raw: Any, fallback: float) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return fallback


def parse_message(
    message: Mapping[str, Any], contacts: Sequence[Any], received_at: float
) -> dict[str, Any] | Ignored:
    """The `incoming_message` data of one `value.messages[]` item, or why it is ignored."""
    kind = str(message.get("type") or "unknown")
    wamid = message.get("id")
    if not isinstance(wamid, str) or not wamid:
        return Ignored("messages", "a message without an id cannot be deduplicated", kind)
    phone = _str(message.get("from"))
    user_id = _str(message.get("from_user_id"))
    sender = phone or user_id
    if sender is None:
        contact = _contact(contacts, None, None)
        sender = _str(contact.get("wa_id")) or _str(contact.get("user_id"))
    if sender is None:
        return Ignored("messages", "a message names no sender (no from, from_user_id or contact)", wamid)
    content = _content(kind, message)
    if isinstance(content, Ignored):
        return content
    text, media = content
    contact = _contact(contacts, phone, user_id)
    profile = obj(contact.get("profile"))
    context = obj(message.get("context"))
    quoted = _str(context.get("id"))
    if kind == "reaction":
        quoted = _str((message.get("reaction") or {}).get("message_id"))
    group = _str(message.get("group_id"))
    jid = user_jid(sender)
    return {
        "type": media["kind"] if media else kind,
        "provider_message_id": wamid,
        "chat_jid": group or jid,
        "sender_jid": jid,
        "sender_phone": e164(phone) if phone else e164(_str(contact.get("wa_id"))),
        "timestamp": timestamp(message.get("timestamp"), received_at),
        "text": text,
        "media": media,
        "quoted_id": quoted,
        "group_jid": group,
        "push_name": _str(profile.get("name")),
        "from_me": False,
    }


def _content(kind: str, message: Mapping[str, Any]) -> tuple[str | None, dict[str, Any] | None] | Ignored:
    """(text, media) of a message kind, or why the kind is not a message to store."""
    part = obj(message.get(kind))
    if kind == "text":
        return _str(part.get("body")) or "", None
    if kind in _MEDIA_KINDS:
        media_id = _str(part.get("id"))
        if media_id is None:
            return Ignored("messages", f"{kind} without a media id", _errors(message))
        return _str(part.get("caption")), {
            "kind": _MEDIA_KINDS[kind],
            "mime_type": _str(part.get("mime_type")) or _DEFAULT_MIME[kind],
            "url": MEDIA_REF + media_id,
            "size": None,
            "filename": _str(part.get("filename")),
            "caption": _str(part.get("caption")),
            "sha256": _str(part.get("sha256")),
        }
    if kind == "location":
        return _location(part), None
    if kind == "contacts":
        return _contacts(message.get("contacts")), None
    if kind == "reaction":
        emoji = _str(part.get("emoji"))
        if not emoji:
            return Ignored("messages", "the customer removed a reaction; wagate keeps no reaction state")
        return emoji, None
    if kind == "button":
        return _str(part.get("text")) or _str(part.get("payload")) or "", None
    if kind == "interactive":
        return _interactive(message)
    if kind == "order":
        return _order(part), None
    if kind == "system":
        return Ignored("messages", f"system notice ({part.get('type')}), not a message from the customer")
    if kind in ("revoke", "edit"):
        return Ignored("messages", f"{kind} of an earlier message: the vocabulary has no such event")
    if kind in ("unsupported", "unknown"):
        return Ignored("messages", "a message type Meta does not support", _errors(message))
    return Ignored("messages", f"message type {kind!r} is not handled", _errors(message))


def _interactive(message: Mapping[str, Any]) -> tuple[str | None, None] | Ignored:
    part = message.get("interactive")
    if not isinstance(part, Mapping):
        return Ignored("messages", "Meta could not deliver this message's content", _errors(message))
    kind = str(part.get("type"))
    reply = obj(part.get(kind))
    if kind in ("button_reply", "list_reply"):
        return _str(reply.get("title")) or _str(reply.get("id")) or "", None
    if kind == "nfm_reply":  # a WhatsApp Flow's answer: its JSON is the useful part
        return _str(reply.get("response_json")) or _str(reply.get("body")) or "", None
    return Ignored("messages", f"interactive reply {kind!r} is not handled")


def _location(part: Mapping[str, Any]) -> str:
    where = f"{part.get('latitude')},{part.get('longitude')}"
    label = " — ".join(x for x in (_str(part.get("name")), _str(part.get("address"))) if x)
    url = _str(part.get("url"))
    return " ".join(x for x in (f"📍 {label}" if label else "📍", f"geo:{where}", url) if x)


def _contacts(cards: Any) -> str:
    lines = []
    for card in cards if isinstance(cards, list) else []:
        if not isinstance(card, Mapping):
            continue
        name = obj(card.get("name"))
        phones = [str(p.get("phone")) for p in card.get("phones") or [] if isinstance(p, Mapping)]
        lines.append(f"👤 {name.get('formatted_name') or ''} {', '.join(phones)}".rstrip())
    return "\n".join(lines) or "👤"


def _order(part: Mapping[str, Any]) -> str:
    items = [i for i in part.get("product_items") or [] if isinstance(i, Mapping)]
    lines = [f"🛒 order of {len(items)} products (catalog {part.get('catalog_id')})"]
    for item in items:
        lines.append(
            f"{item.get('quantity')} × {item.get('product_retailer_id')} "
            f"@ {item.get('item_price')} {item.get('currency')}"
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


def _errors(message: Mapping[str, Any]) -> str:
    errors = message.get("errors")
    if not isinstance(errors, list):
        return ""
    return "; ".join(
        f"{e.get('code')} {e.get('title') or e.get('message') or ''}".strip()
        for e in errors
        if isinstance(e, Mapping)
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def obj(value: Any) -> Mapping[str, Any]:
    """`value` if it is a JSON object, else an empty one: webhook bodies are read defensively."""
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
