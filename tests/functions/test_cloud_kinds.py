"""Every Meta webhook message type becomes its typed kind (the same content model as `web`); edits, revokes
and reactions arriving through the Cloud webhook change the message they name; the shared fixtures
(../shared/fixtures/cloud/inbound, skipped when absent) each map to the kind their file says."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functions.cloud_support import (  # noqa: F401 (*_fixture: fixtures by name)
    FIXTURES,
    call_fixture,
    functions_fixture,
    graph_fixture,
    key_fixture,
    notification,
    post_webhook,
    session_fixture,
    text_message,
)
from tests.support.lambdas import ApiCaller
from wagate.cloud.kinds import typed
from wagate.cloud.notifications import parse_notification
from wagate.store.messages import MessageRepository

FROM = "34600123456"


def _message(kind: str, part: Any, **extra: Any) -> dict[str, Any]:
    return {"from": FROM, "id": f"wamid.{kind}", "timestamp": "1730231903", "type": kind, kind: part, **extra}


DOCUMENTED: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (_message("text", {"body": "Hola"}), {"type": "text", "body": "Hola"}),
    (
        _message("audio", {"id": "1", "mime_type": "audio/ogg; codecs=opus", "voice": True}),
        {"type": "audio", "voice": True, "mime_type": "audio/ogg; codecs=opus"},
    ),
    (
        _message("document", {"id": "2", "filename": "f.pdf", "caption": "la factura"}),
        {"type": "document", "filename": "f.pdf", "caption": "la factura"},
    ),
    (_message("sticker", {"id": "3", "animated": True}), {"type": "sticker", "animated": True}),
    (
        _message("location", {"latitude": 40.4, "longitude": -3.7, "name": "Taller", "address": "Mayor 1"}),
        {"type": "location", "latitude": 40.4, "name": "Taller", "address": "Mayor 1"},
    ),
    (
        {
            **_message("contacts", None),
            "contacts": [
                {
                    "name": {"formatted_name": "Ana Pérez", "first_name": "Ana"},
                    "phones": [{"phone": "+34 600 12 34 56", "type": "CELL", "wa_id": "34600123456"}],
                    "emails": [{"email": "ana@example.com", "type": "WORK"}],
                    "org": {"company": "Taller"},
                }
            ],
        },
        {"type": "contacts"},
    ),
    (
        _message("reaction", {"message_id": "wamid.OUT", "emoji": "😀"}),
        {"type": "reaction", "target_provider_id": "wamid.OUT", "emoji": "😀"},
    ),
    (
        _message("reaction", {"message_id": "wamid.OUT"}),
        {"type": "reaction", "target_provider_id": "wamid.OUT", "emoji": ""},
    ),
    (
        _message(
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "yes", "title": "Sí"}},
            context={"id": "wamid.OUT"},
        ),
        {"type": "interactive_reply", "reply_type": "button_reply", "id": "yes", "title": "Sí"},
    ),
    (
        _message(
            "interactive",
            {"type": "list_reply", "list_reply": {"id": "r2", "title": "Martes", "description": "10:00"}},
        ),
        {"type": "interactive_reply", "reply_type": "list_reply", "id": "r2", "description": "10:00"},
    ),
    (
        _message("button", {"payload": "CONFIRM", "text": "Confirmar"}),
        {"type": "interactive_reply", "reply_type": "template_button", "id": "CONFIRM"},
    ),
    (
        _message(
            "order",
            {
                "catalog_id": "cat",
                "text": "para el martes",
                "product_items": [
                    {"product_retailer_id": "SKU1", "quantity": 2, "item_price": 9.5, "currency": "EUR"}
                ],
            },
        ),
        {"type": "order", "catalog_id": "cat", "text": "para el martes"},
    ),
    (
        _message("system", {"body": "Ana changed her number", "type": "user_changed_number", "wa_id": "1"}),
        {"type": "system", "system_type": "user_changed_number", "body": "Ana changed her number"},
    ),
    (
        _message(
            "edit",
            {
                "original_message_id": "wamid.ORIG",
                "message": {"type": "text", "text": {"body": "corregido"}},
            },
        ),
        {"type": "edit", "target_provider_id": "wamid.ORIG", "body": "corregido"},
    ),
    (
        _message("revoke", {"original_message_id": "wamid.ORIG"}),
        {"type": "delete", "target_provider_id": "wamid.ORIG"},
    ),
    (
        _message(
            "unsupported",
            {"type": "poll"},
            errors=[
                {"code": 131051, "title": "Message type unknown", "error_data": {"details": "not supported"}}
            ],
        ),
        {"type": "unsupported", "raw_type": "poll", "detail": "not supported"},
    ),
    (_message("hologram", {"x": 1}), {"type": "unsupported", "raw_type": "hologram"}),
    (
        _message("location", {"latitude": "north", "longitude": 1}),
        {"type": "unsupported", "raw_type": "location"},
    ),
    (_message("image", {"caption": "no id"}), {"type": "unsupported", "raw_type": "image"}),
]


def _parsed(message: dict[str, Any]) -> dict[str, Any]:
    result = parse_notification(notification(messages=[message]), received_at=1.0)
    [(_, data)] = [event for number in result.numbers.values() for event in number.events]
    return dict(data)


@pytest.mark.parametrize(("message", "expected"), DOCUMENTED, ids=lambda v: str(v.get("id", "")))
def test_each_meta_type_becomes_its_kind(message: dict[str, Any], expected: dict[str, Any]) -> None:
    content = _parsed(message)["content"]
    assert {k: content.get(k) for k in expected} == expected, content


def test_contact_cards_keep_their_fields() -> None:
    message = DOCUMENTED[5][0]
    [card] = _parsed(message)["content"]["contacts"]
    assert card == {
        "name": "Ana Pérez",
        "phones": [{"phone": "+34 600 12 34 56", "type": "CELL", "wa_id": "34600123456"}],
        "emails": ["ana@example.com"],
        "organization": "Taller",
    }


def test_typed_never_raises_on_odd_values() -> None:
    for kind in ("text", "location", "contacts", "reaction", "edit", "interactive", "order", "system", "x"):
        for part in (None, [], "s", 7, {"type": []}, {kind: {"id": []}}):
            assert typed(kind, {"type": kind, kind: part, "contacts": part})["type"]


EXPECTED_BY_NAME = {  # first match wins: specific names first
    "edited_message": "edit",
    "revoke": "delete",
    "quick_reply": "interactive_reply",
    "callback_button__button": "interactive_reply",
    "message__text": "text",
    "a_text_notification": "text",
    "image": "image",
    "video": "video",
    "voice": "audio",
    "audio": "audio",
    "document": "document",
    "sticker": "sticker",
    "reaction": "reaction",
    "contact_notification": "contacts",
    "message__contacts": "contacts",
    "chosen_location": "location",
    "current_location": "location",
    "button_reply": "interactive_reply",
    "list_notification": "interactive_reply",
    "callback": "interactive_reply",
    "flow": "interactive_reply",
    "system": "system",
    "unsupported": "unsupported",
    "unknown": "unsupported",
}


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/cloud is not here")
def test_the_shared_inbound_fixtures_map_to_their_kinds() -> None:
    checked = 0
    for path in sorted((FIXTURES / "inbound").glob("*.json")):
        result = parse_notification(json.loads(path.read_bytes()), received_at=1.0)
        events = [data for number in result.numbers.values() for _, data in number.events]
        assert events, path.name
        for data in events:
            assert data["content"]["type"], path.name  # every message typed, none dropped
        expected = next((kind for name, kind in EXPECTED_BY_NAME.items() if name in path.name), None)
        if expected is not None:
            assert events[0]["content"]["type"] == expected, (path.name, events[0]["content"])
            checked += 1
    assert checked >= 30


def test_edits_revokes_and_reactions_change_the_message_they_name(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    post_webhook(
        functions, notification(messages=[text_message("wamid.A", "Hola"), text_message("wamid.B", "Adiós")])
    )
    edit = _message(
        "edit", {"original_message_id": "wamid.A", "message": {"type": "text", "text": {"body": "Hola!"}}}
    )
    revoke = _message("revoke", {"original_message_id": "wamid.B"})
    react = _message("reaction", {"message_id": "wamid.A", "emoji": "👍"})
    post_webhook(functions, notification(messages=[edit, revoke, react]))
    post_webhook(functions, notification(messages=[edit]))  # Meta redelivers: nothing twice
    items = {
        m["provider_message_id"]: m
        for m in call("GET", "/v1/messages", key, query="direction=inbound")[1]["items"]
    }
    assert set(items) == {"wamid.A", "wamid.B", "wamid.edit", "wamid.revoke", "wamid.reaction"}
    a, b = items["wamid.A"], items["wamid.B"]
    assert a["text"] == "Hola!" and [h["text"] for h in a["history"]] == ["Hola"]
    assert a["reactions"] == [{"from": f"+{FROM}", "emoji": "👍", "at": 1730231903.0}]
    assert b["deleted_at"] == 1730231903.0 and b["text"] is None and b["history"][0]["change"] == "delete"
    assert items["wamid.edit"]["content"]["target_id"] == a["id"]


def test_changes_that_arrive_before_the_message_they_name_apply_once_it_does(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    """Meta's webhooks come in any order: an edit, a revoke and a reaction first, the messages after."""
    edit = _message(
        "edit", {"original_message_id": "wamid.A", "message": {"type": "text", "text": {"body": "Hola!"}}}
    )
    revoke = _message("revoke", {"original_message_id": "wamid.B"})
    react = _message("reaction", {"message_id": "wamid.A", "emoji": "👍"})
    post_webhook(functions, notification(messages=[edit, revoke, react]))
    post_webhook(
        functions, notification(messages=[text_message("wamid.A", "Hola"), text_message("wamid.B", "Adiós")])
    )
    post_webhook(functions, notification(messages=[text_message("wamid.A", "Hola")]))  # redelivered
    items = {
        m["provider_message_id"]: m
        for m in call("GET", "/v1/messages", key, query="direction=inbound")[1]["items"]
    }
    a, b = items["wamid.A"], items["wamid.B"]
    assert a["text"] == "Hola!" and [h["text"] for h in a["history"]] == ["Hola"]
    assert a["reactions"] == [{"from": f"+{FROM}", "emoji": "👍", "at": 1730231903.0}]
    assert b["deleted_at"] == 1730231903.0 and b["text"] is None and b["history"][0]["change"] == "delete"


def test_a_message_stored_while_its_change_is_being_parked_still_gets_it(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    functions: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    park = MessageRepository.park_change

    def target_stored_first(self: MessageRepository, *args: Any, **kwargs: Any) -> None:
        # The reaction found no wamid.A; before it is parked, wamid.A is stored (and finds nothing parked).
        post_webhook(functions, notification(messages=[text_message("wamid.A", "Hola")]))
        park(self, *args, **kwargs)

    monkeypatch.setattr(MessageRepository, "park_change", target_stored_first)
    post_webhook(
        functions, notification(messages=[_message("reaction", {"message_id": "wamid.A", "emoji": "👍"})])
    )
    items = {
        m["provider_message_id"]: m
        for m in call("GET", "/v1/messages", key, query="direction=inbound")[1]["items"]
    }
    assert [r["emoji"] for r in items["wamid.A"]["reactions"]] == ["👍"]
