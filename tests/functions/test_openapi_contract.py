"""The OpenAPI says what the API does: statuses, the one error shape, success models, headers, README."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.lambdas import ROOT, ApiCaller

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def spec(call: ApiCaller) -> dict[str, Any]:
    status, body, _ = call("GET", "/openapi.json")
    assert status == 200
    return body if isinstance(body, dict) else json.loads(body)


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in spec["paths"].items() for m, op in ops.items() if m in METHODS]


def test_every_error_is_documented_in_the_one_shape(spec: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in json.dumps(spec)
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
        statuses = set(operation["responses"])
        if path != "/health":
            assert {"401", "403", "422", "503"} <= statuses, (method, path)
            if path.startswith("/v1/operator/"):  # the operator's own key type, never a tenant's
                assert operation["security"] == [{"operatorKey": []}]
            else:
                assert operation.get("security") is None  # the API-wide bearer key applies
        else:
            assert operation["security"] == [] and "401" not in statuses
        if method in ("POST", "PUT", "PATCH"):
            assert {"400", "413", "415"} <= statuses, (method, path)
        if "{" in path:
            assert "404" in statuses, (method, path)
    error = spec["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["error"]
    assert set(spec["components"]["schemas"]["ErrorDetail"]["properties"]) == {"code", "message", "details"}


def test_success_statuses_and_models_are_the_real_ones(spec: dict[str, Any]) -> None:
    send = spec["paths"]["/v1/messages"]["post"]
    assert "200" not in send["responses"]
    assert send["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Message"
    }
    assert [p["name"] for p in send["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]
    assert "Retry-After" in send["responses"]["409"]["headers"]
    assert "201" in spec["paths"]["/v1/sessions"]["post"]["responses"]
    revoke = spec["paths"]["/v1/keys/{key_id}"]["delete"]["responses"]["204"]
    assert not revoke.get("content")
    qr = spec["paths"]["/v1/sessions/{session_id}/qr"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "image/png", "image/svg+xml", "text/plain"} <= set(qr)
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def test_documented_statuses_are_really_answered(call: ApiCaller, key: str) -> None:
    """One request per error status the spec lists for POST /v1/sessions, answered as documented."""
    session = {"name": "Sales", "provider": "sandbox"}
    seen = {
        call("POST", "/v1/sessions", None, body=session)[0],
        call("POST", "/v1/sessions", key, raw_body="{")[0],
        call("POST", "/v1/sessions", key, raw_body="x" * (2 * 1024 * 1024))[0],
        call("POST", "/v1/sessions", key, raw_body="<a/>", headers={"content-type": "application/xml"})[0],
        call("POST", "/v1/sessions", key, body={"name": ""})[0],
        call("POST", "/v1/sessions", key, body=session)[0],
        call("TRACE", "/v1/sessions", key)[0],
    }
    assert seen == {401, 400, 413, 415, 422, 201, 405}


def test_readme_error_table_matches_the_spec(spec: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    table = {int(s) for s in re.findall(r"^\| (\d{3}) `", readme, re.MULTILINE)}
    documented = {int(s) for _, _, op in operations(spec) for s in op["responses"] if int(s) >= 400}
    assert table == documented | {405}  # 405 answers a method no operation has, so no operation lists it
    lines = readme.splitlines()
    for _, _, operation in operations(spec):  # every code the spec names for a status is in that README row
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                rows = " ".join(line for line in lines if line.startswith(f"| {status} "))
                for code in re.findall(r"`([a-z_]+)`", response["description"]):
                    assert f"`{code}`" in rows, (status, code)


def test_constraints_are_json_schema_keywords(spec: dict[str, Any]) -> None:
    """pydantic writes a bound it could not attach to the type as a bare `gt`/`le`, which no client reads."""
    text = json.dumps(spec)
    assert not re.findall(r'"(gt|ge|lt|le)": ', text)
    rate = spec["components"]["schemas"]["PacingOverrides"]["properties"]["rate_per_minute"]["anyOf"][0]
    assert rate["exclusiveMinimum"] == 0 and rate["maximum"] == 6000
