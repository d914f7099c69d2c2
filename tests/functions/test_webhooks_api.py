"""/v1/webhooks through the real API handler: create, list, change, delete; URL rules; tenants apart.

Host names resolve through a fake DNS and the sender sits on an `httpx.MockTransport`: creating a
webhook resolves its host but never calls it, so no socket is opened here.
"""

from __future__ import annotations

import base64
import dataclasses
import socket
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.adapters.http_crm_webhooks import HttpWebhookSender
from wagate.conditions import SortKey
from wagate.domain.tenants import Scope
from wagate.services import tenants

DNS = {"crm.example.com": ["93.184.215.14"], "intranet.corp": ["10.1.2.3"], "sneaky.example.com": ["::1"]}
URL = "https://crm.example.com/wagate/hooks"


def fake_dns(host: str, port: int) -> Sequence[str]:
    if host in DNS:
        return DNS[host]
    if host.replace(".", "").isdigit() or ":" in host:
        return [host]
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def refuse_all(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"creating a webhook must not call it: {request.url}")


def use(local_deps: wiring.Deps, **settings: Any) -> wiring.Deps:
    client = httpx.Client(transport=httpx.MockTransport(refuse_all))
    sender = HttpWebhookSender(client, timeout=1.0, resolve=fake_dns)
    changed = local_deps.settings.model_copy(update=settings)
    installed = dataclasses.replace(local_deps, settings=changed, webhook_sender=sender)
    wiring.install(installed)
    return installed


@pytest.fixture
def call(functions: dict[str, Any], local_deps: wiring.Deps) -> ApiCaller:
    use(local_deps)
    return ApiCaller(functions["api"], functions["authorizer"])


def create(call: ApiCaller, key: str, **body: Any) -> dict[str, Any]:
    status, created, _ = call("POST", "/v1/webhooks", key, body={"url": URL, **body})
    assert status == 201, created
    return dict(created)


def stored(local_deps: wiring.Deps, tenant_id: str) -> list[dict[str, Any]]:
    return local_deps.table.query(f"T#{tenant_id}", sk=SortKey.prefix("WEBHOOK#")).items


def test_create_shows_the_secret_once_and_stores_it_encrypted(
    call: ApiCaller, key: str, local_deps: wiring.Deps
) -> None:
    created = create(call, key, events=["message_status", "incoming_message"], description="HubSpot")
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) >= 24
    assert created["id"].startswith("whk_") and created["enabled"] is True
    assert created["events"] == ["incoming_message", "message_status"]
    assert created["description"] == "HubSpot" and created["secret_hint"] == secret[:10]
    fetched = call("GET", f"/v1/webhooks/{created['id']}", key)[1]
    listed = call("GET", "/v1/webhooks", key)[1]["items"]
    assert "secret" not in fetched and [w["id"] for w in listed] == [created["id"]]
    assert all("secret" not in w for w in listed)
    [item] = stored(local_deps, created["tenant_id"])
    blob = bytes(item["secret"])
    assert secret.encode() not in blob and secret[6:].encode() not in blob
    context = {"tenant_id": created["tenant_id"], "webhook_id": created["id"]}
    assert local_deps.crypto.decrypt(blob, context=context) == secret.encode()
    # Another webhook gets another secret.
    assert create(call, key)["secret"] != secret


def test_an_empty_filter_means_every_event(call: ApiCaller, key: str) -> None:
    created = create(call, key)
    assert created["events"] == [] and created["description"] is None


def test_patch_changes_only_what_is_given_and_checks_a_new_url(call: ApiCaller, key: str) -> None:
    created = create(call, key, description="v1")
    path = f"/v1/webhooks/{created['id']}"
    status, changed, _ = call("PATCH", path, key, body={"events": ["qr_code"], "enabled": False})
    assert status == 200 and changed["events"] == ["qr_code"] and changed["enabled"] is False
    assert changed["disabled_reason"] == "disabled by request" and changed["description"] == "v1"
    status, error, _ = call("PATCH", path, key, body={"url": "https://intranet.corp/x"})
    assert status == 422 and error["error"]["code"] == "webhook_address_not_allowed"
    enabled = call("PATCH", path, key, body={"enabled": True})[1]
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None and enabled["url"] == URL


