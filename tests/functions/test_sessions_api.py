"""Sessions over the API, the events consumer that applies connector events, and the dashboard socket."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from typing import Any

import pytest

from connector.leases import Leases, LeaseTimes, session_lease_key
from tests.fakes.push import RecordingPush
from tests.support.commands import take_commands as commands_for
from tests.support.lambdas import ApiCaller, LambdaContext
from wagate import process_liveness, wiring
from wagate.domain.events import CommandType, EventType, SessionEvent
from wagate.services import tenants


def deliver(functions: dict[str, Any], *events: SessionEvent) -> dict[str, Any]:
    """Feeds events to the events function as one SQS FIFO batch."""
    records = [
        {
            "messageId": f"m{i}",
            "receiptHandle": f"r{i}",
            "body": event.model_dump_json(),
            "attributes": {"MessageGroupId": event.session_id, "ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:EventsQueue.fifo",
            "awsRegion": "eu-west-1",
        }
        for i, event in enumerate(events)
    ]
    result: dict[str, Any] = functions["events"].lambda_handler({"Records": records}, LambdaContext())
    return result


def event(session: dict[str, Any], kind: EventType, fence: int = 1, **data: Any) -> SessionEvent:
    return SessionEvent(
        type=kind, tenant_id=session["tenant_id"], session_id=session["id"], fence=fence, at=1.0, data=data
    )


def hold_lease(session: dict[str, Any], owner: str = "connector-1", seconds: float = 60) -> None:
    """What a connector does before it reports anything of a session: take its lease."""
    d = wiring.deps()
    lease_key = session_lease_key(session["tenant_id"], session["id"])
    assert Leases(d.table, d.clock, owner).acquire(lease_key, LeaseTimes.for_ttl(seconds)) is not None


def create(call: ApiCaller, key: str, **body: Any) -> dict[str, Any]:
    status, session, _ = call(
        "POST", "/v1/sessions", key, body={"name": "Sales", "provider": "sandbox", **body}
    )
    assert status == 201, session
    return dict(session)


def test_create_session_starts_it(call: ApiCaller, key: str) -> None:
    session = create(call, key, phone="+34 600 12 34 56", metadata={"crm_id": 7})
    assert session["status"] == "pending"
    assert session["phone"] == "+34600123456"
    assert session["sandbox"] is True and session["metadata"] == {"crm_id": 7}
    assert [c.type for c in commands_for(session["id"])] == [CommandType.CONNECT]
    status, fetched, _ = call("GET", f"/v1/sessions/{session['id']}", key)
    assert status == 200 and fetched["id"] == session["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "provider": "telegram"}, "provider"),
        ({"name": "", "provider": "web"}, "name"),
        ({"provider": "web"}, "name"),
    ],
)
def test_invalid_sessions_are_422_naming_the_field(
    call: ApiCaller, key: str, body: dict[str, Any], field: str
) -> None:
    status, error, _ = call("POST", "/v1/sessions", key, body=body)
    assert status == 422
    assert field in [f["field"] for f in error["error"]["details"]["fields"]]


@pytest.mark.parametrize("phone", ["600123456", "+1 555", "+34 abc"])
def test_bad_phone_is_422_and_nothing_is_stored(call: ApiCaller, key: str, phone: str) -> None:
    status, error, _ = call(
        "POST", "/v1/sessions", key, body={"name": "x", "provider": "web", "phone": phone}
    )
    assert status == 422
    assert "phone" in error["error"]["message"]
    assert call("GET", "/v1/sessions", key)[1]["items"] == []


def test_limit_per_tenant_is_409(call: ApiCaller, key: str) -> None:
    for _ in range(5):
        create(call, key)
    status, error, _ = call("POST", "/v1/sessions", key, body={"name": "sixth", "provider": "sandbox"})
    assert status == 409
    assert error["error"]["code"] == "limit_exceeded"
    first = call("GET", "/v1/sessions", key)[1]["items"][0]
    assert call("DELETE", f"/v1/sessions/{first['id']}", key)[0] == 204
    create(call, key)  # room again


def test_list_pages_with_a_cursor(call: ApiCaller, key: str) -> None:
    ids = {create(call, key)["id"] for _ in range(3)}
    status, page, _ = call("GET", "/v1/sessions", key, query="limit=2")
    assert status == 200 and len(page["items"]) == 2 and page["cursor"]
    status, rest, _ = call("GET", "/v1/sessions", key, query=f"limit=2&cursor={page['cursor']}")
    assert {s["id"] for s in page["items"] + rest["items"]} == ids and rest["cursor"] is None


def test_another_tenants_session_is_404(call: ApiCaller, key: str, local_deps: wiring.Deps) -> None:
    session = create(call, key)
    other = tenants.create_tenant(local_deps.table, local_deps.clock, "Other")[1]
    for method, path in [("GET", ""), ("DELETE", ""), ("POST", "/logout"), ("GET", "/qr")]:
        status, error, _ = call(method, f"/v1/sessions/{session['id']}{path}", other)
        assert status == 404, (method, path)
        assert error["error"]["code"] == "not_found"


def test_read_only_keys_cannot_create_sessions(call: ApiCaller, key: str, local_deps: wiring.Deps) -> None:
    tenant_id = tenants.authenticate(local_deps.table, key).tenant_id
    _, reader = tenants.create_key(local_deps.table, local_deps.clock, tenant_id, "dash", ["read"])  # type: ignore[list-item]
    status, error, _ = call("POST", "/v1/sessions", reader, body={"name": "x", "provider": "sandbox"})
    assert status == 403 and error["error"]["details"]["required"] == "admin"
    assert call("GET", "/v1/sessions", reader)[0] == 200


def test_qr_flow_through_the_events_consumer(call: ApiCaller, key: str, functions: dict[str, Any]) -> None:
    session = create(call, key)
    status, error, _ = call("GET", f"/v1/sessions/{session['id']}/qr", key)
    assert status == 404 and error["error"]["code"] == "no_qr_code"

    expires = wiring.deps().clock.now() + 60
    assert deliver(functions, event(session, EventType.QR_CODE, qr="2@sandbox,abc", expires_at=expires)) == {
        "batchItemFailures": []
    }
    status, qr, headers = call("GET", f"/v1/sessions/{session['id']}/qr", key)
    assert (
        status == 200 and qr["qr"] == "2@sandbox,abc" and qr["data_url"].startswith("data:image/png;base64,")
    )
    assert 0 < qr["expires_in"] <= 60 and "Expires" in headers
    status, png, headers = call("GET", f"/v1/sessions/{session['id']}/qr", key, query="format=png")
    assert status == 200 and png.startswith(b"\x89PNG") and headers["Content-Type"] == "image/png"
    status, svg, _ = call("GET", f"/v1/sessions/{session['id']}/qr", key, query="format=svg")
    assert svg.startswith("<svg")
    status, text, _ = call("GET", f"/v1/sessions/{session['id']}/qr", key, query="format=terminal")
    assert "█" in text
    status, error, _ = call("GET", f"/v1/sessions/{session['id']}/qr", key, query="format=gif")
    assert status == 422

    hold_lease(session)
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS, phone="+15550001111"))
    status, fetched, _ = call("GET", f"/v1/sessions/{session['id']}", key)
    assert fetched["status"] == "connected" and fetched["phone"] == "+15550001111"
    assert call("GET", f"/v1/sessions/{session['id']}/qr", key)[0] == 404


def test_events_from_an_older_lease_are_ignored(call: ApiCaller, key: str, functions: dict[str, Any]) -> None:
    session = create(call, key)
    hold_lease(session)
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS, fence=5))
    deliver(functions, event(session, EventType.CONNECTION_LOST, fence=4, reason="stale owner"))
    assert call("GET", f"/v1/sessions/{session['id']}", key)[1]["status"] == "connected"
    tls = (
        "cannot open a WebSocket to wss://web.whatsapp.com/ws/chat: TLS: the edge's certificate is untrusted"
    )
    deliver(functions, event(session, EventType.CONNECTION_LOST, fence=5, reason="network", detail=tls))
    fetched = call("GET", f"/v1/sessions/{session['id']}", key)[1]
    assert fetched["status"] == "disconnected" and fetched["status_reason"] == "network"
    assert fetched["status_detail"] == tls  # the reason says what kind, the detail says what to fix
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS, fence=5))
    assert call("GET", f"/v1/sessions/{session['id']}", key)[1]["status_detail"] is None


def test_actions_send_commands_and_refuse_the_wrong_state(
    call: ApiCaller, key: str, functions: dict[str, Any]
) -> None:
    session = create(call, key)
    commands_for(session["id"])
    for action, kind in [("disconnect", "disconnect"), ("connect", "connect"), ("reconnect", "connect")]:
        status, body, _ = call("POST", f"/v1/sessions/{session['id']}/{action}", key)
        assert status == 202, body
        assert [c.type for c in commands_for(session["id"])] == [kind]
    deliver(functions, event(session, EventType.LOGGED_OUT, reason="unlinked from the phone"))
    status, error, _ = call("POST", f"/v1/sessions/{session['id']}/logout", key)
    assert status == 409 and error["error"]["code"] == "invalid_state"
    status, body, _ = call("POST", f"/v1/sessions/{session['id']}/connect", key)
    assert status == 202 and body["status"] == "pending"


def test_sandbox_actions_only_on_sandbox_sessions(call: ApiCaller, key: str) -> None:
    sandbox = create(call, key)
    commands_for(sandbox["id"])
    status, body, _ = call("POST", f"/v1/sandbox/sessions/{sandbox['id']}/scan", key)
    assert status == 202 and body["sandbox"] is True
    assert [(c.type, c.data["action"]) for c in commands_for(sandbox["id"])] == [
        (CommandType.SANDBOX, "scan")
    ]
    body = {"contact": "+1 555 010 0002", "text": "Hi"}
    assert call("POST", f"/v1/sandbox/sessions/{sandbox['id']}/reply", key, body=body)[0] == 202
    assert [c.data for c in commands_for(sandbox["id"])] == [
        {"action": "reply", "from": "+15550100002", "text": "Hi"}
    ]
    limited = call("POST", f"/v1/sandbox/sessions/{sandbox['id']}/rate_limit", key, body={"expire": 90})
    assert limited[0] == 202 and limited[1]["action"] == "rate_limit"
    assert [c.data for c in commands_for(sandbox["id"])] == [{"action": "rate_limit", "expire": 90}]
    web = create(call, key, provider="web")
    status, error, _ = call("POST", f"/v1/sandbox/sessions/{web['id']}/scan", key)
    assert status == 409 and error["error"]["code"] == "not_sandbox"
    assert call("POST", f"/v1/sandbox/sessions/{sandbox['id']}/explode", key)[0] == 422


def test_delete_logs_out_and_frees_the_slot(call: ApiCaller, key: str) -> None:
    session = create(call, key)
    commands_for(session["id"])
    assert call("DELETE", f"/v1/sessions/{session['id']}", key)[0] == 204
    assert [(c.type, c.data) for c in commands_for(session["id"])] == [
        (CommandType.LOGOUT, {"deleted": True})
    ]
    assert call("GET", f"/v1/sessions/{session['id']}", key)[0] == 404


# ---- the dashboard socket ---------------------------------------------------------------------------


def ws(functions: dict[str, Any], route: str, connection_id: str, **extra: Any) -> dict[str, Any]:
    event = {
        "requestContext": {"routeKey": route, "connectionId": connection_id, "eventType": "MESSAGE"},
        "isBase64Encoded": False,
        **extra,
    }
    result: dict[str, Any] = functions["ws"].lambda_handler(event, LambdaContext())
    return result


def test_dashboard_gets_its_tenants_events_only(
    call: ApiCaller, key: str, functions: dict[str, Any], push: RecordingPush, local_deps: wiring.Deps
) -> None:
    session = create(call, key)
    assert ws(functions, "$connect", "c1=", queryStringParameters={"token": "rt_forged"})["statusCode"] == 401
    assert ws(functions, "$connect", "c1=")["statusCode"] == 401
    status, token, _ = call("POST", "/v1/realtime/token", key)
    assert status == 200 and token["token"].startswith("rt_")
    assert (
        ws(functions, "$connect", "c1=", queryStringParameters={"token": token["token"]})["statusCode"] == 200
    )
    subscribe = json.dumps({"event": "subscribe", "data": {"session_id": session["id"]}})
    ws(functions, "$default", "c1=", body=subscribe)
    assert push.to("c1=") == [
        {"event": "subscribed", "data": {"session_id": session["id"], "sessionId": session["id"]}}
    ]

    other_key = tenants.create_tenant(local_deps.table, local_deps.clock, "Other")[1]
    other_token = call("POST", "/v1/realtime/token", other_key)[1]["token"]
    ws(functions, "$connect", "c2=", queryStringParameters={"token": other_token})
    ws(functions, "$default", "c2=", body=json.dumps({"action": "subscribe"}))

    deliver(functions, event(session, EventType.QR_CODE, qr="2@x", expires_at=local_deps.clock.now() + 60))
    qr_message, reported = push.to("c1=")[-2:]
    assert qr_message["event"] == "qr_code"
    assert reported["event"] == "session_status" and reported["data"]["status"] == "qr"  # the change
    assert qr_message["data"]["session_id"] == session["id"] and qr_message["data"]["status"] == "qr"
    assert qr_message["data"]["qrCode"].startswith("data:image/png;base64,")
    assert [m["event"] for m in push.to("c2=")] == ["subscribed"]  # the other tenant saw nothing

    push.gone.add("c1=")
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS))
    deliver(functions, event(session, EventType.CONNECTION_LOST, reason="x"))
    assert len([m for m in push.sent if m[0] == "c1="]) == 3  # no post after it was gone


def test_socket_messages_get_clear_errors(
    functions: dict[str, Any], push: RecordingPush, call: ApiCaller, key: str
) -> None:
    token = call("POST", "/v1/realtime/token", key)[1]["token"]
    ws(functions, "$connect", "c3=", queryStringParameters={"token": token})
    ws(functions, "$default", "c3=", body="not json")
    ws(functions, "$default", "c3=", body=json.dumps({"event": "dance"}))
    ws(functions, "$default", "c3=", body=json.dumps({"event": "ping"}))
    assert [m["event"] for m in push.to("c3=")] == ["error", "error", "pong"]
    assert "subscribe" in push.to("c3=")[1]["data"]["message"]
    ws(functions, "$disconnect", "c3=")
    assert ws(functions, "$default", "c3=", body=json.dumps({"event": "subscribe"}))["statusCode"] == 410


def test_health_counts_sessions_by_status(call: ApiCaller, key: str, functions: dict[str, Any]) -> None:
    first, second = create(call, key), create(call, key)
    deliver(functions, event(first, EventType.CONNECTION_SUCCESS))
    deliver(functions, event(first, EventType.CONNECTION_SUCCESS))  # a duplicate changes nothing
    call("DELETE", f"/v1/sessions/{second['id']}", key)
    status, health, _ = call("GET", "/health")
    assert status == 200
    assert health["sessions"]["connected"] == 1 and health["sessions"]["pending"] == 0


def test_connected_is_shown_only_while_a_live_connector_holds_the_session(
    call: ApiCaller, key: str, functions: dict[str, Any]
) -> None:
    """After a crash the last report says `connected`, but no socket is open: the API says so."""
    session = create(call, key)
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS, phone="+15550001111"))

    def shown() -> tuple[str, str | None]:
        fetched = call("GET", f"/v1/sessions/{session['id']}", key)[1]
        [listed] = [s for s in call("GET", "/v1/sessions", key)[1]["items"] if s["id"] == session["id"]]
        assert (listed["status"], listed["status_reason"]) == (fetched["status"], fetched["status_reason"])
        return fetched["status"], fetched["status_reason"]

    assert shown() == ("connecting", "connector_lost")  # nobody holds its lease
    hold_lease(session, seconds=2)
    assert shown() == ("connected", None)
    time.sleep(2.1)  # the holder stopped renewing
    assert shown() == ("connecting", "connector_lost")

    # A connector process on this host that was killed: no need to wait for its lease to run out.
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = process_liveness._start_ticks(holder.pid)
    assert started is not None
    identity = dataclasses.replace(process_liveness.current(), pid=holder.pid, started=started)
    hold_lease(session, owner="connector-2")
    lease_key = session_lease_key(session["tenant_id"], session["id"])
    wiring.deps().table.update(lease_key.pk, lease_key.sk, set=identity.attributes())
    assert shown() == ("connected", None)
    holder.kill()
    holder.wait(10)
    assert shown() == ("connecting", "connector_lost")


def test_a_session_released_on_purpose_shows_why_before_the_report_arrives(
    call: ApiCaller, key: str, functions: dict[str, Any]
) -> None:
    """A connector that stops a session for good (replaced, logged out) reports why on the events queue
    and releases the lease; until the report is applied the API shows what the lease was left with,
    not `connector_lost` ("being reconnected"), which would be false. A new holder clears it."""
    session = create(call, key)
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS, phone="+15550001111"))
    d = wiring.deps()
    lease_key = session_lease_key(session["tenant_id"], session["id"])
    leases = Leases(d.table, d.clock, "connector-1")
    lease = leases.acquire(lease_key, LeaseTimes.for_ttl(60))
    assert lease is not None
    ending = {"status": "disconnected", "status_reason": "replaced", "status_detail": "another client"}
    leases.release(lease, ended=ending)
    shown = call("GET", f"/v1/sessions/{session['id']}", key)[1]
    assert (shown["status"], shown["status_reason"], shown["status_detail"]) == tuple(ending.values())

    hold_lease(session, owner="connector-2")  # taken again: the old ending no longer applies
    shown = call("GET", f"/v1/sessions/{session['id']}", key)[1]
    assert (shown["status"], shown["status_reason"]) == ("connected", None)


def test_connect_with_a_phone_links_by_code_and_says_so_to_the_connector(call: ApiCaller, key: str) -> None:
    web = create(call, key, provider="web")
    commands_for(web["id"])
    status, body, _ = call(
        "POST", f"/v1/sessions/{web['id']}/connect", key, body={"phone": "+34 600 111 222"}
    )
    assert status == 202 and body["link_by_code"] is True and body["phone"] == "+34600111222"
    [command] = commands_for(web["id"])
    assert command.data["link"] == "code"
    status, body, _ = call("POST", f"/v1/sessions/{web['id']}/connect", key)  # no phone: back to QR codes
    assert status == 202 and body["link_by_code"] is False
    assert [c.data["link"] for c in commands_for(web["id"])] == ["qr"]
    for bad in ([None, None], {"phone": "+34 600 11l 222"}):
        status, error, _ = call("POST", f"/v1/sessions/{web['id']}/connect", key, body=bad)
        assert status == 422, (bad, error)
    sandbox = create(call, key)
    status, error, _ = call(
        "POST", f"/v1/sessions/{sandbox['id']}/connect", key, body={"phone": "+34600111222"}
    )
    assert status == 422 and error["error"]["details"]["field"] == "phone"
