"""The local WebSocket API: $connect/$disconnect/custom routes, and its `@connections` management API.

The management API answers exactly what boto3's `apigatewaymanagementapi` client expects (rest-json,
`x-amzn-ErrorType` on errors, 410 GoneException for unknown ids), so the production Push adapter runs
unchanged against it. It only accepts loopback callers: on AWS it is IAM-protected, here nothing signs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import json
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from local.asgi import ClientGone, Receive, Scope, Send, read_body, send_response
from local.functions import FunctionError, FunctionRuntime
from local.http_events import (
    HttpResponse,
    MalformedAuthorizerResponse,
    authorizer_decision,
    gateway_error,
)
from local.template_model import WebSocketApiSpec
from local.ws_events import (
    MAX_MESSAGE_BYTES,
    ConnectionInfo,
    authorizer_event,
    connect_event,
    disconnect_event,
    gateway_message,
    identity_present,
    message_event,
    new_connection_id,
    select_route,
)
from wagate.domain.errors import Gone, ItemTooLarge, TransientError

log = logging.getLogger("wagate.local.websocket")
_T = TypeVar("_T")

CONNECTIONS_PREFIX = "/@connections/"


@dataclass
class _Connection:
    info: ConnectionInfo
    send: Send
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    messages: set[asyncio.Task[None]] = field(default_factory=set)
    close_reason: str = "Client-side close frame status not set"


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class WebSocketGateway:
    """One WebSocket API: an ASGI app for `websocket` scopes, plus `management` for HTTP scopes."""

    def __init__(self, api: WebSocketApiSpec, runtime: FunctionRuntime) -> None:
        self._api = api
        self._runtime = runtime
        self._connections: dict[str, _Connection] = {}
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop serving the connections

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        info = _connection_info(scope, self._api)
        try:
            await self._connect(info)
        except _Refused as refusal:
            await _refuse(scope, send, refusal)
            return
        await send({"type": "websocket.accept"})
        self._loop = asyncio.get_running_loop()
        connection = _Connection(info, send)
        self._connections[info.connection_id] = connection
        status = 1005
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    status = int(message.get("code", 1005))
                    break
                data = message.get("text")
                if data is None:
                    data = message.get("bytes") or b""
                info.last_active_ms = int(time.time() * 1000)
                task = asyncio.create_task(self._on_message(connection, data))
                connection.messages.add(task)
                task.add_done_callback(connection.messages.discard)
        finally:
            self._connections.pop(info.connection_id, None)
            if connection.messages:
                await asyncio.gather(*connection.messages, return_exceptions=True)
            await self._on_disconnect(connection, status)

    async def _connect(self, info: ConnectionInfo) -> None:
        now = time.time()
        event = connect_event(info, now)
        route = self._api.routes.get("$connect")
        if route is None:
            return
        if route.authorizer is not None:
            if not identity_present(event, route.authorizer.identity_sources):
                raise _Refused(401, "Unauthorized")
            auth_event = authorizer_event(info, event)
            try:
                result = await self._runtime.invoke(route.authorizer.function_id, auth_event)
                allowed, context = authorizer_decision(
                    result, simple=False, route_arn=auth_event["methodArn"]
                )
            except (FunctionError, MalformedAuthorizerResponse) as exc:
                log.error("$connect authorizer failed: %s", exc)
                raise _Refused(500, "Internal Server Error") from exc
            if not allowed:
                raise _Refused(403, "Forbidden")
            info.authorizer = {**context, "principalId": result.get("principalId"), "integrationLatency": 0}
            event["requestContext"]["authorizer"] = dict(info.authorizer)
        try:
            result = await self._runtime.invoke(route.function_id, event)
        except FunctionError as exc:
            raise _Refused(500, "Internal Server Error") from exc
        status = result.get("statusCode") if isinstance(result, dict) else None
        if isinstance(status, int) and status >= 400:
            raise _Refused(status, _reason(status))

    async def _on_message(self, connection: _Connection, data: str | bytes) -> None:
        info = connection.info
        route_key = select_route(self._api.route_selection_expression, data, self._api.routes)
        event = message_event(info, route_key or "$default", data, time.time())
        request_id = event["requestContext"]["requestId"]
        if route_key is None:
            await self._send(connection, gateway_message("Forbidden", info.connection_id, request_id))
            return
        route = self._api.routes[route_key]
        try:
            result = await self._runtime.invoke(route.function_id, event)
        except FunctionError:
            await self._send(
                connection, gateway_message("Internal server error", info.connection_id, request_id)
            )
            return
        if route.two_way and result is not None:
            body = result.get("body") if isinstance(result, dict) else result
            if body is not None:
                await self._send(connection, body if isinstance(body, str) else json.dumps(body))

    async def _on_disconnect(self, connection: _Connection, status: int) -> None:
        route = self._api.routes.get("$disconnect")
        if route is None:
            return
        event = disconnect_event(connection.info, status, connection.close_reason, time.time())
        try:
            await self._runtime.invoke(route.function_id, event)
        except FunctionError:
            pass  # API Gateway ignores $disconnect failures; the function already logged it

    async def _send(self, connection: _Connection, data: str | bytes) -> bool:
        message: dict[str, Any] = {"type": "websocket.send"}
        message["text" if isinstance(data, str) else "bytes"] = data
        try:
            async with connection.send_lock:
                await connection.send(message)
        except Exception:  # the socket closed under us; the ASGI server's error type varies by backend
            return False
        return True

    # ---- the @connections management API ---------------------------------------------------------

    async def management(self, scope: Scope, receive: Receive, send: Send, connection_id: str) -> None:
        """Serve `POST|GET|DELETE <base>/@connections/{id}`; `connection_id` is already URL-decoded."""
        client = (scope.get("client") or ("",))[0]
        try:
            body = await read_body(receive, MAX_MESSAGE_BYTES)
        except ClientGone:
            return
        if not _is_loopback(client):
            response = _aws_error(403, "ForbiddenException", "the local @connections API is loopback-only")
        elif body is None:
            response = _aws_error(413, "PayloadTooLargeException", "Message too long")
        else:
            response = await self._manage(scope["method"], connection_id, body)
        await send_response(send, response, close=body is None)

    async def post_to_connection(self, connection_id: str, body: bytes) -> bool:
        """Send `body` (as text when it is UTF-8) to a connection; False if there is no such connection."""
        connection = self._connections.get(connection_id)
        if connection is None:
            return False
        try:
            data: str | bytes = body.decode("utf-8")
        except UnicodeDecodeError:
            data = body
        return await self._send(connection, data)

    async def close_connection(self, connection_id: str) -> None:
        """Close a connection from the server side (an unknown one is already closed)."""
        connection = self._connections.get(connection_id)
        if connection is None:
            return
        connection.close_reason = "Connection closed by the @connections API"
        async with connection.send_lock:
            try:
                await connection.send({"type": "websocket.close", "code": 1000})
            except Exception:  # already closing: the same outcome
                pass

    async def _manage(self, method: str, connection_id: str, body: bytes) -> HttpResponse:
        connection = self._connections.get(connection_id)
        if connection is None:
            return _aws_error(410, "GoneException", None)
        if method == "POST":
            if not await self.post_to_connection(connection_id, body):
                return _aws_error(410, "GoneException", None)
            return HttpResponse(200, [("content-type", "application/json")], b"{}")
        if method == "GET":
            info = connection.info
            document = {
                "connectedAt": _iso(info.connected_at_ms),
                "identity": {"sourceIp": info.source_ip, "userAgent": info.user_agent},
                "lastActiveAt": _iso(info.last_active_ms),
            }
            return HttpResponse(200, [("content-type", "application/json")], json.dumps(document).encode())
        if method == "DELETE":
            await self.close_connection(connection_id)
            return HttpResponse(204)
        return gateway_error(404, "Not Found")


class DirectPush:
    """The Push port straight into a local gateway: what its @connections API does, minus boto3 and an
    HTTP round trip through the server. Only `wagate serve` wires it; the boto3 adapter still works against
    the @connections API. Thread-safe; for handler threads (blocking), never for the gateway's own loop.
    """

    def __init__(self, gateway: WebSocketGateway, timeout: float = 10.0) -> None:
        self._gateway = gateway
        self._timeout = timeout

    def post(self, connection_id: str, data: bytes) -> None:
        """Raises Gone (no such connection), ItemTooLarge, TransientError."""
        if len(data) > MAX_MESSAGE_BYTES:
            raise ItemTooLarge(
                "a WebSocket message is limited to 128 KB", details={"connection_id": connection_id}
            )
        if not self._run(self._gateway.post_to_connection(connection_id, data), connection_id):
            raise Gone(f"connection {connection_id} is gone", details={"connection_id": connection_id})

    def disconnect(self, connection_id: str) -> None:
        """Close a connection; one that is already gone counts as closed."""
        self._run(self._gateway.close_connection(connection_id), connection_id)

    def _run(self, work: Coroutine[Any, Any, _T], connection_id: str) -> _T | None:
        """Run `work` on the gateway's loop and wait; None when no connection was ever accepted."""
        loop = self._gateway._loop
        if loop is None or loop.is_closed():
            work.close()
            return None
        if _running_loop() is loop:
            work.close()
            raise RuntimeError("DirectPush blocks: call it from a worker thread, not the gateway's loop")
        future = asyncio.run_coroutine_threadsafe(work, loop)
        try:
            return future.result(self._timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise TransientError(
                "the local WebSocket gateway did not answer in time", details={"connection_id": connection_id}
            ) from exc


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _connection_info(scope: Scope, api: WebSocketApiSpec) -> ConnectionInfo:
    headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope.get("headers", [])]
    header_map = dict(headers)
    now_ms = int(time.time() * 1000)
    query = scope.get("query_string", b"").decode("latin-1")
    return ConnectionInfo(
        connection_id=new_connection_id(),
        api_id=api.logical_id,
        stage=api.stage,
        domain_name=header_map.get("host", "localhost"),
        source_ip=(scope.get("client") or ("127.0.0.1",))[0],
        user_agent=header_map.get("user-agent", ""),
        connected_at_ms=now_ms,
        last_active_ms=now_ms,
        headers=headers,
        query_string=parse_qsl(query, keep_blank_values=True),
    )


async def _refuse(scope: Scope, send: Send, refusal: _Refused) -> None:
    """Refuse the handshake with an HTTP status, as API Gateway does, when the server supports it."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = json.dumps({"message": refusal.message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "websocket.http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Forbidden"


def _aws_error(status: int, code: str, message: str | None) -> HttpResponse:
    headers = [("content-type", "application/json"), ("x-amzn-errortype", code)]
    return HttpResponse(status, headers, json.dumps({"message": message}).encode())


def _iso(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
