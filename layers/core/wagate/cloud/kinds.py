"""Meta webhook message types as the content model's typed kinds (domain/content.py), sans-I/O.

    text                                  text
    image video audio document sticker    the attachment kinds (caption, filename, voice, animated)
    location, contacts                    location, contacts
    reaction (emoji "" takes it back)     reaction
    edit {original_message_id, message}   edit          revoke {original_message_id}   delete
    button (a template's quick reply)     interactive_reply (template_button)
    interactive button_reply / list_reply / nfm_reply   interactive_reply
    order, system                         order, system
    unsupported / unknown / anything else unsupported (Meta's own type name kept)

Read defensively like cloud/inbound.py: a value of the wrong shape makes the message `unsupported` with
the reason, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from wagate.domain import content as model

# Built at first use, not at import (the whole content union: the function's cold start).
_CONTENT: TypeAdapter[Any] = TypeAdapter(model.Content, config=ConfigDict(defer_build=True))
_MEDIA = ("image", "video", "audio", "document", "sticker")


def typed(kind: str, message: Mapping[str, Any], *, unreadable: bool = False) -> dict[str, Any]:
    """The content model's JSON of one `value.messages[]` item of Meta type `kind`; `unreadable`: Meta
    could not deliver its content (an attachment without a media id, an interactive without a body)."""
    part = _obj(message.get(kind))
    try:
        found = _unsupported(kind, part, message) if unreadable else _read(kind, part, message)
        parsed: BaseModel = _CONTENT.validate_python(found)
    except ValidationError as exc:
        first = exc.errors()[0]
        detail = f"{'.'.join(map(str, first['loc']))}: {first['msg']}"[:1024]
        parsed = model.Unsupported(raw_type=kind[:100], detail=detail)
    dumped: dict[str, Any] = parsed.model_dump(mode="json", exclude_none=True)
    return dumped


def _read(kind: str, part: Mapping[str, Any], message: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "text":
        return {"type": "text", "body": _s(part.get("body")) or ""}
    if kind in _MEDIA:
        media: dict[str, Any] = {
            "type": kind,
            "caption": _s(part.get("caption")),
            "filename": _s(part.get("filename")),
            "mime_type": _s(part.get("mime_type")),
        }
        if kind == "audio":
            media["voice"] = part.get("voice") is True
        if kind == "sticker":
            media["animated"] = part.get("animated") is True
        return media
    if kind == "location":
        return {
            "type": "location",
            "latitude": part.get("latitude"),
            "longitude": part.get("longitude"),
            "name": _s(part.get("name")),
            "address": _s(part.get("address")),
            "url": _s(part.get("url")),
        }
    if kind == "contacts":
        return {"type": "contacts", "contacts": [_card(c) for c in _list(message.get("contacts"))]}
    if kind == "reaction":
        return {
            "type": "reaction",
            "target_provider_id": _s(part.get("message_id")),
            "emoji": _s(part.get("emoji")) or "",
        }
    if kind == "edit":
        inner = _obj(part.get("message"))
        inner_part = _obj(inner.get(str(inner.get("type"))))
        return {
            "type": "edit",
            "target_provider_id": _s(part.get("original_message_id")),
            "body": _s(inner_part.get("body")) or _s(inner_part.get("caption")),
        }
    if kind == "revoke":
        return {"type": "delete", "target_provider_id": _s(part.get("original_message_id"))}
    if kind == "button":
        return {
            "type": "interactive_reply",
            "reply_type": "template_button",
            "id": _s(part.get("payload")),
            "title": _s(part.get("text")),
        }
    if kind == "interactive":
        return _interactive(part)
    if kind == "order":
        return {
            "type": "order",
            "catalog_id": _scalar(part.get("catalog_id")),
            "text": _s(part.get("text")),
            "items": [
                {
                    "product_retailer_id": _scalar(i.get("product_retailer_id")),
                    "quantity": i.get("quantity"),
                    "item_price": i.get("item_price"),
                    "currency": _s(i.get("currency")),
                }
                for i in _list(part.get("product_items"))
                if isinstance(i, Mapping)
            ],
        }
    if kind == "system":
        return {
            "type": "system",
            "system_type": (_s(part.get("type")) or "unknown")[:100],
            "body": _s(part.get("body")),
        }
    return _unsupported(kind, part, message)


def _unsupported(kind: str, part: Mapping[str, Any], message: Mapping[str, Any]) -> dict[str, Any]:
    """Meta's `unsupported` names the real type inside (e.g. a poll); its `errors` say why."""
    raw = (_s(part.get("type")) if kind == "unsupported" else kind) or kind
    errors = [_obj(e) for e in _list(message.get("errors"))]
    detail = None
    if errors:
        detail = _s(_obj(errors[0].get("error_data")).get("details")) or _s(errors[0].get("title"))
    return {"type": "unsupported", "raw_type": raw[:100], "detail": detail}


def _interactive(part: Mapping[str, Any]) -> dict[str, Any]:
    kind = str(part.get("type"))
    reply = _obj(part.get(kind))
    if kind in ("button_reply", "list_reply"):
        return {
            "type": "interactive_reply",
            "reply_type": kind,
            "id": _s(reply.get("id")),
            "title": _s(reply.get("title")),
            "description": _s(reply.get("description")),
        }
    if kind == "nfm_reply":
        return {
            "type": "interactive_reply",
            "reply_type": "flow_reply",
            "id": _s(reply.get("name")),
            "title": _s(reply.get("body")),
            "response_json": _s(reply.get("response_json")),
        }
    return {"type": "unsupported", "raw_type": f"interactive.{kind}"[:100]}


def _card(card: Any) -> dict[str, Any]:
    card = _obj(card)
    name = _obj(card.get("name"))
    phones = [
        {"phone": _s(p.get("phone")), "type": _s(p.get("type")), "wa_id": _s(p.get("wa_id"))}
        for p in (_obj(x) for x in _list(card.get("phones")))
        if _s(p.get("phone"))
    ]
    emails = [e for e in (_s(_obj(x).get("email")) for x in _list(card.get("emails"))) if e]
    return {
        "name": _s(name.get("formatted_name")) or _s(name.get("first_name")) or "?",
        "phones": phones,
        "emails": emails,
        "organization": _s(_obj(card.get("org")).get("company")),
    }


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _scalar(value: Any) -> str | None:
    return None if value is None or isinstance(value, Mapping | list) else str(value)[:256]


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
