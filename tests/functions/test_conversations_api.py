"""The connector's message events applied end to end: sent, receipts, failures, incoming, inbox, contacts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fakes.push import RecordingPush
from tests.functions.test_sessions_api import deliver
from tests.support.lambdas import ApiCaller, LambdaContext
from wagate import meters, wiring
from wagate.domain.events import Command, CommandType, EventType, SessionEvent
from wagate.domain.messages import whatsapp_message_id
from wagate.services import tenants
from wagate.services.sessions import command_queue, shard_of
from wagate.store.messages import MessageRepository


@pytest.fixture
def session(call: ApiCaller, key: str) -> dict[str, Any]:
    return dict(call("POST", "/v1/sessions", key, body={"name": "Sales", "provider": "sandbox"})[1])


@pytest.fixture
def dashboard(call: ApiCaller, key: str, functions: dict[str, Any], push: RecordingPush) -> str:
    token = call("POST", "/v1/realtime/token", key)[1]["token"]
    context = {"routeKey": "$connect", "connectionId": "dash=", "eventType": "CONNECT"}
    functions["ws"].lambda_handler(
        {"requestContext": context, "queryStringParameters": {"token": token}}, LambdaContext()
    )
    context = {"routeKey": "$default", "connectionId": "dash=", "eventType": "MESSAGE"}
    functions["ws"].lambda_handler(
        {"requestContext": context, "body": json.dumps({"event": "subscribe"})}, LambdaContext()
    )
    return "dash="


def ev(session: dict[str, Any], kind: EventType, **data: Any) -> SessionEvent:
    return SessionEvent(
        type=kind, tenant_id=session["tenant_id"], session_id=session["id"], fence=1, at=100.0, data=data
    )


def incoming(
    session: dict[str, Any], provider_id: str, text: str, phone: str = "+34600999888"
) -> SessionEvent:
    return ev(
        session,
        EventType.INCOMING_MESSAGE,
        provider_message_id=provider_id,
        chat_jid=f"{phone[1:]}@s.whatsapp.net",
        sender_jid=f"{phone[1:]}@s.whatsapp.net",
        sender_phone=phone,
        timestamp=200.0,
        text=text,
        push_name="Lucía",
        type="text",
    )


def test_outbound_statuses_reach_the_message_and_the_dashboard(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    functions: dict[str, Any],
    push: RecordingPush,
    dashboard: str,
) -> None:
    message = call(
        "POST", "/v1/messages", key, body={"session_id": session["id"], "to": "+34600111222", "text": "Hi"}
    )[1]
    deliver(
        functions,
        ev(session, EventType.MESSAGE_SENT, message_id=message["id"], provider_message_id="3EB0AA", at=101.0),
    )
    for status in ("delivered", "read", "delivered"):
        receipt = ev(
            session,
            EventType.MESSAGE_STATUS,
            provider_message_ids=["3EB0AA", "3EB0UNKNOWN"],
            status=status,
            at=102.0,
        )
        deliver(functions, receipt)
    fetched = call("GET", f"/v1/messages/{message['id']}", key)[1]
    assert fetched["status"] == "read" and fetched["provider_message_id"] == "3EB0AA"
    events = [
        (m["event"], m["data"].get("status")) for m in push.to(dashboard) if m["event"].startswith("message")
    ]
    assert events == [("message_sent", None), ("message_status", "delivered"), ("message_status", "read")]
    sent = next(m for m in push.to(dashboard) if m["event"] == "message_sent")["data"]
    assert (
        sent["messageId"] == message["id"] and sent["sessionId"] == session["id"] and sent["content"] == "Hi"
    )


def test_a_failure_is_reported_with_its_reason(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    message = call(
        "POST", "/v1/messages", key, body={"session_id": session["id"], "to": "+34600111222", "text": "Hi"}
    )[1]
    failure = ev(
        session,
        EventType.MESSAGE_STATUS,
        message_id=message["id"],
        status="failed",
        reason="not_on_whatsapp",
        detail="no account",
    )
    deliver(functions, failure)
    fetched = call("GET", f"/v1/messages/{message['id']}", key)[1]
    assert fetched["status"] == "failed" and fetched["error"]["code"] == "not_on_whatsapp"


def test_incoming_messages_are_stored_once_and_fill_the_inbox(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    functions: dict[str, Any],
    push: RecordingPush,
    dashboard: str,
) -> None:
    deliver(
        functions, incoming(session, "ABC1", "Hola, ¿precio?"), incoming(session, "ABC1", "Hola, ¿precio?")
    )
    deliver(functions, incoming(session, "ABC2", "¿Sigue disponible?"))
    conversations = call("GET", "/v1/conversations", key)[1]["items"]
    assert len(conversations) == 1
    conversation = conversations[0]
    assert (
        conversation["unread"] == 2
        and conversation["chat"] == "+34600999888"
        and conversation["name"] == "Lucía"
    )
    assert conversation["last_message_preview"] == "¿Sigue disponible?"
    history = call("GET", f"/v1/conversations/{conversation['id']}/messages", key)[1]["items"]
    assert [m["text"] for m in history] == ["¿Sigue disponible?", "Hola, ¿precio?"]
    assert history[0]["from"] == "+34600999888" and history[0]["direction"] == "inbound"
    contacts = call("GET", "/v1/contacts", key)[1]["items"]
    assert [(c["phone"], c["name"], c["messages_in"]) for c in contacts] == [("+34600999888", "Lucía", 2)]
    pushed = [m for m in push.to(dashboard) if m["event"] == "incoming_message"]
    assert len(pushed) == 2 and pushed[0]["data"]["from"] == "+34600999888"

    # A reply goes into the same conversation; reading it sends receipts for the unread inbound ids.
    call(
        "POST", "/v1/messages", key, body={"session_id": session["id"], "to": "+34600999888", "text": "¡Sí!"}
    )
    d = wiring.deps()
    queue = d.queues.get(command_queue(shard_of(session["id"], d.settings.shards)))
    for m in queue.receive(max_messages=10):
        queue.delete(m.receipt)
    status, read, _ = call("POST", f"/v1/conversations/{conversation['id']}/read", key)
    assert status == 200 and read["unread"] == 0 and read["last_direction"] == "outbound"
    commands = [Command.model_validate_json(m.body) for m in queue.receive(max_messages=10)]
    assert [(c.type, sorted(c.data["message_ids"])) for c in commands] == [
        (CommandType.MARK_READ, ["ABC1", "ABC2"])
    ]


def test_conversations_are_tenant_scoped(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any], local_deps: wiring.Deps
) -> None:
    deliver(functions, incoming(session, "X1", "hello"))
    conversation = call("GET", "/v1/conversations", key)[1]["items"][0]
    other = tenants.create_tenant(local_deps.table, local_deps.clock, "Other")[1]
    assert call("GET", f"/v1/conversations/{conversation['id']}/messages", other)[0] == 404
    assert call("POST", f"/v1/conversations/{conversation['id']}/read", other)[0] == 404
    assert call("GET", "/v1/conversations", other)[1]["items"] == []


def test_a_receipt_that_overtakes_message_sent_still_counts(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    functions: dict[str, Any],
    push: RecordingPush,
    dashboard: str,
) -> None:
    message = call(
        "POST", "/v1/messages", key, body={"session_id": session["id"], "to": "+34600111222", "text": "Hi"}
    )[1]
    wamid = whatsapp_message_id(message["id"])
    deliver(
        functions,
        ev(session, EventType.MESSAGE_STATUS, provider_message_ids=[wamid], status="delivered", at=101.0),
    )
    deliver(
        functions,
        ev(session, EventType.MESSAGE_SENT, message_id=message["id"], provider_message_id=wamid, at=100.5),
    )
    got = call("GET", f"/v1/messages/{message['id']}", key)[1]
    # The late `message_sent` moves nothing, but the WhatsApp id it reports is still the message's.
    assert (got["status"], got["provider_message_id"]) == ("delivered", wamid)
    # The receipt found the message by that id: what it was told (the `message_sent` it implies, then
    # `delivered`) already carries it, once each.
    told = [
        (m["event"], m["data"].get("status"), m["data"]["providerMessageId"])
        for m in push.to(dashboard)
        if m["event"].startswith("message")
    ]
    assert told == [("message_sent", None, wamid), ("message_status", "delivered", wamid)]


def test_a_message_sent_after_the_message_failed_still_records_its_whatsapp_id(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    message = call(
        "POST", "/v1/messages", key, body={"session_id": session["id"], "to": "+34600111222", "text": "Hi"}
    )[1]
    failed = ev(
        session, EventType.MESSAGE_STATUS, message_id=message["id"], status="failed", reason="ack_timeout"
    )
    deliver(functions, failed)
    wamid = "3EB0LATE" + message["id"][-8:].upper()  # not the derived id: only the report knows it
    deliver(
        functions,
        ev(session, EventType.MESSAGE_SENT, message_id=message["id"], provider_message_id=wamid, at=100.5),
    )
    got = call("GET", f"/v1/messages/{message['id']}", key)[1]
    assert (got["status"], got["provider_message_id"]) == ("failed", wamid)
    # and a receipt for that id finds the message (its status stays failed: failed is final)
    rows = MessageRepository(wiring.deps().table)
    assert rows.message_id_of(session["tenant_id"], session["id"], wamid) == message["id"]


def test_an_edit_whose_receipt_overtakes_message_sent_counts_as_sent_and_edits_once(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    functions: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counted: list[str] = []

    class Sink:
        def count(self, name: str, value: float, labels: dict[str, str]) -> None:
            counted.extend([name] * int(value))

    monkeypatch.setattr(meters, "_sinks", [Sink()])
    body = {"session_id": session["id"], "to": "+34600111222", "text": "Cita el lunes"}
    original = call("POST", "/v1/messages", key, body=body)[1]
    sent = {"message_id": original["id"], "provider_message_id": whatsapp_message_id(original["id"])}
    now = wiring.deps().clock.now()  # an edit is allowed within 15 minutes of the send
    deliver(functions, ev(session, EventType.MESSAGE_SENT, **sent, at=now - 60))
    edit = {
        "session_id": session["id"],
        "to": "+34600111222",
        "edit": {"target_id": original["id"], "body": "Cita el martes"},
    }
    status, edited, _ = call("POST", "/v1/messages", key, body=edit)
    assert status == 202, edited
    wamid = whatsapp_message_id(edited["id"])
    # WhatsApp's receipt for the edit is applied before the connector's report that it went out.
    delivered = ev(
        session, EventType.MESSAGE_STATUS, provider_message_ids=[wamid], status="delivered", at=now - 20
    )
    deliver(functions, delivered)
    deliver(
        functions,
        ev(session, EventType.MESSAGE_SENT, message_id=edited["id"], provider_message_id=wamid, at=now - 30),
    )
    deliver(functions, delivered)  # redelivered: nothing more
    assert counted.count("wagate_messages_sent_total") == 2  # the original and the edit, once each
    target = call("GET", f"/v1/messages/{original['id']}", key)[1]
    assert target["text"] == "Cita el martes" and target["edited_at"] is not None, target
    assert [r["change"] for r in target["history"]] == ["edit"]
