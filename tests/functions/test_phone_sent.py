"""Messages typed on the account's own phone and chats read there, as the service stores them: outbound with
source `phone` in the destination's conversation (not inbound in a chat with our own number), a
`message_sent` for the CRM, and the unread count cleared when the phone reads the chat. The engine side:
tests/connector/web/test_web_own_device.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functions.test_conversations_api import ev, incoming
from tests.functions.test_sessions_api import deliver
from tests.support.lambdas import ApiCaller
from wagate.domain.events import EventType, SessionEvent

OURS, CONTACT = "+34911000111", "+34600999888"


@pytest.fixture
def session(call: ApiCaller, key: str) -> dict[str, Any]:
    return dict(call("POST", "/v1/sessions", key, body={"name": "Sales", "provider": "sandbox"})[1])


def from_phone(session: dict[str, Any], provider_id: str, text: str) -> SessionEvent:
    """The engine's event for a DeviceSentMessage copy: we are the sender, the chat is the destination."""
    return ev(
        session,
        EventType.INCOMING_MESSAGE,
        provider_message_id=provider_id,
        chat_jid=f"{CONTACT[1:]}@s.whatsapp.net",
        sender_jid=f"{OURS[1:]}@s.whatsapp.net",
        sender_phone=OURS,
        timestamp=300.0,
        text=text,
        push_name="Clínica",
        from_me=True,
        type="text",
    )


def test_a_message_typed_on_the_phone_is_outbound_in_the_contacts_conversation(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    deliver(functions, incoming(session, "IN1", "¿Tienen turno?", CONTACT))
    deliver(functions, from_phone(session, "3APHONE1", "Sí, mañana a las 10"))
    deliver(functions, from_phone(session, "3APHONE1", "Sí, mañana a las 10"))  # redelivered: stored once

    conversations = call("GET", "/v1/conversations", key)[1]["items"]
    assert [c["chat"] for c in conversations] == [CONTACT]  # no conversation with our own number
    conversation = conversations[0]
    assert conversation["unread"] == 1 and conversation["last_direction"] == "outbound"
    assert conversation["last_message_preview"] == "Sí, mañana a las 10"
    history = call("GET", f"/v1/conversations/{conversation['id']}/messages", key)[1]["items"]
    assert [(m["direction"], m["text"]) for m in history] == [
        ("outbound", "Sí, mañana a las 10"),
        ("inbound", "¿Tienen turno?"),
    ]
    mine = history[0]
    assert (mine["source"], mine["status"], mine["to"], mine["from"]) == ("phone", "sent", CONTACT, OURS)
    assert mine["sent_at"] == 300.0 and mine["provider_message_id"] == "3APHONE1"
    assert history[1].get("source") is None
    # The contact's counters count what they wrote, not what we typed on the phone.
    contacts = call("GET", "/v1/contacts", key)[1]["items"]
    assert [(c["phone"], c["messages_in"]) for c in contacts] == [(CONTACT, 1)]


def test_a_receipt_from_the_contact_moves_the_phone_sent_message_on(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    deliver(functions, from_phone(session, "3APHONE2", "Le confirmo la cita"))
    receipt = ev(
        session,
        EventType.MESSAGE_STATUS,
        chat_jid=f"{CONTACT[1:]}@s.whatsapp.net",
        provider_message_ids=["3APHONE2"],
        status="read",
        at=310.0,
    )
    deliver(functions, receipt)
    conversation = call("GET", "/v1/conversations", key)[1]["items"][0]
    message = call("GET", f"/v1/conversations/{conversation['id']}/messages", key)[1]["items"][0]
    assert message["status"] == "read" and message["read_at"] == 310.0


def test_reading_the_chat_on_the_phone_clears_its_unread_count(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    deliver(
        functions,
        incoming(session, "IN1", "Hola", CONTACT),
        incoming(session, "IN2", "¿Hay alguien?", CONTACT),
    )
    conversation = call("GET", "/v1/conversations", key)[1]["items"][0]
    assert conversation["unread"] == 2
    read_on_phone = ev(
        session,
        EventType.MESSAGE_STATUS,
        chat_jid=f"{CONTACT[1:]}@s.whatsapp.net",
        provider_message_ids=["IN1", "IN2"],
        status="read",
        at=320.0,
        by_me=True,
    )
    deliver(functions, read_on_phone)
    assert call("GET", f"/v1/conversations/{conversation['id']}", key)[1]["unread"] == 0
    # Our own read is no receipt for our messages: the inbound ones stay as they were.
    history = call("GET", f"/v1/conversations/{conversation['id']}/messages", key)[1]["items"]
    assert {m["status"] for m in history} == {"received"}
    # A read on the phone of a chat this service never saw changes nothing and fails nothing.
    other = ev(
        session,
        EventType.MESSAGE_STATUS,
        chat_jid="34600000000@s.whatsapp.net",
        provider_message_ids=["X"],
        status="read",
        at=321.0,
        by_me=True,
    )
    deliver(functions, other)
    assert [c["chat"] for c in call("GET", "/v1/conversations", key)[1]["items"]] == [CONTACT]
