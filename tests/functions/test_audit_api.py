"""The audit log through the real handlers: every state-changing route of the OpenAPI is recorded, with
who, what, target, outcome, when and where; filters and cursor; security events; no secrets in it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.functions.test_sessions_api import create, deliver, event, hold_lease
from tests.support.lambdas import ApiCaller
from wagate import compose, wiring
from wagate.domain.events import EventType
from wagate.services.audit import FAILED_AUTH_BURST, READ_ONLY_POSTS
from wagate.store import keys as table_keys

WRITES = ("post", "put", "patch", "delete")
PARAM_VALUES = {"phone": "+34600123456", "action": "reply"}


def entries(call: ApiCaller, key: str, query: str = "") -> list[dict[str, Any]]:
    """Every entry of the log, following the cursor."""
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page_query = query + (f"&cursor={cursor}" if cursor else "")
        status, page, _ = call("GET", "/v1/audit", key, query=page_query.lstrip("&"))
        assert status == 200, page
        found.extend(page["items"])
        cursor = page["cursor"]
        if cursor is None:
            return found
    raise AssertionError("the cursor never ended")


def test_every_state_changing_route_in_the_spec_is_audited(call: ApiCaller, key: str) -> None:
    status, spec, _ = call("GET", "/openapi.json")
    assert status == 200
    called: set[str] = set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in WRITES or path in READ_ONLY_POSTS:
                continue
            concrete = re.sub(r"\{(\w+)\}", lambda m: PARAM_VALUES.get(m.group(1), "nothing_here"), path)
            body = {} if "requestBody" in operation else None
            status, answer, _ = call(method.upper(), concrete, key, body=body)
            assert status < 500, (method, path, answer)
            called.add(f"{method.upper()} {path}")
    assert len(called) > 30  # the walk really saw the API
    recorded = {entry["route"] for entry in entries(call, key)}
    assert called - recorded == set()


def test_an_entry_says_who_what_target_outcome_when_where_and_never_the_secret(
    call: ApiCaller, key: str, local_deps: wiring.Deps
) -> None:
    status, me, _ = call("GET", "/v1/keys", key)
    admin_id = me["items"][0]["id"]
    status, created, _ = call("POST", "/v1/keys", key, body={"name": "crm", "scopes": ["read"]})
    assert status == 201
    status, _, _ = call("DELETE", f"/v1/keys/{created['key']['id']}", key)
    assert status == 204
    status, _, _ = call("DELETE", "/v1/keys/key_nothing", key)
    assert status == 404

    log = entries(call, key)
    made, revoked, missed = log[2], log[1], log[0]  # newest first
    assert made["action"] == "key.created" and made["kind"] == "security"
    assert made["actor"] == admin_id and made["target"] == created["key"]["id"]
    assert made["outcome"] == 201 and made["route"] == "POST /v1/keys"
    assert made["source_ip"] == "203.0.113.7"
    assert abs(made["at"] - local_deps.clock.now()) < 60
    assert revoked["action"] == "key.revoked" and revoked["target"] == created["key"]["id"]
    assert missed["action"] == "DELETE /v1/keys/{key_id}" and missed["outcome"] == 404
    assert missed["kind"] == "api" and missed["target"] == "key_nothing"
    text = json.dumps(log)
    assert created["secret"] not in text and key not in text


def test_filters_and_cursor(call: ApiCaller, key: str, local_deps: wiring.Deps) -> None:
    for name in ("a", "b", "c", "d", "e"):
        assert call("POST", "/v1/keys", key, body={"name": name, "scopes": ["read"]})[0] == 201
    session = create(call, key)
    everything = entries(call, key)
    assert len(everything) == 6
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)

    paged = entries(call, key, "limit=2")
    assert [e["id"] for e in paged] == [e["id"] for e in everything]

    assert {e["action"] for e in entries(call, key, "action=key.created")} == {"key.created"}
    assert len(entries(call, key, "action=key.created")) == 5
    by_target = entries(call, key, f"target={session['id']}")
    assert [e["route"] for e in by_target] == ["POST /v1/sessions"]
    actor = everything[0]["actor"]
    assert len(entries(call, key, f"actor={actor}&limit=1")) == 6
    assert entries(call, key, "actor=key_someone_else") == []
    middle = everything[3]["at"]
    assert all(e["at"] >= middle for e in entries(call, key, f"since={middle}"))
    assert all(e["at"] <= middle for e in entries(call, key, f"until={middle}"))
    assert entries(call, key, f"since={middle + 10}&until={middle}") == []


def test_the_log_is_read_only_admin_only_and_cursor_checked(call: ApiCaller, key: str) -> None:
    status, spec, _ = call("GET", "/openapi.json")
    assert set(spec["paths"]["/v1/audit"]) == {"get"}
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        status, body, _ = call(method, "/v1/audit", key)
        assert status == 405 and body["error"]["code"] == "method_not_allowed"
    _, made, _ = call("POST", "/v1/keys", key, body={"name": "reader", "scopes": ["read", "send"]})
    status, body, _ = call("GET", "/v1/audit", made["secret"])
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body, _ = call("GET", "/v1/audit", key, query="cursor=zzz")
    assert status == 422 and set(body["error"]) == {"code", "message", "details"}


def test_another_tenants_log_is_not_visible(call: ApiCaller, key: str, local_deps: wiring.Deps) -> None:
    from wagate.services import tenants

    other = tenants.create_tenant(local_deps.table, local_deps.clock, "Other")[1]
    call("POST", "/v1/keys", other, body={"name": "theirs", "scopes": ["read"]})
    assert entries(call, key) == []
    assert len(entries(call, other)) == 1


def test_a_burst_of_failed_authentications_is_one_security_event(call: ApiCaller, key: str) -> None:
    for _ in range(FAILED_AUTH_BURST + 3):
        status, _, _ = call("POST", "/v1/sessions", "wg_guessing", body={})
        assert status == 401
    page = compose.services().audit.page(table_keys.OPERATOR_AUDIT_TENANT)
    assert [e.action for e in page.entries] == ["auth.failed_burst"]
    burst = page.entries[0]
    assert burst.source_ip == "203.0.113.7" and burst.outcome == 401
    assert burst.details["last_reason"] == "invalid_api_key"
    assert "wg_guessing" not in burst.model_dump_json()
    assert entries(call, key) == []  # nobody's tenant log


def test_linked_logged_out_and_banned_are_security_events_recorded_once(
    call: ApiCaller, functions: dict[str, Any], key: str
) -> None:
    session = create(call, key)
    hold_lease(session)
    paired = event(session, EventType.SESSION_STATUS, status="connecting", paired=True)
    banned = event(session, EventType.SESSION_FAILED, status="failed", reason="banned")
    banned = banned.model_copy(update={"at": 2.0})  # later than the pairing
    deliver(functions, paired)
    deliver(functions, paired)  # redelivered: still one entry
    deliver(functions, banned)
    security = entries(call, key, "actor=whatsapp")
    assert [(e["action"], e["target"]) for e in security] == [
        ("session.banned", session["id"]),
        ("session.linked", session["id"]),
    ]
    assert security[0]["details"] == {"reason": "banned"}


@pytest.mark.parametrize("days", [365, None])
def test_entries_expire_with_the_tenants_audit_retention(
    call: ApiCaller, key: str, local_deps: wiring.Deps, days: int | None
) -> None:
    status, _, _ = call("PUT", "/v1/settings/retention", key, body={"audit": days})
    assert status == 200
    tenant_id = call("GET", "/v1/keys", key)[1]["items"][0]["tenant_id"]
    page = local_deps.table.query(table_keys.audit_partition(tenant_id))
    (row,) = page.items
    if days is None:
        assert "expires_at" not in row
    else:
        assert row["expires_at"] == pytest.approx(row["at"] + days * 86400, abs=1)


def test_an_operator_creating_a_tenant_is_in_that_tenants_log(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], call: ApiCaller
) -> None:
    from local.cli import main

    data = wiring.deps().settings.data_dir
    assert main(["admin", "create-tenant", "Acme", "--data-dir", str(data), "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    (entry,) = entries(call, created["api_key"])
    assert (entry["kind"], entry["actor"], entry["action"]) == ("operator", "operator", "tenant.created")
    assert entry["target"] == created["tenant_id"]
