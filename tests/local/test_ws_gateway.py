"""The local WebSocket API and its @connections API, driven by a real client and the real boto3 client."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import Callable, MutableMapping
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from botocore import UNSIGNED
from botocore.config import Config
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local.runner import LocalRunner, bind
from local.template_model import Template
from local.ws_events import MAX_MESSAGE_BYTES, select_route
from local.ws_gateway import DirectPush
from tests.local.harness import RunningGateway, start_in_thread, stop_thread
from wagate.adapters.aws.apigw_push import ApiGatewayPush
from wagate.domain.errors import Gone, ItemTooLarge


def open_socket(gateway: RunningGateway, query: str = "token=good") -> tuple[ClientConnection, str]:
    """Connect with a unique tag and return the socket and the connection id API Gateway gave it."""
    tag = uuid.uuid4().hex
    socket = connect(f"{gateway.ws_url}?{query}&tag={tag}", proxy=None, open_timeout=10, legacy=True)
    event = wait_for_event(gateway, lambda e: _query(e).get("tag") == tag)
    return socket, event["requestContext"]["connectionId"]


def events(gateway: RunningGateway) -> list[dict[str, Any]]:
    return list(gateway.module("WsFunction").events)


def wait_for_event(gateway: RunningGateway, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [e for e in events(gateway) if matches(e)]
        if found:
            return found[-1]
        time.sleep(0.01)
    raise AssertionError("the handler never saw the expected event")


def _query(event: dict[str, Any]) -> dict[str, str]:
    return event.get("queryStringParameters") or {}


def _of(connection_id: str, route: str) -> Callable[[dict[str, Any]], bool]:
    def matches(event: dict[str, Any]) -> bool:
        context = event["requestContext"]
        return bool(context["connectionId"] == connection_id and context["routeKey"] == route)

    return matches


def management_client(gateway: RunningGateway) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=gateway.connections_url,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED),
    )


def test_connect_sends_a_full_connect_event_with_the_authorizer_context(gateway: RunningGateway) -> None:
    socket, connection_id = open_socket(gateway)
    with socket:
        event = wait_for_event(gateway, _of(connection_id, "$connect"))
    APIGatewayWebSocketConnectEventModel.model_validate(event)
    context = event["requestContext"]
    assert context["eventType"] == "CONNECT" and context["messageDirection"] == "IN"
    assert connection_id.endswith("=") and len(connection_id) == 16
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert (context["apiId"], context["stage"]) == ("WsApi", "test")
    assert context["authorizer"]["user"] == "alice" and context["authorizer"]["principalId"] == "alice"
    assert event["headers"]["Sec-WebSocket-Version"] == "13"
    assert event["multiValueHeaders"]["Sec-WebSocket-Version"] == ["13"]
    assert event["queryStringParameters"]["token"] == "good"
    assert event["multiValueQueryStringParameters"]["token"] == ["good"]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("token=deny", 403),  # the authorizer's policy denies
        ("other=1", 401),  # the identity source (token) is missing
        ("token=boom", 500),  # the authorizer raised
        ("token=good&refuse=yes", 401),  # $connect answered statusCode 401
        ("token=good&crash=yes", 500),  # $connect raised
    ],
)
def test_a_refused_connect_fails_the_handshake(gateway: RunningGateway, query: str, status: int) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{gateway.ws_url}?{query}", proxy=None, open_timeout=10, legacy=True)
    assert refused.value.response.status_code == status


def test_messages_are_routed_by_the_selection_expression(gateway: RunningGateway) -> None:
    socket, connection_id = open_socket(gateway)
    with socket:
        socket.send(json.dumps({"action": "echo", "n": 1}))
        assert json.loads(socket.recv(timeout=10)) == {"echo": {"action": "echo", "n": 1}}
        socket.send(json.dumps({"action": "unknown"}))
        socket.send("not json")
        wait_for_event(gateway, lambda e: _of(connection_id, "$default")(e) and e.get("body") == "not json")
    echo = wait_for_event(gateway, _of(connection_id, "echo"))
    APIGatewayWebSocketMessageEventModel.model_validate(echo)
    assert echo["requestContext"]["eventType"] == "MESSAGE"
    assert echo["requestContext"]["authorizer"]["user"] == "alice"  # rides along on every event
    bodies = [e["body"] for e in events(gateway) if _of(connection_id, "$default")(e)]
    assert json.dumps({"action": "unknown"}) in bodies and "not json" in bodies


def test_a_failing_message_handler_gets_api_gateways_error_message(gateway: RunningGateway) -> None:
    socket, connection_id = open_socket(gateway)
    with socket:
        socket.send("raise")
        reply = json.loads(socket.recv(timeout=10))
    assert reply["message"] == "Internal server error" and reply["connectionId"] == connection_id


def test_closing_sends_a_disconnect_event(gateway: RunningGateway) -> None:
    socket, connection_id = open_socket(gateway)
    socket.close(code=1000)
    event = wait_for_event(gateway, _of(connection_id, "$disconnect"))
    APIGatewayWebSocketDisconnectEventModel.model_validate(event)
    assert event["requestContext"]["eventType"] == "DISCONNECT"
    assert event["requestContext"]["disconnectStatusCode"] == 1000


def test_post_get_delete_through_boto3_and_the_push_adapter(gateway: RunningGateway) -> None:
    push = ApiGatewayPush(gateway.connections_url)
    socket, connection_id = open_socket(gateway)
    with socket:
        push.post(connection_id, b'{"type": "qr_code"}')
        assert socket.recv(timeout=10) == '{"type": "qr_code"}'
        push.post(connection_id, b"\xff\x00binary")
        assert socket.recv(timeout=10) == b"\xff\x00binary"

        info = management_client(gateway).get_connection(ConnectionId=connection_id)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        assert info["Identity"]["UserAgent"].startswith("Python/")
        assert info["ConnectedAt"] <= info["LastActiveAt"]

        push.disconnect(connection_id)
        event = wait_for_event(gateway, _of(connection_id, "$disconnect"))
        assert event["requestContext"]["disconnectReason"]
    with pytest.raises(Gone):
        push.post(connection_id, b"too late")
    push.disconnect(connection_id)  # already gone counts as closed


def test_the_direct_push_sends_and_closes_like_the_connections_api(gateway: RunningGateway) -> None:
    assert gateway.runner.websocket is not None
    push = DirectPush(gateway.runner.websocket)
    socket, connection_id = open_socket(gateway)
    with socket:
        push.post(connection_id, b'{"type": "qr_code"}')
        assert socket.recv(timeout=10) == '{"type": "qr_code"}'
        push.post(connection_id, b"\xff\x00binary")
        assert socket.recv(timeout=10) == b"\xff\x00binary"
        with pytest.raises(ItemTooLarge):
            push.post(connection_id, b"x" * (MAX_MESSAGE_BYTES + 1))

        push.disconnect(connection_id)
        event = wait_for_event(gateway, _of(connection_id, "$disconnect"))
        assert event["requestContext"]["disconnectReason"]
    with pytest.raises(Gone):
        push.post(connection_id, b"too late")
    push.disconnect(connection_id)  # already gone counts as closed


def test_an_unknown_connection_is_a_410_gone_exception(gateway: RunningGateway) -> None:
    client = management_client(gateway)
    with pytest.raises(client.exceptions.GoneException) as gone:
        client.get_connection(ConnectionId="AAAAAAAAAAAAAAA=")
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_the_management_api_refuses_non_loopback_callers(gateway: RunningGateway) -> None:
    assert gateway.runner.websocket is not None
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "method": "POST", "client": ("203.0.113.9", 5000), "headers": []}
    asyncio.run(gateway.runner.websocket.management(scope, receive, send, "AAAAAAAAAAAAAAA="))
    assert sent[0]["status"] == 403
    assert (b"x-amzn-errortype", b"ForbiddenException") in sent[0]["headers"]


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ('{"action": "echo"}', "echo"),
        ('{"action": "nope"}', "$default"),
        ('{"action": {"nested": 1}}', "$default"),
        ('{"action": "$disconnect"}', "$default"),
        ("[1, 2]", "$default"),
        (b"\x00\x01", "$default"),
    ],
)
def test_route_selection(body: str | bytes, route: str) -> None:
    routes = {"echo": object(), "$default": object(), "$disconnect": object()}
    assert select_route("$request.body.action", body, routes) == route


def test_route_selection_without_a_default_route_selects_nothing() -> None:
    assert select_route("$request.body.action", '{"action": "x"}', {"echo": object()}) is None
    assert select_route("$request.body.meta.kind", '{"meta": {"kind": "echo"}}', {"echo": 1}) == "echo"


def test_draining_closes_sockets_with_1012_and_runs_disconnect(gateway_template: Template) -> None:
    without_queues = dataclasses.replace(gateway_template, queue_subscriptions=())
    runner = LocalRunner(without_queues, bind("127.0.0.1", 0))
    running, thread = start_in_thread(runner)
    socket, connection_id = open_socket(running)
    stop_thread(running, thread)  # drains
    event = wait_for_event(running, _of(connection_id, "$disconnect"))
    assert event["requestContext"]["disconnectStatusCode"] == 1012
    with pytest.raises(ConnectionClosed):
        socket.recv(timeout=10)
