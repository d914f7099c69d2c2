"""WhatsApp groups: sync on request, store what the connector reports, list them, and check group sends."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functions.test_messages_api import drain
from tests.functions.test_sessions_api import deliver
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.domain.events import CommandType, EventType, SessionEvent
from wagate.domain.tenants import Scope
from wagate.services import tenants

WORKSHOP = "120363000000000001@g.us"
ANNOUNCEMENTS = "120363000000000002@g.us"
ELSEWHERE = "120363099999999999@g.us"


@pytest.fixture
def session(call: ApiCaller, key: str) -> dict[str, Any]:
    status, body, _ = call("POST", "/v1/sessions", key, body={"name": "Talleres", "provider": "sandbox"})
    assert status == 201
    drain(body["id"])
    return dict(body)


def event(session: dict[str, Any], kind: EventType, at: float, fence: int = 1, **data: Any) -> SessionEvent:
    return SessionEvent(
        type=kind, tenant_id=session["tenant_id"], session_id=session["id"], fence=fence, at=at, data=data
    )


def synced(session: dict[str, Any], at: float, *groups: tuple[str, str, int], fence: int = 1) -> SessionEvent:
    listed = [{"jid": jid, "subject": subject, "participants": n} for jid, subject, n in groups]
    return event(session, EventType.GROUPS_SYNCED, at, fence=fence, groups=listed)


@pytest.fixture
def connected(functions: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS, 10.0, phone="+34600000001"))
    return session


def groups_of(call: ApiCaller, key: str, session: dict[str, Any]) -> dict[str, Any]:
    status, body, _ = call("GET", f"/v1/sessions/{session['id']}/groups", key)
    assert status == 200, body
    return dict(body)


def test_sync_needs_a_connected_number(call: ApiCaller, key: str, session: dict[str, Any]) -> None:
    status, error, _ = call("POST", f"/v1/sessions/{session['id']}/groups/sync", key)
    assert status == 409
    assert error["error"]["code"] == "session_not_connected" and "pending" in error["error"]["message"]
    assert error["error"]["details"] == {"status": "pending"}
    assert drain(session["id"]) == []


def test_sync_asks_the_connector_and_stores_what_it_reports(
    call: ApiCaller, key: str, connected: dict[str, Any], functions: dict[str, Any]
) -> None:
    assert groups_of(call, key, connected) == {"items": [], "synced_at": None, "cursor": None}
    status, body, _ = call("POST", f"/v1/sessions/{connected['id']}/groups/sync", key)
    assert status == 202 and body["last_synced_at"] is None
    assert [c.type for c in drain(connected["id"])] == [CommandType.SYNC_GROUPS]

    report = synced(connected, 50.0, (WORKSHOP, "Taller de cerámica", 12), (ANNOUNCEMENTS, "Avisos", 3))
    bad = event(connected, EventType.GROUPS_SYNCED, 50.0, groups=[*report.data["groups"], {"jid": "x"}])
    assert deliver(functions, bad) == {"batchItemFailures": []}  # one bad entry does not sink the sync

    listed = groups_of(call, key, connected)
    assert listed["synced_at"] == 50.0
    assert [(g["jid"], g["subject"], g["participants"], g["synced_at"]) for g in listed["items"]] == [
        (WORKSHOP, "Taller de cerámica", 12, 50.0),
        (ANNOUNCEMENTS, "Avisos", 3, 50.0),
    ]
    status, body, _ = call("POST", f"/v1/sessions/{connected['id']}/groups/sync", key)
    assert status == 202 and body["last_synced_at"] == 50.0


def test_a_newer_sync_replaces_the_list_and_an_older_one_changes_nothing(
    call: ApiCaller, key: str, connected: dict[str, Any], functions: dict[str, Any]
) -> None:
    first = synced(connected, 50.0, (WORKSHOP, "Taller", 12), (ANNOUNCEMENTS, "Avisos", 3))
    second = synced(connected, 60.0, (ANNOUNCEMENTS, "Avisos 2026", 4), (ELSEWHERE, "Nuevo", 2))
    deliver(functions, first, second)
    deliver(functions, first)  # redelivered late
    stale_lease = synced(connected, 70.0, (WORKSHOP, "from an old connector", 1), fence=0)
    deliver(functions, stale_lease)
    listed = groups_of(call, key, connected)
    assert listed["synced_at"] == 60.0
    assert [(g["jid"], g["subject"]) for g in listed["items"]] == [
        (ANNOUNCEMENTS, "Avisos 2026"),
        (ELSEWHERE, "Nuevo"),
    ]
    page = call("GET", f"/v1/sessions/{connected['id']}/groups", key, query="limit=1")[1]
    rest = call(
        "GET", f"/v1/sessions/{connected['id']}/groups", key, query=f"limit=1&cursor={page['cursor']}"
    )
    assert [g["jid"] for g in page["items"] + rest[1]["items"]] == [ANNOUNCEMENTS, ELSEWHERE]


def test_group_sends_are_checked_once_groups_are_known(
    call: ApiCaller, key: str, connected: dict[str, Any], functions: dict[str, Any], local_deps: wiring.Deps
) -> None:
    def send(to: str, **extra: Any) -> tuple[int, Any]:
        body = {"session_id": connected["id"], "to": to, "text": "Empezamos en 1 hora", **extra}
        status, answer, _ = call("POST", "/v1/messages", key, body=body)
        return status, answer

    # Never synced: nothing is known, so a well-formed group id is accepted (the connector has the last word).
    status, first = send(ELSEWHERE)
    assert status == 202 and first["to"] == ELSEWHERE
    drain(connected["id"])

    deliver(functions, synced(connected, 50.0, (WORKSHOP, "Taller", 12)))
    assert send(WORKSHOP)[0] == 202
    assert send(WORKSHOP, scheduled_at=local_deps.clock.now() + 3600)[0] == 202
    drain(connected["id"])
    before = call("GET", "/v1/messages", key)[1]["items"]

    for extra in ({}, {"scheduled_at": local_deps.clock.now() + 3600}):
        status, error = send(ELSEWHERE, **extra)
        assert status == 422, error
        assert error["error"]["code"] == "unknown_group"
        assert ELSEWHERE in error["error"]["message"] and "groups/sync" in error["error"]["message"]
        assert error["error"]["details"]["field"] == "to" and error["error"]["details"]["synced_at"] == 50.0
    assert call("GET", "/v1/messages", key)[1]["items"] == before
    assert drain(connected["id"]) == []


def test_another_tenants_session_is_not_found(
    call: ApiCaller, connected: dict[str, Any], functions: dict[str, Any], local_deps: wiring.Deps
) -> None:
    deliver(functions, synced(connected, 50.0, (WORKSHOP, "Taller", 12)))
    other = tenants.create_tenant(local_deps.table, local_deps.clock, "Other")[1]
    for method, path in (
        ("GET", f"/v1/sessions/{connected['id']}/groups"),
        ("POST", f"/v1/sessions/{connected['id']}/groups/sync"),
        ("GET", "/v1/sessions/ses_nope/groups"),
    ):
        status, error, _ = call(method, path, other)
        assert status == 404 and error["error"]["code"] == "not_found", (method, path, error)
    assert drain(connected["id"]) == []


def test_scopes(call: ApiCaller, key: str, connected: dict[str, Any], local_deps: wiring.Deps) -> None:
    reader = tenants.create_key(local_deps.table, local_deps.clock, connected["tenant_id"], "r", [Scope.READ])
    status, error, _ = call("POST", f"/v1/sessions/{connected['id']}/groups/sync", reader[1])
    assert status == 403 and error["error"]["code"] == "forbidden"
    assert call("GET", f"/v1/sessions/{connected['id']}/groups", reader[1])[0] == 200
    sender = tenants.create_key(local_deps.table, local_deps.clock, connected["tenant_id"], "s", [Scope.SEND])
    assert call("POST", f"/v1/sessions/{connected['id']}/groups/sync", sender[1])[0] == 202
