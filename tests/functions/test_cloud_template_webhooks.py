"""Meta's template webhooks (addressed to the WhatsApp Business Account) change the synced templates of
every session of that account whose secret signed them, and reach the CRM as `template_updated`.

Bodies follow Meta's documented shapes (message_template_status_update reference: event, reason,
message_template_* fields, rejection_info; the quality and category updates), and the shared fixtures
(../shared/fixtures/cloud/template-updates, when present) go through the same path.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import httpx
import pytest

from tests.fakes.graph import VALID_TOKEN, FakeGraph
from tests.functions.cloud_support import (  # noqa: F401 (*_fixture: fixtures by name)
    FIXTURES,
    PNID,
    WABA,
    call_fixture,
    create_cloud,
    dashboard,
    functions_fixture,
    graph_fixture,
    key_fixture,
    post_webhook,
    run_cloud_queue,
    session_fixture,
)
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.adapters.http_crm_webhooks import HttpWebhookSender
from wagate.services import tenants
from wagate.store import keys

CONFIRMATION_ID = 1689556908129832
# Meta's entry time: after the sync the fixtures make (an event older than the sync changes nothing).
LATER = int(time.time()) + 3600


def _template(name: str, language: str, status: str, template_id: int) -> dict[str, Any]:
    return {
        "id": str(template_id),
        "name": name,
        "language": language,
        "status": status,
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Gracias {{1}}, pedido {{2}}."}],
    }


def template_change(
    field: str, value: dict[str, Any], *, waba: str = WABA, at: int = LATER
) -> dict[str, Any]:
    return {
        "entry": [{"id": waba, "time": at, "changes": [{"value": value, "field": field}]}],
        "object": "whatsapp_business_account",
    }


def status_change(
    event: str,
    *,
    template_id: int = CONFIRMATION_ID,
    name: str = "order_confirmation",
    at: int = LATER,
    **extra: Any,
) -> dict[str, Any]:
    value = {
        "event": event,
        "message_template_id": template_id,
        "message_template_name": name,
        "message_template_language": "en_US",
        "reason": "NONE",
        "message_template_category": "UTILITY",
        **extra,
    }
    return template_change("message_template_status_update", value, at=at)


@pytest.fixture(name="synced")
def synced_fixture(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, functions: dict[str, Any]
) -> dict[str, Any]:
    """The session with its templates synced: order_confirmation (en_US) still PENDING review."""
    graph.templates[WABA] = [
        _template("order_confirmation", "en_US", "PENDING", CONFIRMATION_ID),
        _template("abandoned_cart", "en", "APPROVED", 1689556908129835),
    ]
    call("GET", f"/v1/sessions/{session['id']}/cloud-templates", key)
    run_cloud_queue(functions)
    return session


def templates_of(call: ApiCaller, key: str, session: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    listed = call("GET", f"/v1/sessions/{session['id']}/cloud-templates", key)[1]
    return {(t["name"], t["language"]): t for t in listed["templates"]}


def send(call: ApiCaller, key: str, session: dict[str, Any], name: str, language: str) -> tuple[int, Any]:
    body = {
        "session_id": session["id"],
        "to": "+34600123456",
        "template": {"name": name, "language": language, "variables": {"1": "Ana", "2": "A-1"}},
    }
    status, answer, _ = call("POST", "/v1/messages", key, body=body)
    return status, answer


def crm_webhook(call: ApiCaller, key: str) -> str:
    """A CRM webhook for `template_updated` (its host resolves through a fake DNS; nothing is sent here)."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no delivery is attempted in these tests: {request.url}")

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    sender = HttpWebhookSender(client, timeout=1.0, resolve=lambda host, port: ["93.184.215.14"])
    wiring.install(dataclasses.replace(wiring.deps(), webhook_sender=sender))
    status, created, _ = call(
        "POST",
        "/v1/webhooks",
        key,
        body={"url": "https://crm.example.com/hooks", "events": ["template_updated"]},
    )
    assert status == 201, created
    return str(created["id"])


def deliveries(call: ApiCaller, key: str, webhook_id: str) -> list[dict[str, Any]]:
    return list(call("GET", f"/v1/webhooks/{webhook_id}/deliveries", key)[1]["items"])


