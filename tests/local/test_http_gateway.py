"""The local HTTP API against the test template: routing, the exact v2 event, authorizers, bodies, mapping."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aws_lambda_powertools.utilities.parser.models import (
    ApiGatewayAuthorizerRequestV2,
    APIGatewayProxyEventV2Model,
)

from tests.local.harness import RunningGateway

RECORDED = json.loads((Path(__file__).parent / "recorded" / "http_api_v2_event.json").read_text())
# Maps whose keys depend on the request; only their value types are compared.
_MAPS = {"headers", "queryStringParameters", "pathParameters", "lambda"}


@pytest.fixture(scope="module")
def client(gateway: RunningGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, trust_env=False, timeout=30) as http:
        yield http


def echoed(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()["event"]
    return event


def shape(value: Any, key: str = "") -> Any:
    """A value's structure: dict keys kept, leaves replaced by their type."""
    if isinstance(value, dict):
        if key in _MAPS:
            return {"<map>": sorted({type(v).__name__ for v in value.values()})}
        return {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [sorted({type(v).__name__ for v in value})]
    return type(value).__name__


def test_the_event_has_the_recorded_v2_shape(client: httpx.Client, gateway: RunningGateway) -> None:
    before_ms = int(time.time() * 1000)
    response = client.request(
        "GET",
        "/open/42?color=red&color=blue&size=m",
        headers=[
            ("x-custom", "one"),
            ("x-custom", "two"),
            ("Cookie", "session=abc; theme=dark"),
            ("content-type", "text/plain"),
            ("user-agent", "curl/8.5.0"),
        ],
        content=b"hello there",
    )
    event = echoed(response)

    assert shape(event) == shape(RECORDED)
    APIGatewayProxyEventV2Model.model_validate(event)
    assert event["routeKey"] == "ANY /open/{proxy+}" == event["requestContext"]["routeKey"]
    assert event["rawPath"] == "/open/42" == event["requestContext"]["http"]["path"]
    assert event["rawQueryString"] == "color=red&color=blue&size=m"
    assert event["queryStringParameters"] == {"color": "red,blue", "size": "m"}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    headers = event["headers"]
    assert "cookie" not in headers and headers["x-custom"] == "one,two"
    assert all(name == name.lower() for name in headers)
    assert headers["x-forwarded-for"] == "127.0.0.1" and headers["x-forwarded-proto"] == "http"
    assert headers["x-amzn-trace-id"].startswith("Root=1-")
    assert event["pathParameters"] == {"proxy": "42"}
    assert event["body"] == "hello there" and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "$default"
    assert context["http"] == {
        "method": "GET",
        "path": "/open/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "curl/8.5.0",
    }
    assert re.fullmatch(r"[A-Za-z0-9+/]{15}=", context["requestId"])
    assert response.headers["apigw-requestid"] == context["requestId"]
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])
    assert context["timeEpoch"] >= before_ms
    assert context["authorizer"] == {"lambda": {"who": "anonymous", "level": 3}}

    auth_event = gateway.module("AuthFunction").calls[-1]
    ApiGatewayAuthorizerRequestV2.model_validate(auth_event)
    assert auth_event["type"] == "REQUEST" and "body" not in auth_event
    assert auth_event["routeArn"].endswith("/$default/GET/open/42")
    assert auth_event["identitySource"] is None  # OpenAuth has no identity sources


def test_a_request_without_body_or_query_omits_those_keys(client: httpx.Client) -> None:
    event = echoed(client.get("/items/7"))
    for absent in ("body", "cookies", "queryStringParameters"):
        assert absent not in event
    assert event["rawQueryString"] == "" and event["isBase64Encoded"] is False
    assert "authorizer" not in event["requestContext"]  # Auth: {Authorizer: NONE}


