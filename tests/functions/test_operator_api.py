"""The operator API through the real authorizer and API handler: its own key type, tenants created with a
first key and quotas, listed, suspended (keys 403, sessions stopped), resumed, deleted (crypto-shred);
quotas enforced at accept; every call in the operator's audit log."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.template import load_template
from tests.fakes.push import RecordingPush
from tests.functions.test_sessions_api import create, deliver, event, hold_lease
from tests.support.aws_template import TEMPLATE
from tests.support.commands import take_commands
from tests.support.crashing import Crash, CrashingTable
from tests.support.lambdas import ApiCaller
from wagate import compose, wiring
from wagate.domain.events import CommandType, EventType
from wagate.services import tenants
from wagate.settings import Settings
from wagate.store import keys as table_keys

OPERATOR_KEY, OPERATOR_HASH = tenants.new_operator_key()


@pytest.fixture
def local_deps(tmp_path: Path) -> Iterator[wiring.Deps]:
    """The local adapters, configured with one operator key."""
    settings = Settings(backend="local", data_dir=tmp_path / "data", operator_key_sha256=OPERATOR_HASH)
    deps = wiring.build(settings, load_template(TEMPLATE).queue_definitions())
    deps = dataclasses.replace(deps, push=RecordingPush())
    wiring.install(deps)
    yield deps
    wiring.reset()


@pytest.fixture
def call(functions: dict[str, ModuleType], local_deps: wiring.Deps) -> ApiCaller:
    functions["authorizer"]._cache.clear()  # verdicts are cached a minute; each test starts afresh
    return ApiCaller(functions["api"], functions["authorizer"])


def forget_verdicts(call: ApiCaller) -> None:
    """What a minute does: the authorizer's cached verdicts expire."""
    call.authorizer._cache.clear()  # type: ignore[attr-defined]


def new_tenant(call: ApiCaller, **quotas: Any) -> dict[str, Any]:
    status, created, _ = call(
        "POST", "/v1/operator/tenants", OPERATOR_KEY, body={"name": "Agency", "quotas": quotas}
    )
    assert status == 201, created
    return dict(created)


def test_the_operator_creates_a_tenant_whose_first_key_works(call: ApiCaller) -> None:
    created = new_tenant(call)
    tenant, key = created["tenant"], created["api_key"]
    assert created["id"] == tenant["id"] and tenant["status"] == "active"
    assert key["secret"].startswith("wg_") and key["key"]["scopes"] == ["admin", "read", "send"]
    status, listed, _ = call("GET", "/v1/keys", key["secret"])
    assert status == 200 and [k["id"] for k in listed["items"]] == [key["key"]["id"]]
    status, listed, _ = call("GET", "/v1/operator/tenants", OPERATOR_KEY)
    assert status == 200 and [t["id"] for t in listed["items"]] == [tenant["id"]]
    status, shown, _ = call("GET", f"/v1/operator/tenants/{tenant['id']}", OPERATOR_KEY)
    assert status == 200 and shown["usage"] == {"sessions": 0, "messages_today": 0}


def test_keys_never_cross_over(call: ApiCaller) -> None:
    tenant_key = new_tenant(call)["api_key"]["secret"]
    status, body, _ = call("GET", "/v1/operator/tenants", tenant_key)
    assert (status, body["error"]["code"]) == (403, "operator_key_required")
    status, body, _ = call("GET", "/v1/sessions", OPERATOR_KEY)
    assert (status, body["error"]["code"]) == (403, "tenant_key_required")
    wrong, _ = tenants.new_operator_key()
    status, body, _ = call("GET", "/v1/operator/tenants", wrong)
    assert (status, body["error"]["code"]) == (401, "invalid_operator_key")
    status, body, _ = call("GET", "/v1/operator/tenants")
    assert (status, body["error"]["code"]) == (401, "missing_api_key")


def test_without_a_configured_hash_no_operator_key_works(call: ApiCaller, local_deps: wiring.Deps) -> None:
    wiring.install(dataclasses.replace(local_deps, settings=Settings(data_dir=local_deps.settings.data_dir)))
    status, body, _ = call("GET", "/v1/operator/tenants", OPERATOR_KEY)
    assert (status, body["error"]["code"]) == (401, "invalid_operator_key")


def test_bad_input_is_a_clear_4xx(call: ApiCaller) -> None:
    for body in (
        {},
        {"name": ""},
        {"name": "x", "quotas": {"sessions": -1}},
        {"name": "x", "quotas": {"x": 1}},
    ):
        status, answer, _ = call("POST", "/v1/operator/tenants", OPERATOR_KEY, body=body)
        assert status == 422 and answer["error"]["code"] == "validation_failed", body
    status, answer, _ = call("POST", "/v1/operator/tenants/ten_nope/suspend", OPERATOR_KEY)
    assert (status, answer["error"]["code"]) == (404, "not_found")
    status, answer, _ = call("GET", "/v1/operator/tenants", OPERATOR_KEY, query="limit=0")
    assert status == 422


