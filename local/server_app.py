"""The one ASGI app on the runner's port: the HTTP API, the WebSocket API and its @connections API.

ws://host:port/ws                        the WebSocket API (any other path refuses the upgrade)
http://host:port/ws/@connections/{id}    its management API (WAGATE_WEBSOCKET_ENDPOINT = .../ws)
http://host:port/, /config.json, /assets/...   the dashboard's static files (GET and HEAD), if any
http://host:port/media-files/...         signed media links (GET, HEAD, PUT): local/media_files.py
http://host:port/metrics                 Prometheus metrics, with the operator token: local/prometheus.py
http://host:port/...                     every HttpApi route of the template
"""

from __future__ import annotations

from urllib.parse import unquote

from local.asgi import Receive, Scope, Send, send_response
from local.http_events import gateway_error
from local.http_gateway import HttpApiGateway
from local.media_files import MediaFiles
from local.prometheus import MetricsEndpoint
from local.static_files import StaticFiles
from local.ws_gateway import CONNECTIONS_PREFIX, WebSocketGateway

WEBSOCKET_PATH = "/ws"


class LocalGatewayApp:
    def __init__(
        self,
        http: HttpApiGateway | None,
        websocket: WebSocketGateway | None,
        *,
        websocket_path: str = WEBSOCKET_PATH,
        static: StaticFiles | None = None,
        media: MediaFiles | None = None,
        metrics: MetricsEndpoint | None = None,
    ) -> None:
        self.http = http
        self.metrics = metrics
        self.media = media
        self.websocket = websocket
        self.static = static
        self.websocket_path = websocket_path
        self._management_prefix = websocket_path.rstrip("/") + CONNECTIONS_PREFIX

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            if self.websocket is not None and scope["path"] == self.websocket_path:
                await self.websocket(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        if kind != "http":
            return  # lifespan: the runner starts and stops everything itself
        if self.websocket is not None and scope["path"].startswith(self._management_prefix):
            # Decode the raw path ourselves: ids end in "=" and boto3 sends it as %3D.
            raw = scope.get("raw_path") or scope["path"].encode()
            raw_id = raw.decode("latin-1").split("@connections/", 1)[-1]
            await self.websocket.management(scope, receive, send, unquote(raw_id))
            return
        if self.metrics is not None and self.metrics.claims(scope):
            await self.metrics(scope, receive, send)
            return
        if self.media is not None and self.media.claims(scope):
            await self.media(scope, receive, send)
            return
        if self.static is not None and self.static.claims(scope):
            await self.static(scope, receive, send)
            return
        if self.http is not None:
            await self.http(scope, receive, send)
            return
        await send_response(send, gateway_error(404, "Not Found"))
