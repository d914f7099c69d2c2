"""Odd but signed Meta payloads: every shape answers 200 (stored, stored as `unsupported`, or ignored with
a reason), never a 5xx that Meta would retry for days."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functions.cloud_support import (  # noqa: F401 (*_fixture: fixtures by name)
    call_fixture,
    create_cloud,
    functions_fixture,
    graph_fixture,
    key_fixture,
    notification,
    post_webhook,
    run_cloud_queue,
    session_fixture,
    sign,
    status_update,
    text_message,
)
from tests.support.lambdas import ApiCaller, LambdaContext, http_event


def inbox(call: ApiCaller, key: str) -> list[dict[str, Any]]:
    return list(call("GET", "/v1/messages", key, query="direction=inbound")[1]["items"])


ODD_MESSAGES = {
    "phones_not_a_list": {
        "type": "contacts",
        "contacts": [{"name": {"formatted_name": "Ana"}, "phones": 5}],
    },
    "product_items_not_a_list": {"type": "order", "order": {"catalog_id": "1", "product_items": 3}},
    "timestamp_1e20": {"type": "text", "text": {"body": "hola"}, "timestamp": "1e20"},
    "timestamp_nan": {"type": "text", "text": {"body": "hola"}, "timestamp": "nan"},
    "text_not_an_object": {"type": "text", "text": 7},
    "a_type_nobody_knows": {"type": "hologram", "hologram": {"x": 1}},
}


@pytest.mark.parametrize("name", sorted(ODD_MESSAGES))
def test_odd_messages_are_stored_never_500(
    name: str, call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    message = {"from": "34600123456", "id": f"wamid.{name}", "timestamp": "1730231903"}
    message.update(ODD_MESSAGES[name])
    status, _ = post_webhook(functions, notification(messages=[message]))
    assert status == 200
    [stored] = inbox(call, key)
    assert stored["provider_message_id"] == f"wamid.{name}"


def test_an_unknown_type_is_stored_as_unsupported(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    message = {"from": "34600123456", "id": "wamid.U", "timestamp": "1730231903", "type": "hologram"}
    assert post_webhook(functions, notification(messages=[message]))[0] == 200
    [stored] = inbox(call, key)
    assert stored["metadata"]["type"] == "unsupported"


def test_a_failed_status_with_an_odd_code(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    errors = [{"code": "²", "title": "odd"}]
    body = notification(statuses=[status_update("wamid.unknown", "failed", errors=errors)])
    assert post_webhook(functions, body)[0] == 200


def test_bytes_that_are_not_utf8(session: dict[str, Any], functions: dict[str, Any]) -> None:
    raw = b'{"object": "whatsapp_business_account", "entry": [{"id": "\xff\xfe"}]}'
    event = http_event("POST", "/webhooks/meta", raw_body="", headers={"x-hub-signature-256": sign(raw)})
    import base64

    event["body"] = base64.b64encode(raw).decode()
    event["isBase64Encoded"] = True
    response = functions["meta_webhooks"].lambda_handler(event, LambdaContext())
    assert response["statusCode"] < 500