def test_suspending_refuses_the_keys_and_stops_the_sessions_resuming_starts_them(call: ApiCaller) -> None:
    created = new_tenant(call)
    tenant_id, key = created["id"], created["api_key"]["secret"]
    running = create(call, key)
    stopped = create(call, key, name="Other")
    assert call("POST", f"/v1/sessions/{stopped['id']}/disconnect", key)[0] == 202
    take_commands(running["id"]), take_commands(stopped["id"])

    status, suspended, _ = call("POST", f"/v1/operator/tenants/{tenant_id}/suspend", OPERATOR_KEY)
    assert status == 200 and suspended["status"] == "suspended" and suspended["suspended_at"]
    assert [c.type for c in take_commands(running["id"])] == [CommandType.DISCONNECT]
    assert take_commands(stopped["id"]) == []
    forget_verdicts(call)
    status, body, _ = call("GET", "/v1/sessions", key)
    assert (status, body["error"]["code"]) == (403, "tenant_suspended")
    assert body["error"]["details"] == {"tenant_id": tenant_id}
    # A repeat (a retry after a timeout) answers the tenant as it is, and does it all no second time.
    status, again, _ = call("POST", f"/v1/operator/tenants/{tenant_id}/suspend", OPERATOR_KEY)
    assert (status, again) == (200, suspended) and suspended["pending"] is None
    assert take_commands(running["id"]) == []

    status, resumed, _ = call("POST", f"/v1/operator/tenants/{tenant_id}/resume", OPERATOR_KEY)
    assert status == 200 and resumed["status"] == "active" and resumed["suspended_at"] is None
    assert [c.type for c in take_commands(running["id"])] == [CommandType.CONNECT]
    assert take_commands(stopped["id"]) == []  # it was stopped before: it stays so
    status, again, _ = call("POST", f"/v1/operator/tenants/{tenant_id}/resume", OPERATOR_KEY)
    assert (status, again) == (200, resumed) and take_commands(running["id"]) == []
    forget_verdicts(call)
    assert call("GET", "/v1/sessions", key)[0] == 200


def test_a_resume_does_not_restart_a_logged_out_session(call: ApiCaller) -> None:
    created = new_tenant(call)
    tenant_id, key = created["id"], created["api_key"]["secret"]
    gone = create(call, key)
    hold_lease(gone)
    deliver(call_functions(call), event(gone, EventType.LOGGED_OUT, reason="unlinked_from_phone"))
    take_commands(gone["id"])
    assert call("POST", f"/v1/operator/tenants/{tenant_id}/suspend", OPERATOR_KEY)[0] == 200
    assert call("POST", f"/v1/operator/tenants/{tenant_id}/resume", OPERATOR_KEY)[0] == 200
    assert take_commands(gone["id"]) == []  # it needs a person to link it again, not a QR code nobody asked
    forget_verdicts(call)
    status, shown, _ = call("GET", f"/v1/sessions/{gone['id']}", key)
    assert status == 200 and shown["status"] == "logged_out"


def test_the_session_quota_is_the_tenants_own(call: ApiCaller) -> None:
    created = new_tenant(call, sessions=1)
    key = created["api_key"]["secret"]
    create(call, key)
    status, body, _ = call("POST", "/v1/sessions", key, body={"name": "Two", "provider": "sandbox"})
    assert (status, body["error"]["code"]) == (409, "limit_exceeded") and body["error"]["details"] == {
        "limit": 1
    }
    status, changed, _ = call(
        "PATCH", f"/v1/operator/tenants/{created['id']}", OPERATOR_KEY, body={"quotas": {"sessions": 2}}
    )
    assert status == 200 and changed["quotas"] == {"sessions": 2, "messages_per_day": None}
    compose.services().quotas._cache.clear()  # a change applies within CACHE_SECONDS
    create(call, key, name="Two")


