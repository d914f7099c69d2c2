"""Request hygiene through `wagate serve`'s gateway, over one real keep-alive connection per test."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.serve import Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    data: Path = tmp_path_factory.mktemp("hygiene") / "data"
    with Server(data) as running:
        yield running, running.create_tenant()


def request(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    key: str | None,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, dict[str, str], bytes]:
    headers = {"content-type": content_type}
    if key:
        headers["authorization"] = f"Bearer {key}"
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def error(raw: bytes) -> Any:
    return json.loads(raw)["error"]


def test_a_request_after_each_204_on_the_same_connection(server: tuple[Server, str]) -> None:
    running, key = server
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    created = []
    for name in ("one", "two", "three"):
        status, _, raw = request(
            connection, "POST", "/v1/keys", key, json.dumps({"name": name, "scopes": ["read"]}).encode()
        )
        assert status == 201
        created.append(json.loads(raw)["key"]["id"])
    deletes = [f"/v1/keys/{key_id}" for key_id in created]
    template = {"name": "bye", "language": "en", "body": "Bye {name}"}
    assert request(connection, "POST", "/v1/templates", key, json.dumps(template).encode())[0] == 201
    deletes.append("/v1/templates/bye?language=en")
    session = {"name": "Gone soon", "provider": "sandbox"}
    status, _, raw = request(connection, "POST", "/v1/sessions", key, json.dumps(session).encode())
    assert status == 201
    deletes.append(f"/v1/sessions/{json.loads(raw)['id']}")
    for path in deletes:
        status, headers, raw = request(connection, "DELETE", path, key)
        assert status == 204 and raw == b"", (path, raw)
        assert "content-length" not in headers and "content-type" not in headers
        status, _, raw = request(connection, "GET", "/v1/keys", key)  # same socket: still usable
        assert status == 200
    connection.close()


def test_bodies_that_are_not_utf8_json_and_non_finite_numbers(server: tuple[Server, str]) -> None:
    running, key = server
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    latin1 = '{"name": "Café", "provider": "sandbox"}'.encode("latin-1")
    status, _, raw = request(connection, "POST", "/v1/sessions", key, latin1)
    assert status == 400 and error(raw)["code"] == "malformed_request" and "UTF-8" in error(raw)["message"]
    for content_type in ("text/plain", "application/xml", "multipart/form-data; boundary=b"):
        status, _, raw = request(connection, "POST", "/v1/sessions", key, b"<x/>", content_type)
        assert status == 415 and error(raw)["code"] == "unsupported_media_type"
    for value in ("inf", "-inf", "nan", "1e309"):
        status, _, raw = request(connection, "GET", f"/v1/messages?until={value}", key)
        assert status == 422 and error(raw)["details"]["fields"][0]["field"] == "query.until"
    status, _, raw = request(connection, "POST", "/v1/sessions", None, b"{bad")
    assert status == 401
    status, _, raw = request(connection, "POST", "/webhooks/meta", None, b'{"object": "\xff"}')
    assert status < 500
    connection.close()
