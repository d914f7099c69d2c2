"""Where `wagate serve` mounts the Evolution API surface: under another prefix, or at / on its own port.

The template routes it at `/evolution/{proxy+}` (wagate.evolution.ROUTE_PREFIX), as API Gateway does.
Evolution clients that take a base URL with a path (most) only need `WAGATE_EVOLUTION_PREFIX` to
change it; clients that cannot add a path get the same routes at `/` on `--evolution-port`. Both only
rewrite the request's path before the HTTP gateway sees it, so routing, the authorizer, the handler and
its answers stay exactly what the template (and AWS) has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from local.asgi import Receive, Scope, Send, send_response
from local.http_events import gateway_error
from local.http_gateway import HttpApiGateway
from wagate.evolution import ROUTE_PREFIX

Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


def _rewritten(scope: Scope, path: str) -> Scope:
    return {**scope, "path": path, "raw_path": path.encode("latin-1")}


class PrefixMount:
    """Serves `{prefix}/...` as the template's `/evolution/...`; every other request goes to `app`."""

    def __init__(self, app: Asgi, prefix: str) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and self.prefix != ROUTE_PREFIX:
            if path == self.prefix or path.startswith(self.prefix + "/"):
                scope = _rewritten(scope, ROUTE_PREFIX + path[len(self.prefix) :])
        await self.app(scope, receive, send)


class RootMount:
    """The Evolution surface alone at `/` (its own port): `/instance/create` is the template's
    `/evolution/instance/create`."""

    def __init__(self, http: HttpApiGateway | None) -> None:
        self.http = http

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            return  # lifespan: the runner starts and stops everything itself
        if self.http is None:
            await send_response(send, gateway_error(404, "Not Found"))
            return
        path = str(scope.get("path") or "/")
        await self.http(_rewritten(scope, ROUTE_PREFIX + ("" if path == "/" else path)), receive, send)
