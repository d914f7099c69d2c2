"""Sending typed kinds over `POST /v1/messages`: each provider takes what it can send and answers 422 with
the reason at accept time for the rest; targets (reactions, edits, deletes) and quotes are checked and
handed to the connector; Cloud kinds become Meta's documented Graph bodies; our edit, once sent, changes
the message it names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.graph import FakeGraph
from tests.functions.cloud_support import (  # noqa: F401 (*_fixture: fixtures by name)
    call_fixture,
    functions_fixture,
    graph_fixture,
    key_fixture,
    notification,
    post_webhook,
    run_cloud_queue,
    session_fixture,
    text_message,
)
from tests.functions.test_sessions_api import deliver
from tests.support.commands import take_commands as drain
from tests.support.lambdas import ApiCaller
from wagate.domain.events import CommandType, EventType, SessionEvent

TO = "+34600123456"
LOCATION = {"latitude": 40.4168, "longitude": -3.7038, "name": "Taller", "address": "Calle Mayor 1"}
BUTTONS = {
    "style": "buttons",
    "body": "¿Confirmas la cita?",
    "buttons": [{"id": "yes", "title": "Sí"}, {"id": "no", "title": "No"}],
}


def post(call: ApiCaller, key: str, session_id: str, **body: Any) -> tuple[int, dict[str, Any]]:
    status, answer, _ = call("POST", "/v1/messages", key, body={"session_id": session_id, "to": TO, **body})
    return status, dict(answer)


@pytest.fixture
def web(call: ApiCaller, key: str) -> dict[str, Any]:
    status, body, _ = call("POST", "/v1/sessions", key, body={"name": "Taller", "provider": "web"})
    assert status == 201, body
    drain(body["id"])
    return dict(body)


def sent(functions: dict[str, Any], session: dict[str, Any], message_id: str, pid: str, at: float) -> None:
    event = SessionEvent(
        type=EventType.MESSAGE_SENT,
        tenant_id=session["tenant_id"],
        session_id=session["id"],
        fence=1,
        at=at,
        data={"message_id": message_id, "provider_message_id": pid, "at": at},
    )
    deliver(functions, event)


def incoming(functions: dict[str, Any], session: dict[str, Any], pid: str, text: str) -> None:
    data = {
        "provider_message_id": pid,
        "chat_jid": "34600123456@s.whatsapp.net",
        "sender_jid": "34600123456@s.whatsapp.net",
        "sender_phone": TO,
        "timestamp": 100.0,
        "text": text,
        "type": "text",
    }
    event = SessionEvent(
        type=EventType.INCOMING_MESSAGE,
        tenant_id=session["tenant_id"],
        session_id=session["id"],
        fence=1,
        at=100.0,
        data=data,
    )
    deliver(functions, event)


def test_web_takes_its_kinds_and_hands_targets_and_quotes_to_the_connector(
    call: ApiCaller, key: str, web: dict[str, Any], functions: dict[str, Any]
) -> None:
    status, where = post(call, key, web["id"], type="location", location=LOCATION)
    assert status == 202 and where["kind"] == "location" and where["content"]["name"] == "Taller"
    assert where["text"].startswith("📍 Taller")
    [command] = drain(web["id"])
    assert command.type == CommandType.SEND and command.data["content"]["latitude"] == 40.4168

    incoming(functions, web, "WAIN1", "¿Tenéis cita el martes?")
    inbound = call("GET", "/v1/messages", key, query="direction=inbound")[1]["items"][0]
    status, reply = post(call, key, web["id"], text="Sí, a las 10", reply_to=inbound["id"])
    assert status == 202 and reply["quoted_id"] == "WAIN1"
    [command] = drain(web["id"])
    assert command.data["quoted"] == {
        "provider_id": "WAIN1",
        "from_me": False,
        "content": {"type": "text", "body": "¿Tenéis cita el martes?", "preview_url": False},
    }
    assert command.data["content"] == {"type": "text", "body": "Sí, a las 10"}

    status, react = post(call, key, web["id"], reaction={"target_id": inbound["id"], "emoji": "👍"})
    assert status == 202 and react["kind"] == "reaction"
    assert react["content"]["target_provider_id"] == "WAIN1"
    [command] = drain(web["id"])
    assert command.data["target"] == {"provider_id": "WAIN1", "from_me": False}

    status, poll = post(call, key, web["id"], poll={"name": "¿Qué día?", "options": ["lunes", "martes"]})
    assert status == 202 and poll["kind"] == "poll"
    drain(web["id"])

    # Edits: our own text, once sent, within 15 minutes; deletes: our own (1:1).
    status, mine = post(call, key, web["id"], text="Nos vemos el lunes")
    drain(web["id"])
    status, error = post(call, key, web["id"], edit={"target_id": mine["id"], "body": "el martes"})
    assert (status, error["error"]["code"]) == (422, "target_not_sent")
    sent(functions, web, mine["id"], "3EB0MINE", at=mine["created_at"])
    status, edit = post(call, key, web["id"], edit={"target_id": mine["id"], "body": "Nos vemos el martes"})
    assert status == 202 and edit["content"]["target_provider_id"] == "3EB0MINE", edit
    [command] = drain(web["id"])
    assert command.data["target"] == {"provider_id": "3EB0MINE", "from_me": True}
    sent(functions, web, edit["id"], "3EB0EDIT", at=mine["created_at"] + 5)
    changed = call("GET", f"/v1/messages/{mine['id']}", key)[1]
    assert changed["text"] == "Nos vemos el martes" and changed["history"][0]["text"] == "Nos vemos el lunes"
    status, error = post(call, key, web["id"], edit={"target_id": inbound["id"], "body": "x"})
    assert (status, error["error"]["code"]) == (422, "not_editable")
    status, error = post(call, key, web["id"], delete={"target_id": inbound["id"]})
    assert (status, error["error"]["code"]) == (422, "not_deletable")
    status, gone = post(call, key, web["id"], delete={"target_id": mine["id"]})
    assert status == 202 and gone["kind"] == "delete"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"interactive": BUTTONS}, "unsupported_kind"),
        ({"template": {"name": "t", "components": [{"type": "body", "parameters": []}]}}, "unsupported_kind"),
        ({"reaction": {"target_id": "msg_nope", "emoji": "👍"}}, "target_not_found"),
        ({"type": "poll", "text": "Hola"}, "validation_failed"),
        ({"text": "a", "location": LOCATION}, "validation_failed"),
        ({"location": {"latitude": 91, "longitude": 0}}, "validation_failed"),
        ({"reaction": {"emoji": "👍"}}, "validation_failed"),
        ({"reaction": {"target_id": "msg_x", "emoji": "👍"}, "reply_to": "msg_y"}, "validation_failed"),
        ({"poll": {"name": "q", "options": ["a", "a"]}}, "validation_failed"),
        ({"contacts": []}, "validation_failed"),
    ],
)
def test_web_refusals_are_422_with_the_reason(
    call: ApiCaller, key: str, web: dict[str, Any], body: dict[str, Any], code: str
) -> None:
    status, error = post(call, key, web["id"], **body)
    assert status == 422 and error["error"]["code"] == code, error
    assert drain(web["id"]) == []


def test_cloud_kinds_become_meta_bodies_and_the_rest_is_refused(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, functions: dict[str, Any]
) -> None:
    post_webhook(functions, notification(messages=[text_message("wamid.IN1", "Hola")]))
    inbound = call("GET", "/v1/messages", key, query="direction=inbound")[1]["items"][0]
    card = {
        "name": "Ana Pérez",
        "phones": [{"phone": "+34600123456"}],
        "emails": ["ana@example.com"],
        "organization": "Taller",
    }
    rows = [{"id": "mon", "title": "Lunes", "description": "10:00"}, {"id": "tue", "title": "Martes"}]
    listed = {
        "style": "list",
        "body": "Elige día",
        "button": "Ver días",
        "sections": [{"title": "Días", "rows": rows}],
    }
    components = [
        {"type": "header", "parameters": [{"type": "image", "link": "https://cdn.example.com/taller.jpg"}]},
        {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "abc123"}]},
    ]
    for body in (
        {"location": LOCATION, "reply_to": inbound["id"]},
        {"contacts": [card]},
        {"reaction": {"target_id": inbound["id"], "emoji": "❤"}},
        {"interactive": BUTTONS},
        {"interactive": listed},
        {"template": {"name": "cita", "language": "es", "variables": {"1": "Ana"}, "components": components}},
    ):
        status, answer = post(call, key, session["id"], **body)
        assert status == 202, answer
    run_cloud_queue(functions)
    bodies = graph.bodies()
    assert [b["type"] for b in bodies] == [
        "location",
        "contacts",
        "reaction",
        "interactive",
        "interactive",
        "template",
    ]
    assert bodies[0]["location"] == {
        "latitude": 40.4168,
        "longitude": -3.7038,
        "name": "Taller",
        "address": "Calle Mayor 1",
    }
    assert bodies[0]["context"] == {"message_id": "wamid.IN1"}
    assert bodies[1]["contacts"] == [
        {
            "name": {"formatted_name": "Ana Pérez"},
            "phones": [{"phone": "+34600123456", "type": "CELL", "wa_id": "34600123456"}],
            "emails": [{"email": "ana@example.com", "type": "WORK"}],
            "org": {"company": "Taller"},
        }
    ]
    assert bodies[2]["reaction"] == {"message_id": "wamid.IN1", "emoji": "❤"}
    assert bodies[3]["interactive"] == {
        "type": "button",
        "body": {"text": "¿Confirmas la cita?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "yes", "title": "Sí"}},
                {"type": "reply", "reply": {"id": "no", "title": "No"}},
            ]
        },
    }
    assert bodies[4]["interactive"]["action"]["sections"][0]["rows"][0] == {
        "id": "mon",
        "title": "Lunes",
        "description": "10:00",
    }
    assert bodies[5]["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
        {
            "type": "header",
            "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/taller.jpg"}}],
        },
        components[1],
    ]
    for body in ({"poll": {"name": "q", "options": ["a", "b"]}}, {"delete": {"target_id": inbound["id"]}}):
        status, error = post(call, key, session["id"], **body)
        assert status == 422 and error["error"]["code"] == "unsupported_kind", error
        assert "cloud session cannot send" in error["error"]["message"]


def test_a_sandbox_contact_can_write_a_typed_kind(call: ApiCaller, key: str) -> None:
    sandbox = call("POST", "/v1/sessions", key, body={"name": "Demo", "provider": "sandbox"})[1]
    drain(sandbox["id"])
    body = {
        "content": {"type": "interactive_reply", "reply_type": "button_reply", "id": "yes", "title": "Sí"}
    }
    status, answer, _ = call("POST", f"/v1/sandbox/sessions/{sandbox['id']}/reply", key, body=body)
    assert status == 202, answer
    [command] = drain(sandbox["id"])
    assert command.data["content"]["reply_type"] == "button_reply" and "text" not in command.data
    bad = {"content": {"type": "location", "latitude": 500, "longitude": 0}}
    status, error, _ = call("POST", f"/v1/sandbox/sessions/{sandbox['id']}/reply", key, body=bad)
    assert status == 422, error
