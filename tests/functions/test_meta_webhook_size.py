"""Meta's webhooks may be as large as Meta documents (3 MB); only past that is the answer 413."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.graph import FakeGraph
from tests.functions.cloud_support import (  # noqa: F401 (*_fixture: fixtures by name)
    call_fixture,
    create_cloud,
    functions_fixture,
    graph_fixture,
    key_fixture,
    notification,
    post_webhook,
    run_cloud_queue,
    text_message,
)
from tests.support.lambdas import ApiCaller

MB = 1024 * 1024


def padded(message_id: str, size: int) -> bytes:
    """A signed-able notification of exactly `size` bytes (Meta adds fields we do not read)."""
    body = notification(messages=[text_message(message_id)])
    body["padding"] = ""
    body["padding"] = "x" * (size - len(json.dumps(body).encode()))
    raw = json.dumps(body).encode()
    assert len(raw) == size
    return raw


def test_payloads_up_to_3_mb_are_taken(
    call: ApiCaller, key: str, graph: FakeGraph, functions: dict[str, Any]
) -> None:
    create_cloud(call, key)
    run_cloud_queue(functions)
    assert post_webhook(functions, padded("wamid.BIG", 3 * MB))[0] == 200
    assert post_webhook(functions, padded("wamid.HUGE", 3 * MB + 1))[0] == 413
    inbound = call("GET", "/v1/messages", key, query="direction=inbound")[1]["items"]
    assert [m["provider_message_id"] for m in inbound] == ["wamid.BIG"]
