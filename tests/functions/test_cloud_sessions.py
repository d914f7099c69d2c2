"""`cloud` sessions over the API: encrypted credentials, the token check, one session per number.

They live in the same sessions API and dashboard events as QR sessions; the check runs on a fake Graph.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.graph import VALID_TOKEN, FakeGraph
from tests.fakes.push import RecordingPush
from tests.functions.cloud_support import (  # noqa: F401 (*_fixture: fixtures by name)
    APP_SECRET,
    PNID,
    VERIFY_TOKEN,
    call_fixture,
    create_cloud,
    dashboard,
    functions_fixture,
    get_webhook,
    graph_fixture,
    key_fixture,
    run_cloud_queue,
)
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.cloud.commands import CLOUD_QUEUE
from wagate.services import tenants
from wagate.services.sessions import command_queue
from wagate.store import keys


def session_of(call: ApiCaller, key: str, session_id: str) -> dict[str, Any]:
    status, session, _ = call("GET", f"/v1/sessions/{session_id}", key)
    assert status == 200
    return dict(session)


def test_create_checks_the_token_and_connects(
    call: ApiCaller,
    key: str,
    graph: FakeGraph,
    functions: dict[str, Any],
    local_deps: wiring.Deps,
    push: RecordingPush,
) -> None:
    dashboard(local_deps, key)
    status, session = create_cloud(call, key, metadata={"crm": 1})
    assert status == 201, session
    assert (
        session["provider"] == "cloud"
        and session["status"] == "pending"
        and session["metadata"] == {"crm": 1}
    )
    assert not {"access_token", "app_secret", "verify_token"} & set(session)
    assert run_cloud_queue(functions) == {"batchItemFailures": []}
    connected = session_of(call, key, session["id"])
    assert connected["status"] == "connected" and connected["phone"] == "+15550953877"
    assert [r.url.path for r in graph.requests] == [f"/v25.0/{PNID}"]
    [event] = [m for m in push.to("dash=") if m["event"] == "connection_success"]
    assert event["data"]["sessionId"] == session["id"] and event["data"]["status"] == "connected"
    listed = call("GET", "/v1/sessions", key)[1]["items"]
    assert [s["id"] for s in listed] == [session["id"]]


def test_no_connector_command_and_no_shard_index(call: ApiCaller, key: str, local_deps: wiring.Deps) -> None:
    _, session = create_cloud(call, key)
    for shard in range(local_deps.settings.shards):
        assert local_deps.queues.get(command_queue(shard)).approximate_depth() == 0
    row = local_deps.table.get(f"T#{session['tenant_id']}", f"SESSION#{session['id']}")
    assert row is not None and "gsi1pk" not in row
    assert local_deps.queues.get(CLOUD_QUEUE).approximate_depth() == 1


def test_secrets_are_encrypted_at_rest(call: ApiCaller, key: str, local_deps: wiring.Deps) -> None:
    _, session = create_cloud(call, key)
    creds = local_deps.table.get(*keys.cloud_credentials(session["tenant_id"], session["id"]))
    route = local_deps.table.get(*keys.meta_route(PNID))
    assert creds is not None and route is not None
    assert isinstance(creds["access_token"], bytes) and VALID_TOKEN.encode() not in creds["access_token"]
    data_dir = Path(local_deps.settings.data_dir)
    stored = b"".join(path.read_bytes() for path in data_dir.iterdir() if path.is_file())
    assert stored and VALID_TOKEN.encode() not in stored and APP_SECRET.encode() not in stored


def test_a_bad_token_fails_the_session_with_the_reason(
    call: ApiCaller, key: str, graph: FakeGraph, functions: dict[str, Any]
) -> None:
    _, session = create_cloud(call, key, access_token="EAAG" + "r" * 40)
    run_cloud_queue(functions)
    failed = session_of(call, key, session["id"])
    assert failed["status"] == "failed" and failed["status_reason"] == "token_invalid"
    status, error, _ = call(
        "POST", "/v1/messages", key, body={"session_id": session["id"], "to": "+34600123456", "text": "x"}
    )
    assert status == 409 and error["error"]["code"] == "session_not_connected"
    # A person fixes the token on Meta's side; connect checks again.
    graph.tokens.add("EAAG" + "r" * 40)
    assert call("POST", f"/v1/sessions/{session['id']}/connect", key)[0] == 202
    run_cloud_queue(functions)
    assert session_of(call, key, session["id"])["status"] == "connected"


def test_graph_down_during_the_check_retries(
    call: ApiCaller, key: str, graph: FakeGraph, functions: dict[str, Any]
) -> None:
    _, session = create_cloud(call, key)
    graph.break_next(httpx.ConnectError("down"))
    run_cloud_queue(functions, rounds=1)  # the check goes back to the queue with a backoff
    seen = session_of(call, key, session["id"])  # and the session says why it waits
    assert seen["status"] == "connecting" and seen["status_reason"] == "graph_unreachable"
    assert "Graph could not be reached (network): " in seen["status_detail"]
    # (test_cloud_reachability.py: the retries, their end, and POST /connect)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"access_token": None}, "body"),  # "provider cloud needs access_token"
        ({"phone_number_id": "not-a-number"}, "phone_number_id"),
        ({"access_token": "short"}, "access_token"),
        ({"verify_token": "abc"}, "verify_token"),
        ({"provider": "web"}, "body"),  # cloud fields on a web session
    ],
)
def test_bad_cloud_sessions_are_422(call: ApiCaller, key: str, body: dict[str, Any], field: str) -> None:
    status, error = create_cloud(call, key, **body)
    assert status == 422, error
    assert field in [f["field"] for f in error["error"]["details"]["fields"]]
    assert "EAAG" not in json.dumps(error)
    assert call("GET", "/v1/sessions", key)[1]["items"] == []


def test_a_number_belongs_to_one_session(call: ApiCaller, key: str, local_deps: wiring.Deps) -> None:
    _, first = create_cloud(call, key)
    status, error = create_cloud(call, key)
    assert status == 409 and error["error"]["code"] == "phone_number_id_taken"
    assert error["error"]["details"]["session_id"] == first["id"]
    other = tenants.create_tenant(local_deps.table, local_deps.clock, "Other")[1]
    status, error = create_cloud(call, other)
    assert status == 409 and error["error"]["details"]["session_id"] is None  # not another tenant's id
    assert len(call("GET", "/v1/sessions", key)[1]["items"]) == 1


def test_delete_frees_the_number(
    call: ApiCaller, key: str, graph: FakeGraph, functions: dict[str, Any], local_deps: wiring.Deps
) -> None:
    _, session = create_cloud(call, key)
    run_cloud_queue(functions)
    assert call("DELETE", f"/v1/sessions/{session['id']}", key)[0] == 204
    run_cloud_queue(functions)  # the logout command wipes the credentials and the number's route
    assert local_deps.table.get(*keys.cloud_credentials(session["tenant_id"], session["id"])) is None
    assert local_deps.table.get(*keys.meta_route(PNID)) is None
    status, again = create_cloud(call, key)
    assert status == 201 and again["id"] != session["id"]


def test_a_route_left_by_a_deleted_session_is_taken_over(
    call: ApiCaller, key: str, local_deps: wiring.Deps
) -> None:
    _, session = create_cloud(call, key)
    assert call("DELETE", f"/v1/sessions/{session['id']}", key)[0] == 204  # its clean-up never runs
    status, again = create_cloud(call, key)
    assert status == 201
    route = local_deps.table.get(*keys.meta_route(PNID))
    assert route is not None and route["session_id"] == again["id"]


def test_disconnect_and_logout_are_statuses(
    call: ApiCaller, key: str, graph: FakeGraph, functions: dict[str, Any]
) -> None:
    _, session = create_cloud(call, key)
    run_cloud_queue(functions)
    call("POST", f"/v1/sessions/{session['id']}/disconnect", key)
    run_cloud_queue(functions)
    assert session_of(call, key, session["id"])["status"] == "disconnected"
    call("POST", f"/v1/sessions/{session['id']}/connect", key)
    run_cloud_queue(functions)
    assert session_of(call, key, session["id"])["status"] == "connected"
    call("POST", f"/v1/sessions/{session['id']}/logout", key)
    run_cloud_queue(functions)
    assert session_of(call, key, session["id"])["status"] == "logged_out"


def test_a_new_token_fixes_a_failed_session(
    call: ApiCaller, key: str, graph: FakeGraph, functions: dict[str, Any]
) -> None:
    _, session = create_cloud(call, key, access_token="EAAG" + "e" * 40)  # expired
    run_cloud_queue(functions)
    assert session_of(call, key, session["id"])["status"] == "failed"
    body = {"access_token": VALID_TOKEN, "verify_token": "a-brand-new-verify-token"}
    status, pending, _ = call("PUT", f"/v1/sessions/{session['id']}/cloud-secrets", key, body=body)
    assert status == 202 and pending["status"] == "pending" and VALID_TOKEN not in json.dumps(pending)
    run_cloud_queue(functions)
    assert session_of(call, key, session["id"])["status"] == "connected"
    new = "hub.mode=subscribe&hub.verify_token=a-brand-new-verify-token&hub.challenge=5"
    old = f"hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=5"
    assert get_webhook(functions, new)[0] == 200 and get_webhook(functions, old)[0] == 403
    _, sandbox, _ = call("POST", "/v1/sessions", key, body={"name": "S", "provider": "sandbox"})
    status, error, _ = call("PUT", f"/v1/sessions/{sandbox['id']}/cloud-secrets", key, body=body)
    assert status == 409 and error["error"]["code"] == "not_cloud"
