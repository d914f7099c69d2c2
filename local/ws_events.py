"""WebSocket API events: connect, message, disconnect, the $connect authorizer, route selection (sans I/O).

Shapes follow API Gateway WebSocket APIs (a payload-1.0 style): headers keep their canonical case
with `multiValueHeaders` beside them, every event's requestContext carries the connection's identity,
and the authorizer's context (with its principalId) rides along on every later event.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from local.http_events import trace_id
from local.intrinsics import LOCAL_ACCOUNT, LOCAL_REGION

STAGE = "local"  # when the template declares no AWS::ApiGatewayV2::Stage
MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message (and PostToConnection) limit
_EXECUTE_API = f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT}"

# ASGI lower-cases header names; API Gateway shows them as the client sent them. Canonical case is
# the closest we can get, with the one word that does not title-case.
_HEADER_WORDS = {"websocket": "WebSocket"}


def new_connection_id() -> str:
    """Like `L0SM9cOFvHcCIhw=`: base64 of 11 bytes, so it ends in `=` (callers must URL-encode it)."""
    while True:
        candidate = base64.b64encode(secrets.token_bytes(11)).decode()
        if "/" not in candidate:  # a "/" would split the @connections path
            return candidate


def canonical_header(name: str) -> str:
    return "-".join(_HEADER_WORDS.get(word, word.capitalize()) for word in name.split("-"))


@dataclass
class ConnectionInfo:
    """What API Gateway remembers about a connection between its events."""

    connection_id: str
    api_id: str
    domain_name: str
    source_ip: str
    user_agent: str
    connected_at_ms: int
    last_active_ms: int
    stage: str = STAGE
    authorizer: dict[str, Any] | None = None
    headers: Sequence[tuple[str, str]] = field(default_factory=list)
    query_string: Sequence[tuple[str, str]] = field(default_factory=list)

    def request_context(self, route_key: str, event_type: str, now: float) -> dict[str, Any]:
        request_id = base64.b64encode(secrets.token_bytes(11)).decode()
        context: dict[str, Any] = {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": self.connected_at_ms,
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": self.source_ip, "userAgent": self.user_agent},
            "requestId": request_id,
            "domainName": self.domain_name,
            "connectionId": self.connection_id,
            "apiId": self.api_id,
        }
        if self.authorizer is not None:
            context["authorizer"] = dict(self.authorizer)
        return context


def connect_event(info: ConnectionInfo, now: float) -> dict[str, Any]:
    headers, multi_headers = _header_maps(info, now)
    event: dict[str, Any] = {"headers": headers, "multiValueHeaders": multi_headers}
    event.update(_query_maps(info.query_string))
    event["requestContext"] = info.request_context("$connect", "CONNECT", now)
    event["isBase64Encoded"] = False
    return event


def message_event(info: ConnectionInfo, route_key: str, data: str | bytes, now: float) -> dict[str, Any]:
    context = info.request_context(route_key, "MESSAGE", now)
    context["messageId"] = base64.b64encode(secrets.token_bytes(11)).decode()
    if isinstance(data, bytes):
        return {"requestContext": context, "body": base64.b64encode(data).decode(), "isBase64Encoded": True}
    return {"requestContext": context, "body": data, "isBase64Encoded": False}


def disconnect_event(info: ConnectionInfo, status_code: int, reason: str, now: float) -> dict[str, Any]:
    # API Gateway sends only a few headers on $disconnect, some of them empty.
    headers = {"Host": info.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    context = info.request_context("$disconnect", "DISCONNECT", now)
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def authorizer_event(info: ConnectionInfo, connect: Mapping[str, Any]) -> dict[str, Any]:
    """The REQUEST authorizer event for $connect (WebSocket authorizers use the 1.0 shape)."""
    event: dict[str, Any] = {
        "type": "REQUEST",
        "methodArn": f"{_EXECUTE_API}:{info.api_id}/{info.stage}/$connect",
    }
    for key in ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters"):
        if key in connect:
            event[key] = connect[key]
    event["stageVariables"] = {}
    event["requestContext"] = connect["requestContext"]
    return event


def identity_present(connect: Mapping[str, Any], sources: Sequence[str]) -> bool:
    """Are all identity sources (`route.request.header.X`, `route.request.querystring.Y`) non-empty?"""
    headers = {k.lower(): v for k, v in (connect.get("headers") or {}).items()}
    query = connect.get("queryStringParameters") or {}
    for source in sources:
        if source.startswith("route.request.header."):
            if not headers.get(source.removeprefix("route.request.header.").lower()):
                return False
        elif source.startswith("route.request.querystring."):
            if not query.get(source.removeprefix("route.request.querystring.")):
                return False
    return True


def select_route(expression: str, data: str | bytes, routes: Mapping[str, Any]) -> str | None:
    """The route key for a message per RouteSelectionExpression (`$request.body.a.b`), else $default."""
    if isinstance(data, str) and expression.startswith("$request.body."):
        try:
            value: Any = json.loads(data)
        except ValueError:
            value = None
        for key in expression.removeprefix("$request.body.").split("."):
            value = value.get(key) if isinstance(value, dict) else None
        chosen = str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else ""
        if chosen in routes and not chosen.startswith("$"):  # $connect/$disconnect are not selectable
            return chosen
    return "$default" if "$default" in routes else None


def gateway_message(message: str, connection_id: str, request_id: str) -> str:
    """What API Gateway sends down the socket when it cannot route or integrate a message."""
    return json.dumps({"message": message, "connectionId": connection_id, "requestId": request_id})


def _header_maps(info: ConnectionInfo, now: float) -> tuple[dict[str, str], dict[str, list[str]]]:
    multi: dict[str, list[str]] = {}
    for name, value in info.headers:
        multi.setdefault(canonical_header(name), []).append(value)
    multi.setdefault("X-Amzn-Trace-Id", [trace_id(now)])
    multi["X-Forwarded-For"] = [info.source_ip]
    multi.setdefault("X-Forwarded-Proto", ["http"])
    single = {k: v[-1] for k, v in multi.items()}
    return single, multi


def _query_maps(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    if not pairs:
        return {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return {
        "queryStringParameters": {k: v[-1] for k, v in multi.items()},
        "multiValueQueryStringParameters": multi,
    }