def test_an_approval_applies_at_once_and_reaches_the_crm_and_the_dashboard(
    call: ApiCaller, key: str, synced: dict[str, Any], functions: dict[str, Any], local_deps: wiring.Deps
) -> None:
    hook = crm_webhook(call, key)
    dashboard(local_deps, key)
    status, error = send(call, key, synced, "order_confirmation", "en_US")
    assert status == 422 and "PENDING, not APPROVED" in error["error"]["message"], error
    body = status_change("APPROVED")
    assert post_webhook(functions, body) == (200, "ok")
    template = templates_of(call, key, synced)[("order_confirmation", "en_US")]
    assert template["status"] == "APPROVED" and template["status_updated_at"] == LATER
    assert template["status_reason"] is None
    assert send(call, key, synced, "order_confirmation", "en_US")[0] == 202
    [delivery] = deliveries(call, key, hook)
    payload = delivery["payload"]
    assert payload["type"] == "template_updated" and payload["data"]["session_id"] == synced["id"]
    data = payload["data"]
    assert (data["change"], data["event"], data["status"]) == ("status", "APPROVED", "APPROVED")
    assert data["template_id"] == str(CONFIRMATION_ID) and data["business_account_id"] == WABA
    assert (data["name"], data["language"], data["category"]) == ("order_confirmation", "en_US", "UTILITY")
    pushed = [m for _, m in local_deps.push.sent if m["event"] == "template_updated"]  # type: ignore[attr-defined]
    assert pushed and pushed[0]["data"]["status"] == "APPROVED"
    # Meta retrying the same body: still one CRM delivery.
    assert post_webhook(functions, body)[0] == 200
    assert len(deliveries(call, key, hook)) == 1


def test_a_rejection_keeps_its_reason_and_refuses_sends(
    call: ApiCaller, key: str, synced: dict[str, Any], functions: dict[str, Any]
) -> None:
    hook = crm_webhook(call, key)
    info = {
        "reason": "Your template has parameters placed next to each other without text between them.",
        "recommendation": "Separate parameters with descriptive text.",
    }
    body = status_change(
        "REJECTED",
        template_id=1689556908129835,
        name="abandoned_cart",
        reason="INVALID_FORMAT",
        rejection_info=info,
    )
    body["entry"][0]["changes"][0]["value"]["message_template_language"] = "en"
    assert post_webhook(functions, body)[0] == 200
    template = templates_of(call, key, synced)[("abandoned_cart", "en")]
    assert (template["status"], template["status_reason"]) == ("REJECTED", "INVALID_FORMAT")
    status, error = send(call, key, synced, "abandoned_cart", "en")
    assert (
        status == 422
        and error["error"]["code"] == "template_mismatch"
        and "REJECTED" in error["error"]["message"]
    )
    data = deliveries(call, key, hook)[0]["payload"]["data"]
    assert (
        data["reason"] == "INVALID_FORMAT" and data["rejection_info"] == info and data["status"] == "REJECTED"
    )


def test_events_that_are_not_statuses_and_late_ones(
    call: ApiCaller, key: str, synced: dict[str, Any], functions: dict[str, Any]
) -> None:
    post_webhook(functions, status_change("APPROVED", at=LATER + 600))
    # FLAGGED: at risk, still APPROVED (still sendable); REINSTATED: APPROVED again after a pause.
    post_webhook(functions, status_change("FLAGGED", at=LATER + 700))
    assert templates_of(call, key, synced)[("order_confirmation", "en_US")]["status"] == "APPROVED"
    post_webhook(functions, status_change("PAUSED", at=LATER + 800))
    assert templates_of(call, key, synced)[("order_confirmation", "en_US")]["status"] == "PAUSED"
    # An older event arriving late (Meta's retry of a failed delivery) changes nothing.
    post_webhook(functions, status_change("APPROVED", at=LATER + 650))
    assert templates_of(call, key, synced)[("order_confirmation", "en_US")]["status"] == "PAUSED"
    post_webhook(functions, status_change("REINSTATED", at=LATER + 900))
    assert templates_of(call, key, synced)[("order_confirmation", "en_US")]["status"] == "APPROVED"


def test_quality_and_category_updates(
    call: ApiCaller, key: str, synced: dict[str, Any], functions: dict[str, Any]
) -> None:
    hook = crm_webhook(call, key)
    quality = {
        "previous_quality_score": "GREEN",
        "new_quality_score": "YELLOW",
        "message_template_id": CONFIRMATION_ID,
        "message_template_name": "order_confirmation",
        "message_template_language": "en_US",
    }
    assert post_webhook(functions, template_change("message_template_quality_update", quality))[0] == 200
    category = {
        "message_template_id": CONFIRMATION_ID,
        "message_template_name": "order_confirmation",
        "message_template_language": "en_US",
        "new_category": "MARKETING",
    }
    post_webhook(functions, template_change("template_category_update", category, at=LATER + 600))
    template = templates_of(call, key, synced)[("order_confirmation", "en_US")]
    assert (template["quality_score"], template["category"]) == ("YELLOW", "MARKETING")
    changes = sorted(
        (
            d["payload"]["data"]["change"],
            d["payload"]["data"].get("quality_score") or d["payload"]["data"]["category"],
        )
        for d in deliveries(call, key, hook)
    )
    assert changes == [("category", "MARKETING"), ("quality", "YELLOW")]
    assert deliveries(call, key, hook)[0]["payload"]["data"].get("previous_quality_score") in (None, "GREEN")


