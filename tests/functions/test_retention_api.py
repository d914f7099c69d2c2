"""Retention: GET/PUT /v1/settings/retention, and every governed row written with its tenant's TTL
(messages, conversations, contacts, webhook deliveries; the audit log in test_audit_api.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.functions.test_conversations_api import incoming
from tests.functions.test_sessions_api import create, deliver, event, hold_lease
from tests.functions.test_webhook_delivery import Crm
from tests.functions.test_webhook_delivery import crm as crm  # the fixture
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.domain.events import EventType
from wagate.store import keys as table_keys
from wagate.store.conversations import ContactRepository

DAY = 86_400


def test_the_defaults_and_replacing_them(call: ApiCaller, key: str) -> None:
    status, policy, _ = call("GET", "/v1/settings/retention", key)
    assert status == 200
    assert policy == {
        "messages": 365,
        "media": 90,
        "webhook_deliveries": 30,
        "audit": 365,
        "conversations": 365,
    }
    status, changed, _ = call("PUT", "/v1/settings/retention", key, body={"messages": 30, "audit": None})
    assert status == 200 and changed["messages"] == 30 and changed["audit"] is None
    assert changed["media"] == 90  # left out: the default
    assert call("GET", "/v1/settings/retention", key)[1] == changed


@pytest.mark.parametrize(
    "body",
    [{"messages": 0}, {"messages": 4000}, {"messages": "forever"}, {"logs": 3}, {"messages": 1.5}],
)
def test_bad_policies_are_422(call: ApiCaller, key: str, body: dict[str, Any]) -> None:
    status, error, _ = call("PUT", "/v1/settings/retention", key, body=body)
    assert status == 422 and set(error["error"]) == {"code", "message", "details"}


def test_a_read_key_cannot_change_it(call: ApiCaller, key: str) -> None:
    reader = call("POST", "/v1/keys", key, body={"name": "r", "scopes": ["read"]})[1]["secret"]
    assert call("GET", "/v1/settings/retention", reader)[0] == 200
    assert call("PUT", "/v1/settings/retention", reader, body={})[0] == 403


def row(pk: str, sk: str) -> dict[str, Any]:
    found = wiring.deps().table.get(pk, sk)
    assert found is not None
    return found


def test_rows_are_written_with_the_tenants_ttl(call: ApiCaller, key: str, functions: dict[str, Any]) -> None:
    assert call("PUT", "/v1/settings/retention", key, body={"messages": 7, "conversations": 30})[0] == 200
    session = create(call, key)
    tenant = session["tenant_id"]
    now = time.time()
    sent = call(
        "POST", "/v1/messages", key, body={"session_id": session["id"], "to": "+34600111222", "text": "x"}
    )[1]
    later = call(
        "POST",
        "/v1/messages",
        key,
        body={"session_id": session["id"], "to": "+34600111222", "text": "y", "scheduled_at": now + 30 * DAY},
    )[1]
    assert row(*table_keys.message(tenant, sent["id"]))["expires_at"] == pytest.approx(now + 7 * DAY, abs=5)
    # A scheduled message outlives its send time, whatever the policy says.
    assert row(*table_keys.message(tenant, later["id"]))["expires_at"] >= now + 31 * DAY - 5

    hold_lease(session)
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS))
    deliver(functions, incoming(session, "P1", "hola"))
    listed = call("GET", "/v1/conversations", key, query=f"session_id={session['id']}")[1]["items"]
    (conversation,) = [c for c in listed if "34600999888" in c["chat"]]
    conv_row = row(*table_keys.conversation(tenant, conversation["id"]))
    assert conv_row["expires_at"] == pytest.approx(now + 30 * DAY, abs=5)
    contact_row = row(*ContactRepository(wiring.deps().table).key(tenant, "+34600999888"))
    assert contact_row["expires_at"] == pytest.approx(now + 30 * DAY, abs=5)

    # Keep conversations until erased: the next activity drops the TTL the old policy set.
    assert call("PUT", "/v1/settings/retention", key, body={"messages": 7, "conversations": None})[0] == 200
    assert call("POST", f"/v1/conversations/{conversation['id']}/read", key)[0] == 200
    assert "expires_at" not in row(*table_keys.conversation(tenant, conversation["id"]))


def test_webhook_deliveries_get_their_ttl(crm: Crm) -> None:
    assert crm.call("PUT", "/v1/settings/retention", crm.key, body={"webhook_deliveries": 3})[0] == 200
    hook = crm.webhook("/in")
    crm.event()
    rows = crm.deps.table.query(table_keys.deliveries_partition(crm.session["tenant_id"], hook["id"])).items
    assert rows
    assert all(r["expires_at"] == pytest.approx(crm.clock.now() + 3 * DAY, abs=10) for r in rows)


def test_expired_rows_are_gone_from_every_read(call: ApiCaller, key: str, local_deps: wiring.Deps) -> None:
    session = create(call, key)
    sent = call(
        "POST", "/v1/messages", key, body={"session_id": session["id"], "to": "+34600111222", "text": "x"}
    )[1]
    pk, sk = table_keys.message(session["tenant_id"], sent["id"])
    local_deps.table.update(pk, sk, set={"expires_at": int(time.time()) - 1})  # as if its days had passed
    assert call("GET", f"/v1/messages/{sent['id']}", key)[0] == 404
    assert call("GET", "/v1/messages", key)[1]["items"] == []
