"""Request hygiene in the Lambda handler: 401 before anything else, then 413/415/400, then 422 by field."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.support.lambdas import ApiCaller, LambdaContext, http_event

SESSION = {"name": "Sales", "provider": "sandbox"}


def test_authentication_comes_before_validation(call: ApiCaller) -> None:
    for kwargs in (
        {"raw_body": "{not json"},
        {"body": {"name": ""}},
        {"raw_body": "name=x", "headers": {"content-type": "text/plain"}},
        {"raw_body": "x" * (2 * 1024 * 1024)},
    ):
        status, body, _ = call("POST", "/v1/sessions", None, **kwargs)
        assert status == 401 and body["error"]["code"] == "missing_api_key", (kwargs, body)
    status, body, _ = call("GET", "/v1/messages", None, query="until=inf&limit=0")
    assert status == 401


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "multipart/form-data; boundary=x", "application/xml", "application/json; charset=latin-1"],
)
def test_a_body_that_is_not_json_is_415(call: ApiCaller, key: str, content_type: str) -> None:
    status, body, _ = call(
        "POST",
        "/v1/sessions",
        key,
        raw_body='{"name": "Sales", "provider": "sandbox"}',
        headers={"content-type": content_type},
    )
    assert status == 415, body
    assert body["error"]["code"] == "unsupported_media_type"
    assert body["error"]["details"]["accepted"] == ["application/json"]


def test_json_flavours_are_read(call: ApiCaller, key: str) -> None:
    for content_type in (
        "application/json; charset=utf-8",
        "application/merge-patch+json",
        "APPLICATION/JSON",
    ):
        status, body, _ = call(
            "POST", "/v1/sessions", key, body=SESSION, headers={"content-type": content_type}
        )
        assert status == 201, (content_type, body)


def test_a_body_that_is_not_utf8_is_400(call: ApiCaller, key: str, functions: dict[str, Any]) -> None:
    raw = b'{"name": "Caf\xe9", "provider": "sandbox"}'
    headers = {"authorization": f"Bearer {key}"}
    auth = functions["authorizer"].lambda_handler({"headers": headers, "type": "REQUEST"}, LambdaContext())
    event = http_event(
        "POST", "/v1/sessions", raw_body=base64.b64encode(raw).decode(), authorizer=auth["context"]
    )
    event["isBase64Encoded"] = True
    response = functions["api"].lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 400, response
    assert '"malformed_request"' in response["body"] and "UTF-8" in response["body"]


@pytest.mark.parametrize(
    "raw", ['{"name": NaN}', '{"name": Infinity}', '{"scheduled_at": 1e309}', "[1, -Infinity]"]
)
def test_numbers_json_cannot_carry_are_400(call: ApiCaller, key: str, raw: str) -> None:
    status, body, _ = call("POST", "/v1/messages", key, raw_body=raw)
    assert status == 400 and body["error"]["code"] == "malformed_request", body


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e309", "Infinity"])
def test_query_numbers_must_be_finite(call: ApiCaller, key: str, value: str) -> None:
    for name in ("since", "until"):
        status, body, _ = call("GET", "/v1/messages", key, query=f"{name}={value}")
        assert status == 422, body
        assert body["error"]["details"]["fields"][0]["field"] == f"query.{name}"


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\ud800"])
def test_control_characters_are_refused_naming_the_field(call: ApiCaller, key: str, char: str) -> None:
    status, body, _ = call("POST", "/v1/sessions", key, body={**SESSION, "name": f"Sa{char}les"})
    assert status == 422 and body["error"]["code"] == "control_character", body
    assert body["error"]["details"]["field"] == "name"
    status, body, _ = call(
        "POST", "/v1/sessions", key, body={**SESSION, "metadata": {"crm": [1, f"x{char}"]}}
    )
    assert status == 422 and body["error"]["details"]["field"] == "metadata.crm[1]", body
    status, body, _ = call("GET", "/v1/messages", key, query=f"session_id=ses{char}")
    assert status == 422 and body["error"]["details"]["field"] == "query.session_id", body


def test_tabs_and_line_breaks_are_text(call: ApiCaller, key: str) -> None:
    status, body, _ = call(
        "POST", "/v1/templates", key, body={"name": "multi_line", "language": "es", "body": "Hola\n\tAna\r\n"}
    )
    assert status == 201, body


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("[]", "the body must be a JSON object"),
        ('"hello"', "the body must be a JSON object"),
        ("null", "body"),
        ('{"name": "x"}', "provider: Field required"),
        ('{"name": 5, "provider": "sandbox"}', "name: Input should be a valid string"),
    ],
)
def test_each_body_problem_says_what_it_is(call: ApiCaller, key: str, raw: str, needle: str) -> None:
    status, body, _ = call("POST", "/v1/sessions", key, raw_body=raw)
    assert status == 422, body
    assert needle in body["error"]["message"], body


def test_empty_statuses_have_no_body(call: ApiCaller, key: str) -> None:
    status, created, _ = call("POST", "/v1/keys", key, body={"name": "ci", "scopes": ["read"]})
    assert status == 201
    status, body, headers = call("DELETE", f"/v1/keys/{created['key']['id']}", key)
    assert status == 204 and body in ("", None)
    assert not {h.lower() for h in headers} & {"content-length", "content-type"}


def test_a_body_on_a_route_that_takes_none_is_refused(call: ApiCaller, key: str) -> None:
    status, session, _ = call("POST", "/v1/sessions", key, body=SESSION)
    assert status == 201
    path = f"/v1/sessions/{session['id']}/disconnect"
    status, body, _ = call("POST", path, key, body=[None, None])
    assert status == 422 and body["error"]["code"] == "unexpected_body", body
    assert call("POST", path, key, raw_body="{}")[0] == 202
    assert call("POST", path, key)[0] == 202


def test_a_list_is_not_an_optional_object(call: ApiCaller, key: str) -> None:
    status, session, _ = call("POST", "/v1/sessions", key, body=SESSION)
    path = f"/v1/sessions/{session['id']}/connect"  # its body is optional
    status, body, _ = call("POST", path, key, body=[None, None])
    assert (
        status == 422 and body["error"]["message"] == "invalid fields: body: the body must be a JSON object"
    )
    assert call("POST", path, key)[0] == 202