def test_a_template_the_sync_has_not_seen_queues_a_sync(
    call: ApiCaller, key: str, synced: dict[str, Any], functions: dict[str, Any], graph: FakeGraph
) -> None:
    graph.templates[WABA].append(_template("nueva", "es", "APPROVED", 777))
    before = len([r for r in graph.requests if r.url.path.endswith("/message_templates")])
    assert post_webhook(functions, status_change("APPROVED", template_id=777, name="nueva"))[0] == 200
    listed = call("GET", f"/v1/sessions/{synced['id']}/cloud-templates", key)[1]
    assert listed["syncing"] is True
    run_cloud_queue(functions)
    assert len([r for r in graph.requests if r.url.path.endswith("/message_templates")]) == before + 1
    assert templates_of(call, key, synced)[("nueva", "es")]["status"] == "APPROVED"
    assert send(call, key, synced, "nueva", "es")[0] == 202


def test_only_sessions_whose_secret_signed_it_are_changed(
    call: ApiCaller,
    key: str,
    synced: dict[str, Any],
    functions: dict[str, Any],
    graph: FakeGraph,
    local_deps: wiring.Deps,
) -> None:
    # Another tenant links another number of the same business account, with its own Meta app.
    other_key = tenants.create_tenant(local_deps.table, local_deps.clock, "Other")[1]
    graph.number("277321005464499")
    other_secret = "another-apps-secret-0123456789"
    status, other = create_cloud(
        call, other_key, phone_number_id="277321005464499", app_secret=other_secret, verify_token=None
    )
    assert status == 201, other
    run_cloud_queue(functions)
    call("GET", f"/v1/sessions/{other['id']}/cloud-templates", other_key)
    run_cloud_queue(functions)
    body = status_change("APPROVED")
    assert post_webhook(functions, body, secret="a-secret-nobody-has-0123")[0] == 401
    assert templates_of(call, key, synced)[("order_confirmation", "en_US")]["status"] == "PENDING"
    assert post_webhook(functions, body, secret=other_secret)[0] == 200
    assert templates_of(call, other_key, other)[("order_confirmation", "en_US")]["status"] == "APPROVED"
    assert templates_of(call, key, synced)[("order_confirmation", "en_US")]["status"] == "PENDING"


def test_the_account_index_follows_the_sessions(
    call: ApiCaller, key: str, synced: dict[str, Any], functions: dict[str, Any], local_deps: wiring.Deps
) -> None:
    tenant_id = tenants.authenticate(local_deps.table, key).tenant_id
    row = keys.meta_account(WABA, tenant_id, synced["id"])
    assert local_deps.table.get(*row) is not None
    # A session created before the index existed gets its row at its next token check, or template sync.
    local_deps.table.delete(*row)
    call("POST", f"/v1/sessions/{synced['id']}/connect", key)
    run_cloud_queue(functions)
    assert local_deps.table.get(*row) is not None
    local_deps.table.delete(*row)
    call("GET", f"/v1/sessions/{synced['id']}/cloud-templates", key, query="refresh=true")
    run_cloud_queue(functions)
    assert local_deps.table.get(*row) is not None
    assert call("DELETE", f"/v1/sessions/{synced['id']}", key)[0] in (200, 202, 204)
    run_cloud_queue(functions)
    assert local_deps.table.get(*row) is None
    # The number's account is nobody's now: a 200 (Meta stops retrying), nothing applied.
    assert post_webhook(functions, status_change("APPROVED"))[0] == 200
    assert PNID and VALID_TOKEN  # the credentials the fixture linked with


@pytest.mark.skipif(not (FIXTURES / "template-updates").is_dir(), reason="../shared/fixtures is not here")
def test_the_shared_template_fixtures_apply(
    call: ApiCaller, key: str, synced: dict[str, Any], functions: dict[str, Any]
) -> None:
    hook = crm_webhook(call, key)
    applied = 0
    for path in sorted((FIXTURES / "template-updates").glob("*.json")):
        body = json.loads(path.read_bytes())
        for entry in body["entry"]:
            entry["id"] = WABA  # addressed to our session's business account
            entry["time"] = LATER
        assert post_webhook(functions, body)[0] == 200, path.name
        applied += sum(len(entry["changes"]) for entry in body["entry"])
    assert applied == 5
    delivered = {
        (d["payload"]["data"]["change"], d["payload"]["data"]["name"]) for d in deliveries(call, key, hook)
    }
    assert ("status", "order_confirmation") in delivered and ("quality", "welcome_template") in delivered
    assert ("category", "my_message_template") in delivered and (
        "components",
        "my_message_template",
    ) in delivered
    assert templates_of(call, key, synced)[("order_confirmation", "en_US")]["status"] == "APPROVED"