def test_the_daily_message_quota_refuses_at_accept_with_429(call: ApiCaller) -> None:
    created = new_tenant(call, messages_per_day=2)
    key = created["api_key"]["secret"]
    session = create(call, key)
    hold_lease(session)
    deliver(call_functions(call), event(session, EventType.CONNECTION_SUCCESS, phone="+34600000001"))
    send = {"session_id": session["id"], "to": "+34600123456", "text": "hi"}
    assert call("POST", "/v1/messages", key, body=send)[0] == 202
    assert call("POST", "/v1/messages", key, body=send)[0] == 202
    status, body, headers = call("POST", "/v1/messages", key, body=send)
    assert (status, body["error"]["code"]) == (429, "daily_message_quota_exceeded")
    assert body["error"]["details"]["limit"] == 2 and 1 <= int(headers["Retry-After"]) <= 86_400
    status, shown, _ = call("GET", f"/v1/operator/tenants/{created['id']}", OPERATOR_KEY)
    assert shown["usage"]["messages_today"] == 2
    status, page, _ = call("GET", "/v1/messages", key)
    assert len(page["items"]) == 2  # the refused one stored nothing


def call_functions(call: ApiCaller) -> dict[str, Any]:
    from tests.support.lambdas import load_function

    return {"events": load_function("events")}


def test_deleting_crypto_shreds_through_the_one_deletion_path(
    call: ApiCaller, local_deps: wiring.Deps
) -> None:
    created = new_tenant(call)
    tenant_id, key = created["id"], created["api_key"]["secret"]
    create(call, key)
    status, gone, _ = call("DELETE", f"/v1/operator/tenants/{tenant_id}", OPERATOR_KEY)
    assert status == 200 and gone["tenant_id"] == tenant_id
    assert gone["deleted"]["sessions"] == 1 and gone["deleted"]["api_keys"] == 1
    forget_verdicts(call)
    status, body, _ = call("GET", "/v1/sessions", key)
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")
    assert call("GET", f"/v1/operator/tenants/{tenant_id}", OPERATOR_KEY)[0] == 404
    assert call("DELETE", f"/v1/operator/tenants/{tenant_id}", OPERATOR_KEY)[0] == 404
    datakey = local_deps.table.get(*table_keys.tenant_data_key(tenant_id))
    assert datakey is None or "wrapped" not in datakey  # shredded: no key left to unwrap


def test_every_operator_call_is_in_the_operators_audit_log(call: ApiCaller) -> None:
    created = new_tenant(call)
    tenant_id = created["id"]
    call("POST", f"/v1/operator/tenants/{tenant_id}/keys", OPERATOR_KEY, body={"name": "spare"})
    call("POST", f"/v1/operator/tenants/{tenant_id}/suspend", OPERATOR_KEY)
    log = compose.services().audit.page(table_keys.OPERATOR_AUDIT_TENANT, limit=50).entries
    routes = {(e.action, e.target) for e in log}
    assert ("POST /v1/operator/tenants", tenant_id) in routes
    assert ("POST /v1/operator/tenants/{tenant_id}/suspend", tenant_id) in routes
    assert all(e.actor.startswith("op_") for e in log)
    own = compose.services().audit.page(tenant_id, limit=50).entries
    assert {"tenant.created", "key.created", "tenant.suspended"} <= {e.action for e in own}


def test_a_suspension_cut_short_shows_pending_and_is_finished_by_posting_again(
    call: ApiCaller, local_deps: wiring.Deps
) -> None:
    created = new_tenant(call)
    tenant_id, key = created["id"], created["api_key"]["secret"]
    running = create(call, key)
    take_commands(running["id"])
    crashing = CrashingTable(local_deps.table)
    crashing.limit = 4  # the first write, the keys: the process dies before the sessions are stopped
    with pytest.raises(Crash):
        compose.services(dataclasses.replace(local_deps, table=crashing)).tenant_admin.suspend(tenant_id)
    status, shown, _ = call("GET", f"/v1/operator/tenants/{tenant_id}", OPERATOR_KEY)
    assert status == 200 and (shown["tenant"]["status"], shown["tenant"]["pending"]) == (
        "suspended",
        "suspend",
    )
    status, body, _ = call("POST", f"/v1/operator/tenants/{tenant_id}/resume", OPERATOR_KEY)
    assert (status, body["error"]["code"]) == (409, "busy")
    assert (
        body["error"]["details"]["pending"] == "suspend"
        and 1 <= body["error"]["details"]["retry_after"] <= 60
    )
    assert take_commands(running["id"]) == []  # cut before its disconnect

    status, finished, _ = call("POST", f"/v1/operator/tenants/{tenant_id}/suspend", OPERATOR_KEY)
    assert status == 200 and (finished["status"], finished["pending"]) == ("suspended", None)
    assert [c.type for c in take_commands(running["id"])] == [CommandType.DISCONNECT]
    assert call("POST", f"/v1/operator/tenants/{tenant_id}/resume", OPERATOR_KEY)[0] == 200
    assert [c.type for c in take_commands(running["id"])] == [CommandType.CONNECT]