def test_delete(call: ApiCaller, key: str) -> None:
    created = create(call, key)
    assert call("DELETE", f"/v1/webhooks/{created['id']}", key)[0] == 204
    status, error, _ = call("GET", f"/v1/webhooks/{created['id']}", key)
    assert status == 404 and error["error"]["code"] == "webhook_not_found"
    assert call("DELETE", f"/v1/webhooks/{created['id']}", key)[0] == 404
    assert call("GET", "/v1/webhooks", key)[1]["items"] == []


@pytest.mark.parametrize(
    ("body", "status", "code", "needle"),
    [
        ({"url": "crm.example.com/hooks"}, 422, "invalid_webhook_url", "not an absolute URL"),
        ({"url": "ftp://crm.example.com/hooks"}, 422, "invalid_webhook_url", "https://"),
        ({"url": "https://"}, 422, "invalid_webhook_url", "no host"),
        ({"url": "https://crm.example.com:port/x"}, 422, "invalid_webhook_url", "not a URL"),
        ({"url": "http://crm.example.com/hooks"}, 422, "invalid_webhook_url", "https://"),
        ({"url": "https://127.0.0.1/hooks"}, 422, "webhook_address_not_allowed", "127.0.0.1"),
        ({"url": "https://10.0.0.5/hooks"}, 422, "webhook_address_not_allowed", "10.0.0.5"),
        ({"url": "https://169.254.169.254/latest"}, 422, "webhook_address_not_allowed", "169.254"),
        ({"url": "https://[::ffff:127.0.0.1]/h"}, 422, "webhook_address_not_allowed", "public addresses"),
        ({"url": "https://intranet.corp/hooks"}, 422, "webhook_address_not_allowed", "10.1.2.3"),
        ({"url": "https://sneaky.example.com/h"}, 422, "webhook_address_not_allowed", "::1"),
        ({"url": "https://nowhere.invalid/hooks"}, 422, "webhook_unreachable", "does not resolve"),
        ({"url": URL, "events": ["message_deleted"]}, 422, "validation_failed", "events"),
        ({"url": URL, "events": "incoming_message"}, 422, "validation_failed", "events"),
        ({"events": ["qr_code"]}, 422, "validation_failed", "url"),
        ({"url": URL, "description": "x" * 501}, 422, "validation_failed", "description"),
    ],
    ids=[
        "relative",
        "ftp",
        "no-host",
        "bad-port",
        "http-in-production",
        "loopback",
        "private",
        "metadata",
        "mapped-loopback",
        "private-by-dns",
        "ipv6-loopback-by-dns",
        "unresolvable",
        "unknown-event",
        "events-not-a-list",
        "no-url",
        "long-description",
    ],
)
def test_refusals_use_the_one_error_shape_and_store_nothing(
    call: ApiCaller,
    key: str,
    local_deps: wiring.Deps,
    body: dict[str, Any],
    status: int,
    code: str,
    needle: str,
) -> None:
    got, error, _ = call("POST", "/v1/webhooks", key, body=body)
    assert got == status, error
    assert set(error) == {"error"} and set(error["error"]) == {"code", "message", "details"}, error
    assert error["error"]["code"] == code and needle in str(error["error"]), error
    tenant_id = tenants.authenticate(local_deps.table, key).tenant_id
    assert stored(local_deps, tenant_id) == []
    assert call("GET", "/v1/webhooks", key)[1]["items"] == []
    counters = local_deps.table.get(f"T#{tenant_id}", "COUNTERS") or {}
    assert counters.get("webhooks", 0) == 0


