"""The local HTTP API: an ASGI app that routes, authorizes and invokes like API Gateway HTTP APIs.

Gateway-made answers copy API Gateway's bodies exactly: 404 `Not Found`, 401 `Unauthorized` (an
identity source is missing), 403 `Forbidden` (the authorizer said no), 413 `Request Entity Too Large`,
500 `Internal Server Error` (a function raised or answered something unmappable).
"""

from __future__ import annotations

import logging
from typing import Any

from local.asgi import ClientGone, Receive, Scope, Send, discard_body, read_body, send_response
from local.functions import FunctionError, FunctionRuntime
from local.http_events import (
    MAX_BODY_BYTES,
    HttpRequest,
    HttpResponse,
    MalformedAuthorizerResponse,
    MalformedIntegrationResponse,
    authorizer_decision,
    authorizer_event,
    gateway_error,
    identity_values,
    integration_response,
    new_request_id,
    request_event,
)
from local.http_routing import RouteTable
from local.template_model import HttpAuthorizerSpec

log = logging.getLogger("wagate.local.http")

_DISCARD_LIMIT = 64 * 1024 * 1024  # past this, a refused upload is cut off rather than read to its end
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}


class HttpApiGateway:
    """Serves one template's HttpApi routes."""

    def __init__(
        self, routes: RouteTable, runtime: FunctionRuntime, *, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self._routes = routes
        self._runtime = runtime
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _declared_length(scope)
        body = None
        if declared is None or declared <= self._max_body_bytes:
            try:
                body = await read_body(receive, self._max_body_bytes)
            except ClientGone:
                return  # half a request: API Gateway would not invoke anything either
        if body is None:
            drained = await discard_body(receive, _DISCARD_LIMIT)
            await send_response(send, gateway_error(413, "Request Entity Too Large"), close=not drained)
            return
        client = scope.get("client") or ("127.0.0.1", 0)
        server = scope.get("server") or ("127.0.0.1", 0)
        request = HttpRequest(
            method=scope["method"],
            path=scope["path"],
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=[(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]],
            body=body,
            source_ip=client[0],
            server_port=server[1] or 0,
            scheme=scope.get("scheme", "http"),
            protocol=f"HTTP/{scope.get('http_version', '1.1')}",
        )
        await send_response(send, await self.handle(request))

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Route, authorize, invoke, map. Never raises: failures become API Gateway's error responses."""
        request_id = new_request_id()
        response = await self._handle(request, request_id)
        response.headers.append(("apigw-requestid", request_id))
        return response

    async def _handle(self, request: HttpRequest, request_id: str) -> HttpResponse:
        match = self._routes.match(request.method, request.path)
        if match is None:
            return gateway_error(404, "Not Found")
        route = match.route
        event = request_event(
            request,
            api_id=route.api_id,
            route_key=route.route_key,
            path_parameters=match.path_parameters,
            request_id=request_id,
        )
        if route.authorizer is not None:
            denied = await self._authorize(route.authorizer, event)
            if denied is not None:
                return denied
        try:
            result = await self._runtime.invoke(route.function_id, event)
            response = integration_response(result)
        except FunctionError:
            return gateway_error(500, "Internal Server Error")
        except MalformedIntegrationResponse as exc:
            log.error("%s returned a response API Gateway cannot map: %s", route.function_id, exc)
            return gateway_error(500, "Internal Server Error")
        response.headers = [(k, v) for k, v in response.headers if k not in _HOP_BY_HOP]
        return response

    async def _authorize(self, authorizer: HttpAuthorizerSpec, event: dict[str, Any]) -> HttpResponse | None:
        """None when allowed (the context is put into `event`), else the gateway's refusal."""
        identity = None
        if authorizer.identity_headers or authorizer.identity_query:
            identity = identity_values(event, authorizer.identity_headers, authorizer.identity_query)
            if identity is None:
                return gateway_error(401, "Unauthorized")
        auth_event = authorizer_event(event, identity)
        try:
            result = await self._runtime.invoke(authorizer.function_id, auth_event)
            allowed, context = authorizer_decision(
                result, simple=authorizer.simple_responses, route_arn=auth_event["routeArn"]
            )
        except FunctionError:
            return gateway_error(500, "Internal Server Error")
        except MalformedAuthorizerResponse as exc:
            log.error("authorizer %s: %s", authorizer.function_id, exc)
            return gateway_error(500, "Internal Server Error")
        if not allowed:
            return gateway_error(403, "Forbidden")
        event["requestContext"]["authorizer"] = {"lambda": context}
        return None


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