@pytest.mark.parametrize(
    ("method", "path", "route_key", "parameters"),
    [
        ("GET", "/items/special", "GET /items/special", None),
        ("GET", "/items/7", "GET /items/{id}", {"id": "7"}),
        ("POST", "/items/7", "ANY /items/{id}", {"id": "7"}),
        ("GET", "/items/7/parts/3", "ANY /items/{proxy+}", {"proxy": "7/parts/3"}),
        ("GET", "/items/a%20b", "GET /items/{id}", {"id": "a b"}),
    ],
)
def test_routes_are_chosen_most_specific_first(
    client: httpx.Client, method: str, path: str, route_key: str, parameters: dict[str, str] | None
) -> None:
    event = echoed(client.request(method, path))
    assert event["routeKey"] == route_key
    assert event.get("pathParameters") == parameters


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("DELETE", "/upload"), ("GET", "/items")])
def test_no_route_is_api_gateways_404(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_the_handler_gets_a_lambda_context(client: httpx.Client) -> None:
    context = client.get("/items/special").json()["context"]
    assert context["function_name"] == "EchoFunction"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:EchoFunction"
    assert context["memory_limit_in_mb"] == "256"
    assert 0 < context["remaining_ms"] <= 10_000
    assert context["log_group_name"] == "/aws/lambda/EchoFunction"


# ---- authorizers ------------------------------------------------------------------------------------


def test_an_allowing_authorizer_passes_its_context(client: httpx.Client) -> None:
    event = echoed(client.get("/secure/x", headers={"X-Token": "good"}))
    assert event["requestContext"]["authorizer"] == {"lambda": {"who": "alice", "level": 3}}


def test_a_denying_authorizer_is_api_gateways_403(client: httpx.Client) -> None:
    response = client.get("/secure/x", headers={"X-Token": "bad"})
    assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})


@pytest.mark.parametrize("token", ["boom", "malformed"])
def test_a_failing_authorizer_is_a_500(client: httpx.Client, token: str) -> None:
    response = client.get("/secure/x", headers={"X-Token": token})
    assert (response.status_code, response.json()) == (500, {"message": "Internal Server Error"})


def test_a_missing_identity_source_is_a_401_without_calling_the_authorizer(
    client: httpx.Client, gateway: RunningGateway
) -> None:
    calls = gateway.module("AuthFunction").calls
    before = len(calls)
    response = client.get("/secure/x")
    assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})
    assert len(calls) == before


def test_identity_sources_are_passed_to_the_authorizer(client: httpx.Client, gateway: RunningGateway) -> None:
    echoed(client.get("/secure/x", headers={"X-Token": "good"}))
    assert gateway.module("AuthFunction").calls[-1]["identitySource"] == ["good"]


# ---- bodies -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "binary"),
    [
        ("application/octet-stream", True),
        ("image/png", True),
        ("application/x-www-form-urlencoded", True),  # HTTP APIs really do base64 form posts
        (None, True),
        ("application/json", False),
        ("text/csv; charset=utf-8", False),
        ("application/vnd.api+json", False),
    ],
)
def test_bodies_are_base64_unless_text(client: httpx.Client, content_type: str | None, binary: bool) -> None:
    payload = bytes(range(256)) if binary else b'{"a": "\xc3\xa9"}'
    headers = {"content-type": content_type} if content_type else {}
    event = echoed(client.post("/upload", content=payload, headers=headers))
    assert event["isBase64Encoded"] is binary
    sent = base64.b64decode(event["body"]) if binary else event["body"].encode()
    assert sent == payload


def test_a_body_over_10_mb_is_a_413(client: httpx.Client) -> None:
    response = client.post("/upload", content=b"x" * (10 * 1024 * 1024 + 1))
    assert (response.status_code, response.json()) == (413, {"message": "Request Entity Too Large"})


def test_a_chunked_body_over_10_mb_is_a_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(11):
            yield b"x" * (1024 * 1024)

    response = client.post("/upload", content=chunks())
    assert response.status_code == 413


# ---- responses --------------------------------------------------------------------------------------


def test_a_bare_dict_is_a_200_json_body(client: httpx.Client) -> None:
    response = client.get("/respond/bare-dict")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"hello": "world"}


def test_a_bare_string_is_the_body(client: httpx.Client) -> None:
    response = client.get("/respond/bare-str")
    assert (response.status_code, response.text) == (200, "plain text")


def test_a_full_response_maps_headers_multi_values_and_cookies(client: httpx.Client) -> None:
    response = client.get("/respond/full")
    assert response.status_code == 201
    assert response.text == "created"
    assert response.headers["x-one"] == "1"
    assert response.headers["content-type"] == "text/plain"
    assert response.headers.get_list("x-many") == ["a", "b"]
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2; Path=/"]


def test_a_base64_response_is_sent_as_bytes(client: httpx.Client) -> None:
    response = client.get("/respond/binary")
    assert response.status_code == 200
    assert response.content == bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0xFF, 0xFE])


@pytest.mark.parametrize("kind", ["raise", "malformed", "unserializable"])
def test_a_failed_integration_is_a_500(client: httpx.Client, kind: str) -> None:
    response = client.get(f"/respond/{kind}")
    assert (response.status_code, response.json()) == (500, {"message": "Internal Server Error"})


def test_head_requests_get_headers_only(client: httpx.Client) -> None:
    response = client.head("/items/7/parts")
    assert response.status_code == 200 and response.content == b""