def test_unknown_event_names_the_allowed_ones(call: ApiCaller, key: str) -> None:
    error = call("POST", "/v1/webhooks", key, body={"url": URL, "events": ["sent"]})[1]["error"]
    [problem] = error["details"]["fields"]
    assert problem["field"] == "events.0" and "incoming_message" in problem["problem"]


def test_operator_settings_allow_http_and_private_addresses(
    call: ApiCaller, key: str, local_deps: wiring.Deps
) -> None:
    use(local_deps, webhooks_allow_http=True)
    status, error, _ = call("POST", "/v1/webhooks", key, body={"url": "http://127.0.0.1:9/hooks"})
    assert status == 422 and error["error"]["code"] == "webhook_address_not_allowed"
    assert create(call, key, url="http://crm.example.com/hooks")["url"] == "http://crm.example.com/hooks"
    use(local_deps, webhooks_allow_http=True, webhooks_allow_private=True)
    assert create(call, key, url="http://127.0.0.1:9/hooks")["enabled"] is True


def test_another_tenants_webhook_is_404_everywhere(
    call: ApiCaller, key: str, local_deps: wiring.Deps
) -> None:
    mine = create(call, key)
    other = tenants.create_tenant(local_deps.table, local_deps.clock, "Rival")[1]
    base = f"/v1/webhooks/{mine['id']}"
    attempts = [
        ("GET", base, None),
        ("PATCH", base, {"enabled": False}),
        ("DELETE", base, None),
        ("GET", f"{base}/deliveries", None),
        ("GET", f"{base}/deliveries/dlv_01J0000000000000000000000", None),
        ("POST", f"{base}/deliveries/dlv_01J0000000000000000000000/replay", None),
        ("POST", f"{base}/replay", {"since": "2024-01-01T00:00:00Z"}),
    ]
    for method, path, body in attempts:
        status, error, _ = call(method, path, other, body=body)
        assert status == 404 and error["error"]["code"] == "webhook_not_found", (method, path, error)
    assert call("GET", "/v1/webhooks", other)[1]["items"] == []
    assert call("GET", base, key)[1]["enabled"] is True


def test_every_route_takes_the_admin_scope(call: ApiCaller, key: str, local_deps: wiring.Deps) -> None:
    mine = create(call, key)
    tenant_id = mine["tenant_id"]
    reader = tenants.create_key(
        local_deps.table, local_deps.clock, tenant_id, "crm", [Scope.READ, Scope.SEND]
    )
    for method, path in [
        ("POST", "/v1/webhooks"),
        ("GET", "/v1/webhooks"),
        ("GET", f"/v1/webhooks/{mine['id']}"),
        ("GET", f"/v1/webhooks/{mine['id']}/deliveries"),
    ]:
        status, error, _ = call(method, path, reader[1], body={"url": URL} if method == "POST" else None)
        assert status == 403 and error["error"]["details"]["required"] == "admin", (method, path)


def test_a_tenant_holds_at_most_20_webhooks(call: ApiCaller, key: str) -> None:
    for _ in range(20):
        create(call, key)
    status, error, _ = call("POST", "/v1/webhooks", key, body={"url": URL})
    assert status == 409 and error["error"]["code"] == "limit_exceeded"
    first = call("GET", "/v1/webhooks", key)[1]["items"][0]
    assert call("DELETE", f"/v1/webhooks/{first['id']}", key)[0] == 204
    create(call, key)


def test_deliveries_of_a_new_webhook(call: ApiCaller, key: str) -> None:
    mine = create(call, key)
    status, page, _ = call("GET", f"/v1/webhooks/{mine['id']}/deliveries", key, query="status=failed")
    assert status == 200 and page == {"items": [], "cursor": None}
    status, error, _ = call("GET", f"/v1/webhooks/{mine['id']}/deliveries", key, query="status=lost")
    assert status == 422 and error["error"]["details"]["fields"][0]["field"] == "query.status"
    status, error, _ = call("POST", f"/v1/webhooks/{mine['id']}/deliveries/dlv_nope/replay", key)
    assert status == 404 and error["error"]["code"] == "delivery_not_found"
