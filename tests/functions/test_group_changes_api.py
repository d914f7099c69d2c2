"""Changing groups through the API: each change is a pending operation and a `group` command; the outcome
the connector reports finishes it (done, or failed with WhatsApp's refusal by meaning) and rewrites the
stored group; what others change arrives as `group_updated`. Both reach CRM webhooks; the CRM's
`external_id` stays on the group through syncs and changes; scoped keys, bad input and unknown groups."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fakes.push import RecordingPush
from tests.functions import test_groups_api
from tests.functions.test_groups_api import event, groups_of, synced
from tests.functions.test_messages_api import drain
from tests.functions.test_sessions_api import create, deliver, ws
from tests.functions.test_webhooks_api import URL, use
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.domain.events import CommandType, EventType

session = test_groups_api.session  # fixtures: a sandbox session, and the same once connected
connected = test_groups_api.connected
WORKSHOP = "120363000000000001@g.us"
NEW = "120363000000000077@g.us"
ANA, BEN = "+34600000002", "+34600000003"


def member(phone: str, role: str | None = None) -> dict[str, Any]:
    return {"jid": f"{phone[1:]}@s.whatsapp.net", "phone": phone, "lid": None, "role": role}


def info(jid: str, subject: str, *members: dict[str, Any]) -> dict[str, Any]:
    return {"jid": jid, "subject": subject, "participants": len(members), "members": list(members)}


def outcome(session: dict[str, Any], at: float, operation: dict[str, Any], **data: Any) -> Any:
    fields = {"operation_id": operation["id"], "action": operation["action"], "group_jid": None}
    fields.update(ok=True, result={}, error_code=None, error=None)
    return event(session, EventType.GROUP_OPERATION, at, **{**fields, **data})


@pytest.fixture
def call(functions: dict[str, Any], local_deps: wiring.Deps) -> ApiCaller:
    use(local_deps)  # webhooks to a CRM whose name resolves (test_webhooks_api), never called here
    return ApiCaller(functions["api"], functions["authorizer"])


def hook(call: ApiCaller, key: str) -> dict[str, Any]:
    status, made, _ = call("POST", "/v1/webhooks", key, body={"url": URL})
    assert status == 201, made
    return dict(made)


def sent(call: ApiCaller, key: str, webhook: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    status, page, _ = call("GET", f"/v1/webhooks/{webhook['id']}/deliveries", key)
    assert status == 200, page
    return [d["payload"]["data"] for d in page["items"] if d["event_type"] == kind]


def test_create_is_queued_finished_by_its_outcome_and_told_to_the_crm(
    call: ApiCaller, key: str, connected: dict[str, Any], functions: dict[str, Any]
) -> None:
    sid = connected["id"]
    crm = hook(call, key)
    body = {"subject": "Taller 12 mayo", "participants": [ANA, "34600000003@s.whatsapp.net"]}
    status, operation, _ = call(
        "POST", f"/v1/sessions/{sid}/groups", key, body={**body, "external_id": "ws_12"}
    )
    assert status == 202, operation
    assert (operation["status"], operation["action"], operation["group_jid"]) == ("pending", "create", None)
    [command] = drain(sid)
    assert command.type is CommandType.GROUP
    assert command.data == {
        "operation_id": operation["id"],
        "action": "create",
        "group_jid": None,
        "subject": "Taller 12 mayo",
        "description": None,
        "participants": [ANA, "34600000003@s.whatsapp.net"],
    }
    path = f"/v1/sessions/{sid}/group-operations/{operation['id']}"
    assert call("GET", path, key)[1]["status"] == "pending"

    result = {
        "group": info(NEW, "Taller 12 mayo", member("+34600000001", "superadmin"), member(ANA)),
        "participants": [
            {"jid": member(ANA)["jid"], "phone": ANA, "status": 200, "invite_code": None},
            {"jid": member(BEN)["jid"], "phone": BEN, "status": 403, "invite_code": "AbCd"},
        ],
        "invite_link": None,
    }
    done = outcome(connected, 60.0, operation, group_jid=NEW, result=result)
    assert deliver(functions, done) == {"batchItemFailures": []}
    assert deliver(functions, done) == {"batchItemFailures": []}  # a redelivery changes nothing
    status, finished, _ = call("GET", path, key)
    assert (finished["status"], finished["group_jid"], finished["finished_at"]) == ("done", NEW, 60.0)
    assert [(p["phone"], p["status"], p["invite_code"]) for p in finished["participants"]] == [
        (ANA, 200, None),
        (BEN, 403, "AbCd"),
    ]
    status, group, _ = call("GET", f"/v1/sessions/{sid}/groups/{NEW}", key)
    assert status == 200, group
    assert (group["subject"], group["participants"], group["external_id"]) == ("Taller 12 mayo", 2, "ws_12")
    assert [m["phone"] for m in group["members"]] == ["+34600000001", ANA]

    [told] = sent(call, key, crm, "group_operation")
    assert told["id"] == operation["id"] and told["status"] == "done"
    [update] = sent(call, key, crm, "group_updated")
    assert (update["action"], update["group_jid"], update["operation_id"]) == (
        "created",
        NEW,
        operation["id"],
    )
    assert update["group"]["external_id"] == "ws_12"

    # a sync later keeps what the CRM set, and the members a change read
    deliver(functions, synced(connected, 70.0, (NEW, "Taller 12 mayo", 2)))
    [listed] = groups_of(call, key, connected)["items"]
    assert (listed["external_id"], len(listed["members"])) == ("ws_12", 2)


def test_changes_others_make_keep_the_list_fresh(
    call: ApiCaller, key: str, connected: dict[str, Any], functions: dict[str, Any], push: RecordingPush
) -> None:
    sid = connected["id"]
    crm = hook(call, key)
    token = call("POST", "/v1/realtime/token", key)[1]["token"]
    assert ws(functions, "$connect", "dash=", queryStringParameters={"token": token})["statusCode"] == 200
    ws(functions, "$default", "dash=", body=json.dumps({"event": "subscribe"}))
    deliver(functions, synced(connected, 50.0, (WORKSHOP, "Taller", 3)))
    status, linked, _ = call(
        "PATCH", f"/v1/sessions/{sid}/groups/{WORKSHOP}", key, body={"external_id": "ws_7"}
    )
    assert status == 200 and linked["external_id"] == "ws_7"
    found = call("GET", f"/v1/sessions/{sid}/groups", key, query="external_id=ws_7")[1]["items"]
    assert [g["jid"] for g in found] == [WORKSHOP]
    assert call("GET", f"/v1/sessions/{sid}/groups", key, query="external_id=ws_8")[1]["items"] == []

    removed = event(
        connected,
        EventType.GROUP_UPDATED,
        60.0,
        group_jid=WORKSHOP,
        action="remove",
        members=[member(BEN)],
        by_phone=ANA,
        group=info(WORKSHOP, "Taller", member("+34600000001"), member(ANA)),
    )
    deliver(functions, removed)
    group = call("GET", f"/v1/sessions/{sid}/groups/{WORKSHOP}", key)[1]
    assert (group["participants"], group["external_id"], group["synced_at"]) == (2, "ws_7", 60.0)
    renamed = event(
        connected, EventType.GROUP_UPDATED, 61.0, group_jid=WORKSHOP, action="subject", subject="Taller 2"
    )
    deliver(functions, renamed)
    assert call("GET", f"/v1/sessions/{sid}/groups/{WORKSHOP}", key)[1]["subject"] == "Taller 2"
    late = event(
        connected, EventType.GROUP_UPDATED, 55.0, group_jid=WORKSHOP, action="subject", subject="Old"
    )
    deliver(functions, late)  # older than what is stored: the list keeps the newer name
    assert call("GET", f"/v1/sessions/{sid}/groups/{WORKSHOP}", key)[1]["subject"] == "Taller 2"

    told = sorted(sent(call, key, crm, "group_updated"), key=lambda t: t["group"]["synced_at"])
    assert [(t["action"], t["group"]["external_id"]) for t in told] == [
        ("remove", "ws_7"),
        ("subject", "ws_7"),
    ]
    assert told[0]["by_phone"] == ANA and told[0]["members"][0]["phone"] == BEN
    assert len(told[0]["group"]["members"]) == 2  # the CRM gets who is in it
    pushed = [m["data"] for m in push.to("dash=") if m["event"] == "group_updated"]
    assert [p["action"] for p in pushed] == ["remove", "subject"]
    assert "members" not in pushed[0]["group"]  # dashboards read the group again (API Gateway's 128 KB)

    deliver(functions, event(connected, EventType.GROUP_UPDATED, 62.0, group_jid=WORKSHOP, action="left"))
    assert groups_of(call, key, connected)["items"] == []
    assert call("GET", f"/v1/sessions/{sid}/groups/{WORKSHOP}", key)[0] == 404


def test_every_change_route_queues_its_operation(
    call: ApiCaller, key: str, connected: dict[str, Any], functions: dict[str, Any]
) -> None:
    sid, base = connected["id"], f"/v1/sessions/{connected['id']}/groups/{WORKSHOP}"
    deliver(functions, synced(connected, 50.0, (WORKSHOP, "Taller", 3)))
    routes = [
        (
            "POST",
            "/participants",
            {"action": "promote", "participants": [ANA]},
            "promote",
            {"participants": [ANA]},
        ),
        ("PUT", "/subject", {"subject": "Nuevo"}, "subject", {"subject": "Nuevo"}),
        ("PUT", "/description", {"description": ""}, "description", {"description": ""}),
        ("POST", "/invite-link", None, "invite", {}),
        ("POST", "/invite-link/revoke", None, "revoke_invite", {}),
        ("POST", "/leave", None, "leave", {}),
    ]
    for method, path, body, action, data in routes:
        status, operation, _ = call(method, base + path, key, body=body)
        assert status == 202 and operation["action"] == action, (path, operation)
        [command] = drain(sid)
        assert command.data["group_jid"] == WORKSHOP and command.data["action"] == action
        assert {k: command.data[k] for k in data} == data

    # the outcome of a refused change: failed, with WhatsApp's reason by meaning
    status, operation, _ = call("PUT", base + "/subject", key, body={"subject": "Otro"})
    drain(sid)
    refused = outcome(
        connected, 80.0, operation, group_jid=WORKSHOP, ok=False, error_code="not_group_admin", error="401"
    )
    deliver(functions, refused)
    finished = call("GET", f"/v1/sessions/{sid}/group-operations/{operation['id']}", key)[1]
    assert finished["status"] == "failed" and finished["error"]["code"] == "not_group_admin"
    # the invite link lands on the group
    status, operation, _ = call("POST", base + "/invite-link", key)
    drain(sid)
    link = "https://chat.whatsapp.com/AbCdEf"
    deliver(functions, outcome(connected, 81.0, operation, group_jid=WORKSHOP, result={"invite_link": link}))
    assert call("GET", base, key)[1]["invite_link"] == link


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": "x" * 101}, "subject"),
        ({"subject": "ok", "participants": ["not a number"]}, "participants"),
        ({"subject": "ok", "participants": [ANA] * 257}, "participants"),
        ({"subject": "ok", "external_id": "has space"}, "external_id"),
        ({"subject": "ok", "surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_a_422(
    call: ApiCaller, key: str, connected: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    status, error, _ = call("POST", f"/v1/sessions/{connected['id']}/groups", key, body=body)
    assert status == 422 and field in str(error["error"]["details"]), error
    assert drain(connected["id"]) == []


def test_refusals_before_anything_is_queued(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    sid = session["id"]
    status, error, _ = call("POST", f"/v1/sessions/{sid}/groups", key, body={"subject": "x"})
    assert status == 409 and error["error"]["code"] == "session_not_connected"
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS, 10.0, phone="+34600000001"))
    deliver(functions, synced(session, 50.0, (WORKSHOP, "Taller", 3)))
    status, error, _ = call("PUT", f"/v1/sessions/{sid}/groups/{NEW}/subject", key, body={"subject": "x"})
    assert status == 404 and error["error"]["code"] == "unknown_group"
    status, error, _ = call("PATCH", f"/v1/sessions/{sid}/groups/{NEW}", key, body={"external_id": "x"})
    assert status == 404 and error["error"]["code"] == "unknown_group"
    status, error, _ = call("POST", f"/v1/sessions/{sid}/groups/not-a-group/leave", key)
    assert status == 404 and error["error"]["code"] == "unknown_group"
    status, error, _ = call("GET", f"/v1/sessions/{sid}/group-operations/gop_nothing", key)
    assert status == 404 and error["error"]["code"] == "operation_not_found"
    assert drain(sid) == []

    status, cloud, _ = call(
        "POST",
        "/v1/sessions",
        key,
        body={
            "name": "Meta",
            "provider": "cloud",
            "cloud": {"phone_number_id": "1234567", "access_token": "t"},
        },
    )
    if status == 201:  # a cloud number has no groups
        drain(cloud["id"])
        status, error, _ = call("POST", f"/v1/sessions/{cloud['id']}/groups", key, body={"subject": "x"})
        assert status == 422 and error["error"]["code"] == "groups_not_supported"


def test_a_session_scoped_key_changes_only_its_own_numbers_groups(call: ApiCaller, key: str) -> None:
    own, other = create(call, key, name="Ana's number"), create(call, key, name="Ben's number")
    body = {"name": "advisor", "scopes": ["read", "send"], "sessions": [own["id"]]}
    advisor = call("POST", "/v1/keys", key, body=body)[1]["secret"]
    for method, path, payload in [
        ("POST", "/groups", {"subject": "x"}),
        ("GET", f"/groups/{WORKSHOP}", None),
        ("PATCH", f"/groups/{WORKSHOP}", {"external_id": "x"}),
        ("POST", f"/groups/{WORKSHOP}/leave", None),
        ("GET", "/group-operations/gop_x", None),
    ]:
        status, error, _ = call(method, f"/v1/sessions/{other['id']}{path}", advisor, body=payload)
        assert status == 404, (path, error)
    reader = call("POST", "/v1/keys", key, body={"name": "viewer", "scopes": ["read"]})[1]["secret"]
    assert call("POST", f"/v1/sessions/{own['id']}/groups", reader, body={"subject": "x"})[0] == 403


def test_the_literal_sync_path_is_not_a_group_called_sync(
    call: ApiCaller, key: str, connected: dict[str, Any]
) -> None:
    """`/groups/sync` answers POST only (405, Allow: POST), though `/groups/{group_jid}` would match it."""
    path = f"/v1/sessions/{connected['id']}/groups/sync"
    for method in ("GET", "PATCH", "OPTIONS"):
        status, error, headers = call(
            method, path, key, body={"external_id": "x"} if method == "PATCH" else None
        )
        assert status == 405 and error["error"]["code"] == "method_not_allowed", (method, error)
        assert headers.get("Allow") == "POST"
