"""Typed incoming kinds reach the CRM (event, webhook, messages API); edits and deletes change the message
they name and keep what it said; reactions attach to it; a redelivered change changes nothing twice."""

from __future__ import annotations

from typing import Any

from connector.engines.events import IncomingMessage
from connector.publisher import event_payload
from tests.functions.test_sessions_api import deliver
from tests.functions.test_webhook_delivery import Crm, crm  # noqa: F401 (a fixture, by name)
from wagate.domain.events import SessionEvent

PHONE = "+34600999888"
JID = "34600999888@s.whatsapp.net"


def _event(
    w: Crm, pid: str, content: dict[str, Any] | None, text: str | None = None, at: float = 200
) -> SessionEvent:
    """An incoming message as the connector publishes it (the publisher's own mapping)."""
    incoming = IncomingMessage(
        provider_message_id=pid,
        chat_jid=JID,
        sender_jid=JID,
        sender_phone=PHONE,
        timestamp=at,
        text=text,
        push_name="Lucía",
        content=content,
    )
    kind, data = event_payload(incoming)
    w.clock.advance(1)
    return SessionEvent(
        type=kind,
        tenant_id=w.session["tenant_id"],
        session_id=w.session["id"],
        fence=1,
        at=w.clock.now(),
        data=data,
    )


def _messages(w: Crm) -> dict[str, dict[str, Any]]:
    items = w.call("GET", "/v1/messages", w.key, query="direction=inbound")[1]["items"]
    return {m["provider_message_id"]: m for m in items}


def test_kinds_reach_the_crm_typed_and_change_their_targets(crm: Crm) -> None:  # noqa: F811
    crm.webhook("/crm")
    deliver(crm.functions, _event(crm, "P1", {"type": "text", "body": "Hola"}, "Hola", at=200))
    location = {"type": "location", "latitude": 40.4, "longitude": -3.7, "name": "Taller"}
    deliver(crm.functions, _event(crm, "P2", location, at=201))
    first = _messages(crm)["P1"]
    deliver(
        crm.functions,
        _event(crm, "P3", {"type": "reaction", "target_provider_id": "P1", "emoji": "👍"}, at=202),
    )
    edit = {"type": "edit", "target_provider_id": "P1", "body": "Hola, ¿qué tal?"}
    edited_event = _event(crm, "P4", edit, "Hola, ¿qué tal?", at=203)
    deliver(crm.functions, edited_event)
    deliver(crm.functions, edited_event)  # redelivered: applied once
    deliver(crm.functions, _event(crm, "P5", {"type": "delete", "target_provider_id": "P2"}, at=204))
    deliver(
        crm.functions,
        _event(crm, "P6", {"type": "reaction", "target_provider_id": "P1", "emoji": ""}, at=205),
    )
    deliver(crm.functions, _event(crm, "P7", {"type": "location", "latitude": "north"}, at=206))

    stored = _messages(crm)
    assert stored["P2"]["kind"] == "location"  # deleted since: its text is in its history
    one = crm.call("GET", f"/v1/messages/{first['id']}", crm.key)[1]
    assert one["text"] == "Hola, ¿qué tal?" and one["content"] == {
        "type": "text",
        "body": "Hola, ¿qué tal?",
        "preview_url": False,
    }
    assert [h["change"] for h in one["history"]] == ["edit"] and one["history"][0]["text"] == "Hola"
    assert one["edited_at"] == 203 and one["reactions"] == []  # the reaction was taken back
    gone = stored["P2"]
    gone = crm.call("GET", f"/v1/messages/{gone['id']}", crm.key)[1]
    assert (
        gone["deleted_at"] == 204
        and gone["text"] is None
        and gone["history"][0]["text"].startswith("📍 Taller")
    )
    assert stored["P3"]["kind"] == "reaction" and stored["P3"]["content"]["target_id"] == first["id"]
    assert stored["P7"]["kind"] == "unsupported" and stored["P7"]["content"]["raw_type"] == "location"

    crm.pump()
    assert crm.receiver.problems() == []
    hooks = {r.json["data"]["provider_message_id"]: r.json["data"] for r in crm.receiver.delivered("/crm")}
    assert set(hooks) == {"P1", "P2", "P3", "P4", "P5", "P6", "P7"}  # each once, none dropped
    assert hooks["P2"]["kind"] == "location" and hooks["P2"]["content_object"]["latitude"] == 40.4
    assert hooks["P4"]["kind"] == "edit" and hooks["P4"]["content_object"]["target_id"] == first["id"]
    assert hooks["P7"]["kind"] == "unsupported"


def test_a_reaction_attaches_and_a_late_older_one_changes_nothing(crm: Crm) -> None:  # noqa: F811
    deliver(crm.functions, _event(crm, "Q1", {"type": "text", "body": "¿Mañana?"}, "¿Mañana?", at=300))
    target = _messages(crm)["Q1"]["id"]
    deliver(
        crm.functions,
        _event(crm, "Q2", {"type": "reaction", "target_provider_id": "Q1", "emoji": "❤"}, at=302),
    )
    late = _event(crm, "Q3", {"type": "reaction", "target_provider_id": "Q1", "emoji": "😮"}, at=301)
    deliver(crm.functions, late)
    got = crm.call("GET", f"/v1/messages/{target}", crm.key)[1]
    assert got["reactions"] == [{"from": PHONE, "emoji": "❤", "at": 302}]
    # A reaction on a message wagate never stored still reaches the CRM, naming the provider id only.
    deliver(
        crm.functions, _event(crm, "Q4", {"type": "reaction", "target_provider_id": "NOPE", "emoji": "👍"})
    )
    assert _messages(crm)["Q4"]["content"]["target_id"] is None
