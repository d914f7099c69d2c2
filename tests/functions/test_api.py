"""The API function end to end through its real handler: auth, scopes, keys, health, errors, OpenAPI."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from tests.support.lambdas import ApiCaller, LambdaContext, load_event, load_function
from wagate import wiring
from wagate.services import tenants


@pytest.fixture(scope="module")
def api() -> ModuleType:
    return load_function("api")


@pytest.fixture(scope="module")
def authorizer() -> ModuleType:
    return load_function("authorizer")


@pytest.fixture
def tenant(local_deps: wiring.Deps) -> tuple[str, str]:
    t, key = tenants.create_tenant(local_deps.table, local_deps.clock, "Acme Realty")
    return t.id, key


@pytest.fixture
def call(api: ModuleType, authorizer: ModuleType):
    caller = ApiCaller(api, authorizer)

    def request(method: str, path: str, key: str | None = None, **kwargs: Any) -> tuple[int, Any]:
        status, body, _ = caller(method, path, key, **kwargs)
        return status, body

    return request


def test_health_is_public_and_counts_tenants(api: ModuleType, tenant: tuple[str, str]) -> None:
    response = api.lambda_handler(load_event("api-get-health"), LambdaContext())
    body = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert body["status"] == "degraded"  # no connector holds the shards in this test
    assert body["connectors"] == {"shards": 4, "shards_held": 0, "live": 0}
    assert body["counts"]["tenants"] == 1
    assert body["version"]


def test_no_key_is_401_in_the_error_shape(call: Any, local_deps: Any) -> None:
    status, body = call("GET", "/v1/keys")
    assert status == 401
    assert body["error"]["code"] == "missing_api_key"
    assert "Authorization" in body["error"]["message"]
    assert set(body["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize("key", ["wg_not-a-real-key", "sk_live_something", "Bearer"])
def test_invalid_key_is_401(call: Any, local_deps: Any, key: str) -> None:
    status, body = call("GET", "/v1/keys", key=key)
    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"


def test_key_lifecycle_and_scopes(call: Any, tenant: tuple[str, str]) -> None:
    tenant_id, admin_key = tenant
    status, created = call("POST", "/v1/keys", admin_key, body={"name": "crm", "scopes": ["read"]})
    assert status == 201
    read_key = created["secret"]
    assert read_key.startswith("wg_") and created["key"]["scopes"] == ["read"]
    assert created["key"]["tenant_id"] == tenant_id

    status, listing = call("GET", "/v1/keys", admin_key)
    assert status == 200
    assert {k["name"] for k in listing["items"]} == {"default", "crm"}
    assert all("secret" not in k and "hash" not in k for k in listing["items"])

    status, body = call("GET", "/v1/keys", read_key)
    assert status == 403
    assert body["error"]["code"] == "forbidden"
    assert body["error"]["details"]["required"] == "admin"

    status, _ = call("DELETE", f"/v1/keys/{created['key']['id']}", admin_key)
    assert status == 204
    assert tenants.list_keys(wiring.deps().table, tenant_id)[0].name == "default"


def test_another_tenants_key_id_is_404(call: Any, tenant: tuple[str, str]) -> None:
    d = wiring.deps()
    _, other_key = tenants.create_tenant(d.table, d.clock, "Other Agency")
    other_ids = [k.id for k in tenants.list_keys(d.table, tenants.authenticate(d.table, other_key).tenant_id)]
    status, body = call("DELETE", f"/v1/keys/{other_ids[0]}", tenant[1])
    assert status == 404
    assert body["error"]["code"] == "not_found"
    assert tenants.authenticate(d.table, other_key)  # still valid


def test_malformed_json_is_400(call: Any, tenant: tuple[str, str]) -> None:
    status, body = call("POST", "/v1/keys", tenant[1], raw_body='{"name": "x", ')
    assert status == 400
    assert body["error"]["code"] == "malformed_request"


def test_validation_names_the_fields(call: Any, tenant: tuple[str, str]) -> None:
    status, body = call("POST", "/v1/keys", tenant[1], body={"name": "", "scopes": ["fly"]})
    assert status == 422
    assert body["error"]["code"] == "validation_failed"
    fields = {f["field"] for f in body["error"]["details"]["fields"]}
    assert fields == {"name", "scopes.0"}
    assert "name" in body["error"]["message"]


def test_body_too_large_is_413(call: Any, tenant: tuple[str, str]) -> None:
    status, body = call("POST", "/v1/keys", tenant[1], raw_body="x" * (2 * 1024 * 1024))
    assert status == 413
    assert body["error"]["code"] == "too_large"


def test_unknown_route_is_404_in_the_error_shape(call: Any, tenant: Any) -> None:
    status, body = call("GET", "/v1/nothing-here", tenant[1])
    assert status == 404
    assert body["error"]["code"] == "route_not_found"


def test_openapi_and_swagger_are_served(api: ModuleType, local_deps: Any) -> None:
    event = load_event("api-get-health")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/openapi.json"
    spec = json.loads(api.lambda_handler(event, LambdaContext())["body"])
    assert spec["info"]["title"] == "wagate"
    assert "/v1/keys" in spec["paths"] and "/health" in spec["paths"]
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/docs"
    docs = api.lambda_handler(event, LambdaContext())
    assert docs["statusCode"] == 200 and "swagger" in docs["body"].lower()


def test_revoked_key_stops_working_after_the_authorizer_cache(
    call: Any, authorizer: ModuleType, tenant: tuple[str, str]
) -> None:
    _, admin_key = tenant
    status, created = call("POST", "/v1/keys", admin_key, body={"name": "tmp", "scopes": ["admin"]})
    call("DELETE", f"/v1/keys/{created['key']['id']}", admin_key)
    authorizer._cache.clear()  # what a minute of waiting does
    status, body = call("GET", "/v1/keys", created["secret"])
    assert status == 401
