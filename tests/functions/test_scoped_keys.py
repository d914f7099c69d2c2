"""Session-scoped API keys (seed 004: an advisor's key sees and sends only on their own number), on every
surface where a session or its messages appear: sessions, QR, pacing, groups, messages and scheduled
messages, conversations, contacts, reminders, and the dashboard socket."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.fakes.push import RecordingPush
from tests.functions.test_conversations_api import incoming
from tests.functions.test_reminders_api import SPANISH_REMINDER
from tests.functions.test_sessions_api import create, deliver, event, hold_lease, ws
from tests.support.lambdas import ApiCaller
from wagate.domain.events import EventType

Scoped = tuple[str, dict[str, Any], dict[str, Any]]  # the advisor's key, their session, another one


@pytest.fixture
def scoped(call: ApiCaller, key: str) -> Scoped:
    own, other = create(call, key, name="Ana's number"), create(call, key, name="Ben's number")
    body = {"name": "advisor Ana", "scopes": ["read", "send"], "sessions": [own["id"]]}
    status, made, _ = call("POST", "/v1/keys", key, body=body)
    assert status == 201, made
    assert made["key"]["sessions"] == [own["id"]]
    return made["secret"], own, other


def later(session: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "session_id": session["id"],
        "to": "+34600111222",
        "text": text,
        "scheduled_at": time.time() + 3600,
    }


def test_a_scoped_key_is_made_with_existing_sessions_and_never_admin(call: ApiCaller, key: str) -> None:
    own = create(call, key)
    status, body, _ = call(
        "POST", "/v1/keys", key, body={"name": "x", "scopes": ["admin"], "sessions": [own["id"]]}
    )
    assert status == 422 and "admin" in body["error"]["message"]
    status, body, _ = call(
        "POST", "/v1/keys", key, body={"name": "x", "scopes": ["read"], "sessions": ["ses_nobody"]}
    )
    assert status == 422 and body["error"]["details"] == {"sessions": ["ses_nobody"]}
    status, body, _ = call("POST", "/v1/keys", key, body={"name": "x", "scopes": ["read"], "sessions": []})
    assert status == 422
    listing = call("GET", "/v1/keys", key)[1]["items"]
    assert [k.get("sessions") for k in listing] == [None]


def test_sessions_qr_pacing_and_groups(call: ApiCaller, scoped: Scoped) -> None:
    advisor, own, other = scoped
    status, page, _ = call("GET", "/v1/sessions", advisor)
    assert status == 200 and [s["id"] for s in page["items"]] == [own["id"]]
    assert call("GET", f"/v1/sessions/{own['id']}", advisor)[0] == 200
    for path in ("", "/qr", "/pacing", "/groups"):
        status, body, _ = call("GET", f"/v1/sessions/{other['id']}{path}", advisor)
        assert status == 404, (path, body)
        assert body["error"]["code"] in ("not_found", "session_not_found")
    assert call("GET", f"/v1/sessions/{own['id']}/pacing", advisor)[0] == 200
    assert call("GET", f"/v1/sessions/{own['id']}/groups", advisor)[0] == 200
    assert call("POST", f"/v1/sessions/{other['id']}/groups/sync", advisor)[0] == 404
    # Admin routes stay admin's: a scoped key never has that scope.
    assert call("DELETE", f"/v1/sessions/{own['id']}", advisor)[0] == 403


def test_messages_and_scheduled_messages(call: ApiCaller, key: str, scoped: Scoped) -> None:
    advisor, own, other = scoped
    status, mine, _ = call("POST", "/v1/messages", advisor, body=later(own, "mine"))
    assert status == 202, mine
    status, body, _ = call("POST", "/v1/messages", advisor, body=later(other, "not mine"))
    assert status == 404
    status, body, _ = call(
        "POST", "/v1/messages", advisor, body={"pool": "front-desk", "to": "+34600111222", "text": "x"}
    )
    assert status == 403
    theirs = call("POST", "/v1/messages", key, body=later(other, "theirs"))[1]

    for query in ("", "status=scheduled"):
        page = call("GET", "/v1/messages", advisor, query=query)[1]
        assert [m["id"] for m in page["items"]] == [mine["id"]]
    assert call("GET", "/v1/messages", advisor, query=f"session_id={other['id']}")[0] == 404
    assert call("GET", f"/v1/messages/{mine['id']}", advisor)[0] == 200
    status, body, _ = call("GET", f"/v1/messages/{theirs['id']}", advisor)
    assert status == 404 and other["id"] not in body["error"]["message"]
    assert call("DELETE", f"/v1/messages/{theirs['id']}", advisor)[0] == 404
    assert call("GET", f"/v1/messages/{theirs['id']}", key)[1]["status"] == "scheduled"  # untouched
    assert call("DELETE", f"/v1/messages/{mine['id']}", advisor)[1]["status"] == "cancelled"
    # The admin key still sees both.
    assert len(call("GET", "/v1/messages", key)[1]["items"]) == 2


def test_conversations_and_contacts(call: ApiCaller, functions: dict[str, Any], scoped: Scoped) -> None:
    advisor, own, other = scoped
    for session, provider_id in ((own, "P1"), (other, "P2")):
        hold_lease(session)
        deliver(functions, event(session, EventType.CONNECTION_SUCCESS))
        deliver(functions, incoming(session, provider_id, "hola"))
    page = call("GET", "/v1/conversations", advisor)[1]
    assert [c["session_id"] for c in page["items"]] == [own["id"]]
    assert call("GET", "/v1/conversations", advisor, query=f"session_id={other['id']}")[0] == 404
    mine = page["items"][0]["id"]
    assert call("GET", f"/v1/conversations/{mine}/messages", advisor)[0] == 200
    assert call("POST", f"/v1/conversations/{mine}/read", advisor)[0] == 200


def test_other_sessions_conversations_and_contacts_do_not_exist_for_it(
    call: ApiCaller, key: str, functions: dict[str, Any], scoped: Scoped
) -> None:
    advisor, own, other = scoped
    hold_lease(other)
    deliver(functions, event(other, EventType.CONNECTION_SUCCESS))
    deliver(functions, incoming(other, "P9", "hola"))
    (theirs,) = call("GET", "/v1/conversations", key)[1]["items"]
    for method, path in (
        ("GET", f"/v1/conversations/{theirs['id']}"),
        ("GET", f"/v1/conversations/{theirs['id']}/messages"),
        ("POST", f"/v1/conversations/{theirs['id']}/read"),
    ):
        status, body, _ = call(method, path, advisor)
        assert status == 404, (path, body)
    status, body, _ = call("GET", "/v1/contacts", advisor)
    assert status == 403 and "/v1/conversations" in body["error"]["message"]
    assert call("GET", "/v1/contacts", key)[0] == 200


def test_reminders(call: ApiCaller, key: str, scoped: Scoped) -> None:
    advisor, own, other = scoped
    call(
        "POST",
        "/v1/templates",
        key,
        body={"name": "appointment_reminder", "language": "es", "body": "Hola {nombre_cliente}, {direccion}"},
    )

    def plan(session: dict[str, Any]) -> dict[str, Any]:
        return {
            "session_id": session["id"],
            "to": "+34600123456",
            "event_at": time.time() + 5 * 86400,
            "time_zone": "Europe/Madrid",
            "template": SPANISH_REMINDER,
            "offsets": ["-1d"],
        }

    status, mine, _ = call("POST", "/v1/reminders", advisor, body=plan(own))
    assert status == 201, mine
    assert call("POST", "/v1/reminders", advisor, body=plan(other))[0] == 404
    theirs = call("POST", "/v1/reminders", key, body=plan(other))[1]
    assert [p["id"] for p in call("GET", "/v1/reminders", advisor)[1]["items"]] == [mine["id"]]
    for method, body in (("GET", None), ("PATCH", {"event_at": time.time() + 6 * 86400}), ("DELETE", None)):
        assert call(method, f"/v1/reminders/{theirs['id']}", advisor, body=body)[0] == 404
    assert call("GET", f"/v1/reminders/{theirs['id']}", key)[1]["status"] == "active"
    assert call("GET", f"/v1/reminders/{mine['id']}", advisor)[0] == 200


def test_the_dashboard_socket_of_a_scoped_key_gets_only_its_sessions(
    call: ApiCaller, functions: dict[str, Any], push: RecordingPush, scoped: Scoped
) -> None:
    advisor, own, other = scoped
    token = call("POST", "/v1/realtime/token", advisor)[1]["token"]
    assert ws(functions, "$connect", "adv=", queryStringParameters={"token": token})["statusCode"] == 200
    ws(functions, "$default", "adv=", body=json.dumps({"event": "subscribe"}))  # "all": all of its own
    ws(
        functions,
        "$default",
        "adv=",
        body=json.dumps({"event": "subscribe", "data": {"session_id": other["id"]}}),
    )
    replies = push.to("adv=")
    assert [m["event"] for m in replies] == ["subscribed", "error"]
    assert other["id"] in replies[1]["data"]["message"]
    for session in (own, other):
        hold_lease(session)
        deliver(functions, event(session, EventType.QR_CODE, qr="2@x", expires_at=time.time() + 60))
    seen = [m["data"]["session_id"] for m in push.to("adv=") if m["event"] == "qr_code"]
    assert seen == [own["id"]]


def test_media_another_session_received(call: ApiCaller, key: str, scoped: Scoped) -> None:
    from wagate import wiring
    from wagate.domain.ids import new_id
    from wagate.domain.media import MediaKind
    from wagate.store.media import MediaRepository, MediaState, StoredFile

    advisor, own, other = scoped
    table = wiring.deps().table
    ids = {}
    for session in (own, other):
        stored = StoredFile(
            id=new_id("med"),
            tenant_id=own["tenant_id"],
            state=MediaState.READY,
            kind=MediaKind.IMAGE,
            mime="image/jpeg",
            size=3,
            source="inbound",
            session_id=session["id"],
            created_at=time.time(),
        )
        MediaRepository(table).create(stored)
        ids[session["id"]] = stored.id
    assert call("GET", f"/v1/media/{ids[own['id']]}", advisor)[0] == 200
    for path in (f"/v1/media/{ids[other['id']]}", f"/v1/media/{ids[other['id']]}/content"):
        status, body, _ = call("GET", path, advisor)
        assert status == 404 and body["error"]["code"] == "media_not_found"
    assert call("GET", f"/v1/media/{ids[other['id']]}", key)[0] == 200
