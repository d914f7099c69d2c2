"""`wagate serve`'s Evolution mounts: another prefix on the main port, and `/` on a port of its own."""

from __future__ import annotations

import asyncio
from typing import Any

from local.evolution_mount import PrefixMount, RootMount
from local.http_events import HttpRequest, HttpResponse


class Recorder:
    """An ASGI app (or gateway) that records the paths it is asked for."""

    def __init__(self) -> None:
        self.paths: list[tuple[str, bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.paths.append((scope["path"], scope["raw_path"]))

    async def handle(self, request: HttpRequest) -> HttpResponse:  # the HttpApiGateway surface
        raise AssertionError("not used")


def run(app: Any, path: str, kind: str = "http") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": kind, "path": path, "raw_path": path.encode(), "method": "GET", "headers": []}
    asyncio.run(app(scope, receive, send))
    return sent


def test_another_prefix_reaches_the_templates_routes() -> None:
    inner = Recorder()
    mount = PrefixMount(inner, "/api/evo")
    for path in ("/api/evo/instance/create", "/api/evo", "/api/evolutionary", "/v1/keys", "/evolution/x"):
        run(mount, path)
    assert [p for p, _ in inner.paths] == [
        "/evolution/instance/create",
        "/evolution",
        "/api/evolutionary",  # not under the prefix: untouched
        "/v1/keys",
        "/evolution/x",
    ]
    assert inner.paths[0][1] == b"/evolution/instance/create"


def test_the_default_prefix_changes_nothing() -> None:
    inner = Recorder()
    run(PrefixMount(inner, "/evolution"), "/evolution/instance/create")
    assert inner.paths == [("/evolution/instance/create", b"/evolution/instance/create")]


def test_the_root_port_serves_evolution_paths_only() -> None:
    inner = Recorder()
    mount = RootMount(inner)  # type: ignore[arg-type]
    run(mount, "/instance/fetchInstances")
    run(mount, "/")
    assert [p for p, _ in inner.paths] == ["/evolution/instance/fetchInstances", "/evolution"]
    assert run(mount, "/ws", kind="websocket") == [{"type": "websocket.close", "code": 1008}]
    gone = run(RootMount(None), "/instance/create")
    assert gone[0]["status"] == 404
