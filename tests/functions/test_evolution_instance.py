"""The Evolution surface's skeleton and instance routes, through the authorizer and functions/evolution.

Bodies and statuses are Evolution's (src/api/controllers/instance.controller.ts, src/exceptions,
src/main.ts's error handler); the sessions behind them are wagate's, checked through /v1 too.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest

from tests.functions.test_sessions_api import deliver, event, hold_lease
from tests.support.commands import take_commands
from tests.support.evolution import EvolutionCaller
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.domain.events import CommandType, EventType
from wagate.domain.tenants import Scope
from wagate.evolution import access, instances
from wagate.evolution.routes import instance as instance_routes
from wagate.services import tenants

UNAUTHORIZED = {"status": 401, "error": "Unauthorized", "response": {"message": "Unauthorized"}}


@pytest.fixture(autouse=True)
def short_qr_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """No connector runs here: a wait for a QR code that never comes should not take 8 s."""
    monkeypatch.setattr(instances, "QR_WAIT_SECONDS", 0.3)


def create(evo: EvolutionCaller, key: str, name: str = "advisor-ana", **body: Any) -> dict[str, Any]:
    status, created, _ = evo(
        "POST", "/instance/create", key, body={"instanceName": name, "integration": "WAGATE-SANDBOX", **body}
    )
    assert status == 201, created
    return dict(created)


def _sessions(tenant: str) -> list[Any]:
    from wagate import compose

    return compose.session_service().list(tenant)[0]


_TENANTS: list[str] = []


@pytest.fixture
def key(local_deps: wiring.Deps) -> str:
    tenant, secret = tenants.create_tenant(local_deps.table, local_deps.clock, "Wellness")
    _TENANTS.append(tenant.id)
    return secret


# ---- the skeleton: root, auth, errors -------------------------------------------------------------


def test_root_answers_like_evolution_without_a_key(evo: EvolutionCaller) -> None:
    status, body, _ = evo("GET", "/")
    assert status == 200
    assert body["status"] == 200 and body["message"] == "Welcome to the Evolution API, it is working!"
    assert body["version"].startswith("2.")


def test_a_missing_or_unknown_apikey_is_evolutions_401(evo: EvolutionCaller, key: str) -> None:
    assert evo("GET", "/instance/fetchInstances")[:2] == (401, UNAUTHORIZED)
    assert evo("GET", "/instance/fetchInstances", "not-a-key")[:2] == (401, UNAUTHORIZED)
    assert evo("GET", "/instance/fetchInstances", "wg_" + "x" * 40)[:2] == (401, UNAUTHORIZED)
    # Bearer (wagate's own way) works too: the authorizer reads both.
    status, body, _ = evo("GET", "/instance/fetchInstances", headers={"authorization": f"Bearer {key}"})
    assert status == 200 and body == []


def test_an_unknown_route_is_evolutions_404(evo: EvolutionCaller, key: str) -> None:
    status, body, _ = evo("GET", "/instance/nope", key, query="a=1")
    assert status == 404
    assert body == {
        "status": 404,
        "error": "Not Found",
        "response": {"message": ["Cannot GET /evolution/instance/nope?a=1"]},
    }
    # Evolution has no 405: a known path with another method is the same 404.
    status, body, _ = evo("DELETE", "/instance/fetchInstances", key)
    assert status == 404 and body["response"]["message"] == [
        "Cannot DELETE /evolution/instance/fetchInstances"
    ]


def test_bad_bodies_are_400_in_evolutions_shape(evo: EvolutionCaller, key: str) -> None:
    status, body, _ = evo("POST", "/instance/create", key, raw_body="{not json")
    assert status == 400 and body["error"] == "Bad Request" and isinstance(body["response"]["message"], list)
    status, body, _ = evo("POST", "/instance/create", key, body={"integration": "WHATSAPP-BAILEYS"})
    assert (status, body) == (
        400,
        {
            "status": 400,
            "error": "Bad Request",
            "response": {"message": ['instance requires property "instanceName"']},
        },
    )
    status, body, _ = evo("POST", "/instance/create", key, body={"instanceName": 7})
    assert status == 400 and body["response"]["message"][0].startswith("instanceName ")
    status, body, _ = evo("POST", "/instance/create", key, raw_body="[1, 2]")
    assert status == 400
    status, body, _ = evo(
        "POST", "/instance/create", key, body={"instanceName": "x", "integration": "TELEGRAM"}
    )
    assert (status, body["response"]["message"]) == (400, ["Invalid integration"])
    status, body, _ = evo("POST", "/instance/create", key, raw_body="x" * (2 * 1024 * 1024))
    assert status == 413 and body["error"] == "Payload Too Large"


# ---- instance/create ------------------------------------------------------------------------------


def test_create_makes_a_session_and_an_instance_token(
    evo: EvolutionCaller, call: ApiCaller, key: str
) -> None:
    created = create(evo, key, qrcode=False, rejectCall=True, msgCall="busy")
    assert created["instance"] == {
        "instanceName": "advisor-ana",
        "instanceId": created["instance"]["instanceId"],
        "integration": "WAGATE-SANDBOX",
        "webhookWaBusiness": None,
        "accessTokenWaBusiness": "",
        "status": "connecting",
    }
    assert created["settings"]["rejectCall"] is True and created["settings"]["msgCall"] == "busy"
    assert created["qrcode"] is None
    token = created["hash"]
    assert token.startswith("wg_")
    # The session, seen through wagate's own API, and the token is a key limited to it.
    status, session, _ = call("GET", f"/v1/sessions/{created['instance']['instanceId']}", key)
    assert status == 200 and session["name"] == "advisor-ana" and session["provider"] == "sandbox"
    status, listed, _ = call("GET", "/v1/sessions", token)
    assert [s["id"] for s in listed["items"]] == [session["id"]]
    status, state, _ = evo("GET", "/instance/connectionState/advisor-ana", token)
    assert (status, state) == (200, {"instance": {"instanceName": "advisor-ana", "state": "connecting"}})
    # The same name again in this tenant: Evolution's 403.
    status, body, _ = evo("POST", "/instance/create", key, body={"instanceName": "advisor-ana"})
    assert (status, body) == (
        403,
        {
            "status": 403,
            "error": "Forbidden",
            "response": {"message": ['This name "advisor-ana" is already in use.']},
        },
    )


def test_one_instance_per_name_even_when_creates_race(
    evo: EvolutionCaller, call: ApiCaller, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both creates pass the name check before either session exists; the name claim lets one through."""
    barrier = threading.Barrier(2, timeout=10)
    listed = access.sessions_named

    def in_step(tenant_id: str, name: str | None = None) -> list[Any]:
        found = listed(tenant_id, name)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()  # both have looked; neither has created
        return found

    monkeypatch.setattr(instance_routes, "sessions_named", in_step)
    answers: list[tuple[int, Any]] = []

    def create_one() -> None:
        status, body, _ = evo("POST", "/instance/create", key, body={"instanceName": "twin"})
        answers.append((status, body))

    threads = [threading.Thread(target=create_one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(status for status, _ in answers) == [201, 403], answers
    refused = next(body for status, body in answers if status == 403)
    assert refused["response"]["message"] == ['This name "twin" is already in use.']
    monkeypatch.setattr(instance_routes, "sessions_named", listed)
    assert [s["name"] for s in call("GET", "/v1/sessions", key)[1]["items"]] == ["twin"]
    # Deleted outside Evolution: the name is free again.
    [twin] = call("GET", "/v1/sessions", key)[1]["items"]
    assert call("DELETE", f"/v1/sessions/{twin['id']}", key)[0] == 204
    assert evo("POST", "/instance/create", key, body={"instanceName": "twin"})[0] == 201


def test_create_needs_the_global_key(evo: EvolutionCaller, key: str, local_deps: wiring.Deps) -> None:
    token = create(evo, key)["hash"]
    assert evo("POST", "/instance/create", token, body={"instanceName": "other"})[:2] == (401, UNAUTHORIZED)
    tenant_id = tenants.authenticate(local_deps.table, key).tenant_id
    _, reader = tenants.create_key(local_deps.table, local_deps.clock, tenant_id, "ro", [Scope.READ])
    status, body, _ = evo("POST", "/instance/create", reader, body={"instanceName": "other"})
    assert status == 403 and "global API key" in body["response"]["message"][0]


def test_create_with_the_clients_own_token(evo: EvolutionCaller, key: str) -> None:
    own = "6F1C2D3E-4A5B-4C6D-8E9F-0A1B2C3D4E5F"
    created = create(evo, key, token=own)
    assert created["hash"] == own
    assert evo("GET", "/instance/connectionState/advisor-ana", own)[0] == 200
    # Taken by another instance: refused, and no instance is left behind.
    status, body, _ = evo(
        "POST",
        "/instance/create",
        key,
        body={"instanceName": "second", "integration": "WAGATE-SANDBOX", "token": own},
    )
    assert status == 403, body
    status, body, _ = evo("POST", "/instance/create", key, body={"instanceName": "third", "token": "short"})
    assert status == 400 and "20-200" in body["response"]["message"][0]
    names = [i["name"] for i in evo("GET", "/instance/fetchInstances", key)[1]]
    assert names == ["advisor-ana"]


def test_create_with_qrcode_answers_the_first_qr_code(
    evo: EvolutionCaller,
    key: str,
    functions: dict[str, Any],
    local_deps: wiring.Deps,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a connector does meanwhile (here a thread): takes the connect command, reports a QR code."""
    monkeypatch.setattr(instances, "QR_WAIT_SECONDS", 10.0)
    tenant_id = tenants.authenticate(local_deps.table, key).tenant_id
    stop = threading.Event()

    def connector() -> None:
        while not stop.is_set():
            named = [s for s in _sessions(tenant_id) if s.name == "advisor-qr"]
            if named and take_commands(named[0].id):
                session = {"id": named[0].id, "tenant_id": tenant_id}
                expires = local_deps.clock.now() + 60
                deliver(
                    functions, event(session, EventType.QR_CODE, qr="2@sandbox,qrtext", expires_at=expires)
                )
                return
            stop.wait(0.05)

    thread = threading.Thread(target=connector)
    thread.start()
    try:
        created = create(evo, key, "advisor-qr", qrcode=True)
    finally:
        stop.set()
        thread.join(5)
    assert created["qrcode"]["code"] == "2@sandbox,qrtext"
    assert created["qrcode"]["base64"].startswith("data:image/png;base64,")
    assert created["qrcode"]["pairingCode"] is None


def test_a_number_at_create_links_by_code(evo: EvolutionCaller, call: ApiCaller, key: str) -> None:
    """Evolution asks for a pairing code when instance/create names the number (connectToWhatsapp)."""
    status, body, _ = evo("POST", "/instance/create", key, body={"instanceName": "x", "number": "34 600 l11"})
    assert status == 400 and body["response"]["message"][0].startswith("number ")
    assert evo("GET", "/instance/fetchInstances", key)[1] == []
    created = create(evo, key, integration="WHATSAPP-BAILEYS", number="34600111222")
    session = call("GET", f"/v1/sessions/{created['instance']['instanceId']}", key)[1]
    assert session["link_by_code"] is True and session["phone"] == "+34600111222"
    commands = take_commands(session["id"])
    assert [c.data.get("link") for c in commands if c.type == CommandType.CONNECT][-1] == "code"


def test_a_business_instance_is_a_cloud_session(evo: EvolutionCaller, call: ApiCaller, key: str) -> None:
    status, body, _ = evo(
        "POST", "/instance/create", key, body={"instanceName": "meta", "integration": "WHATSAPP-BUSINESS"}
    )
    assert (status, body["response"]["message"]) == (400, ["token is required"])
    status, body, _ = evo(
        "POST",
        "/instance/create",
        key,
        body={
            "instanceName": "meta",
            "integration": "WHATSAPP-BUSINESS",
            "token": "EAAG" + "a" * 40,
            "number": "1234567890",
            "businessId": "not a number",
        },
    )
    assert status == 400 and body["response"]["message"][0].startswith("businessId")
    created = create(
        evo,
        key,
        "meta",
        integration="WHATSAPP-BUSINESS",
        token="EAAG" + "a" * 40,
        number="1234567890",
        businessId="9876543210",
    )
    assert created["instance"]["integration"] == "WHATSAPP-BUSINESS"
    assert created["hash"].startswith("wg_") and created["hash"] != "EAAG" + "a" * 40
    session = call("GET", f"/v1/sessions/{created['instance']['instanceId']}", key)[1]
    assert session["provider"] == "cloud"
    # No QR code on the Cloud API: connect answers the state at once (the token check is under way).
    status, body, _ = evo("GET", "/instance/connect/meta", key)
    assert (status, body) == (200, {"instance": {"instanceName": "meta", "state": "connecting"}})


# ---- the other instance routes --------------------------------------------------------------------


def test_connection_state_follows_the_session(
    evo: EvolutionCaller, key: str, functions: dict[str, Any]
) -> None:
    created = create(evo, key)
    session = {"id": created["instance"]["instanceId"], "tenant_id": _TENANTS[-1]}
    hold_lease(session)
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS, phone="+15550001111"))
    status, body, _ = evo("GET", "/instance/connectionState/advisor-ana", key)
    assert (status, body) == (200, {"instance": {"instanceName": "advisor-ana", "state": "open"}})
    deliver(functions, event(session, EventType.LOGGED_OUT, reason="unlinked"))
    assert evo("GET", "/instance/connectionState/advisor-ana", key)[1]["instance"]["state"] == "close"
    status, body, _ = evo("GET", "/instance/connectionState/nobody", key)
    assert (status, body) == (
        404,
        {
            "status": 404,
            "error": "Not Found",
            "response": {"message": ['The "nobody" instance does not exist']},
        },
    )


def test_an_instance_token_reaches_its_instance_only(evo: EvolutionCaller, key: str) -> None:
    first = create(evo, key, "first")
    second = create(evo, key, "second")
    assert evo("GET", "/instance/connectionState/second", first["hash"])[:2] == (401, UNAUTHORIZED)
    assert evo("DELETE", "/instance/logout/second", first["hash"])[:2] == (401, UNAUTHORIZED)
    status, listed, _ = evo("GET", "/instance/fetchInstances", first["hash"])
    assert status == 200 and [i["name"] for i in listed] == ["first"]
    assert evo("GET", "/instance/fetchInstances", first["hash"], query="instanceName=second")[:2] == (
        401,
        UNAUTHORIZED,
    )
    status, listed, _ = evo("GET", "/instance/fetchInstances", key)
    assert sorted(i["name"] for i in listed) == ["first", "second"]
    assert second["instance"]["instanceId"] in {i["id"] for i in listed}


def test_fetch_instances_filters_and_shape(evo: EvolutionCaller, key: str, functions: dict[str, Any]) -> None:
    created = create(evo, key, rejectCall=True)
    other = create(evo, key, "other")
    session = {"id": created["instance"]["instanceId"], "tenant_id": _TENANTS[-1]}
    hold_lease(session)
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS, phone="+15550001111"))
    status, listed, _ = evo("GET", "/instance/fetchInstances", key, query="instanceName=advisor-ana")
    assert status == 200 and len(listed) == 1
    [item] = listed
    assert item["id"] == created["instance"]["instanceId"] and item["name"] == "advisor-ana"
    assert item["connectionStatus"] == "open" and item["ownerJid"] == "15550001111@s.whatsapp.net"
    assert item["integration"] == "WAGATE-SANDBOX" and item["number"] == "15550001111"
    assert item["token"] == created["hash"] and item["createdAt"].endswith("Z")
    assert item["Setting"]["rejectCall"] is True and item["Setting"]["readMessages"] is False
    status, listed, _ = evo(
        "GET", "/instance/fetchInstances", key, query=f"instanceId={other['instance']['instanceId']}"
    )
    assert [i["name"] for i in listed] == ["other"]
    status, body, _ = evo("GET", "/instance/fetchInstances", key, query="instanceName=ghost")
    assert (status, body["response"]["message"]) == (404, ['Instance "ghost" not found'])
    status, listed, _ = evo("GET", "/instance/fetchInstances", key, query="number=15550001111")
    assert [i["name"] for i in listed] == ["advisor-ana"]
    assert len(evo("GET", "/instance/fetchInstances", key, query="instanceName=")[1]) == 2  # no filter


def test_connect_starts_a_closed_instance_and_links_by_code(
    evo: EvolutionCaller, key: str, functions: dict[str, Any], local_deps: wiring.Deps
) -> None:
    created = create(evo, key, integration="WHATSAPP-BAILEYS")
    session = {"id": created["instance"]["instanceId"], "tenant_id": _TENANTS[-1]}
    take_commands(session["id"])
    # Connecting already: the QR object, nothing sent again.
    status, body, _ = evo("GET", "/instance/connect/advisor-ana", key)
    assert (status, body) == (200, {"pairingCode": None})
    assert take_commands(session["id"]) == []
    expires = local_deps.clock.now() + 60
    deliver(functions, event(session, EventType.QR_CODE, qr="2@ref,abc", expires_at=expires))
    status, body, _ = evo("GET", "/instance/connect/advisor-ana", key)
    assert body["code"] == "2@ref,abc" and body["base64"].startswith("data:image/png;base64,")
    # ?number= links by a code typed on that phone.
    status, body, _ = evo("GET", "/instance/connect/advisor-ana", key, query="number=34600111222")
    assert status == 200
    [command] = take_commands(session["id"])
    assert command.type == CommandType.CONNECT and command.data["link"] == "code"
    deliver(
        functions,
        event(session, EventType.QR_CODE, qr="2@ref,def", expires_at=expires, pairing_code="ABCD1234"),
    )
    assert evo("GET", "/instance/connect/advisor-ana", key)[1]["pairingCode"] == "ABCD1234"
    # Closed (logged out): connect starts it again.
    deliver(functions, event(session, EventType.LOGGED_OUT, reason="unlinked"))
    take_commands(session["id"])
    assert evo("GET", "/instance/connect/advisor-ana", key)[0] == 200
    assert [c.type for c in take_commands(session["id"])] == [CommandType.CONNECT]
    status, body, _ = evo("GET", "/instance/connect/advisor-ana", key, query="number=12x")
    assert status == 400 and body["error"] == "Bad Request"
    # Open: the connection state instead.
    hold_lease(session)
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS, phone="+34600111222"))
    assert evo("GET", "/instance/connect/advisor-ana", key)[1] == {
        "instance": {"instanceName": "advisor-ana", "state": "open"}
    }


def test_restart_logout_and_delete(
    evo: EvolutionCaller, call: ApiCaller, key: str, functions: dict[str, Any]
) -> None:
    created = create(evo, key)
    token = created["hash"]
    session = {"id": created["instance"]["instanceId"], "tenant_id": _TENANTS[-1]}
    take_commands(session["id"])
    status, body, _ = evo("POST", "/instance/restart/advisor-ana", token, body={})
    assert status == 200 and body["instance"]["instanceName"] == "advisor-ana"
    [command] = take_commands(session["id"])
    assert command.type == CommandType.CONNECT and command.data["restart"] is True
    status, body, _ = evo("DELETE", "/instance/logout/advisor-ana", key)
    assert (status, body) == (
        200,
        {"status": "SUCCESS", "error": False, "response": {"message": "Instance logged out"}},
    )
    assert [c.type for c in take_commands(session["id"])] == [CommandType.LOGOUT]
    deliver(functions, event(session, EventType.LOGGED_OUT, reason="logged out"))
    status, body, _ = evo("DELETE", "/instance/logout/advisor-ana", key)
    assert (status, body["response"]["message"]) == (400, ['The "advisor-ana" instance is not connected'])
    status, body, _ = evo("POST", "/instance/restart/advisor-ana", key)
    assert (status, body["response"]["message"]) == (400, ['The "advisor-ana" instance is not connected'])
    # Delete (the instance token may): the session goes, and its token stops working.
    status, body, _ = evo("DELETE", "/instance/delete/advisor-ana", token)
    assert (status, body) == (
        200,
        {"status": "SUCCESS", "error": False, "response": {"message": "Instance deleted"}},
    )
    assert [(c.type, c.data) for c in take_commands(session["id"])] == [
        (CommandType.LOGOUT, {"deleted": True})
    ]
    assert call("GET", f"/v1/sessions/{session['id']}", key)[0] == 404
    assert evo("GET", "/instance/fetchInstances", token)[:2] == (401, UNAUTHORIZED)
    assert evo("GET", "/instance/connectionState/advisor-ana", key)[0] == 404


def test_state_changing_calls_are_audited(evo: EvolutionCaller, call: ApiCaller, key: str) -> None:
    create(evo, key)
    evo("DELETE", "/instance/delete/advisor-ana", key)
    status, log, _ = call("GET", "/v1/audit", key)
    assert status == 200, log
    found = {e["route"]: e["action"] for e in log["items"] if "/evolution/" in (e.get("route") or "")}
    assert found == {
        "POST /evolution/instance/create": "key.created",
        "DELETE /evolution/instance/delete/{instanceName}": "session.deleted",
    }
