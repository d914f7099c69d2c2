"""The dashboard's static files on the runner's port (`/`, `/config.json`, `/assets/...`) beside the API."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local.intrinsics import TemplateError
from local.runner import LocalRunner, bind
from local.static_files import StaticFiles
from local.template_model import HttpRouteSpec, Template
from tests.local.harness import RunningGateway, start_in_thread, stop_thread


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "dashboard" / "assets" / "js").mkdir(parents=True)
    (root / "dashboard" / "index.html").write_text("<!doctype html><title>wagate</title>")
    (root / "dashboard" / "config.json").write_text('{"apiBaseUrl": ""}')
    (root / "dashboard" / "assets" / "js" / "main.js").write_text("export const ok = true;\n")
    (root / "dashboard" / "assets" / "app.css").write_text("body {}\n")
    (root / "dashboard" / "assets" / ".env").write_text("SECRET=1")
    (root / "dashboard" / "assets" / "tool.sh").write_text("#!/bin/sh\n")
    (root / "secret.txt").write_text("outside the root")
    (root / "dashboard" / "assets" / "escape.txt").symlink_to(root / "secret.txt")
    return root / "dashboard"


@pytest.fixture(scope="module")
def site(gateway_template: Template, dashboard: Path) -> Iterator[RunningGateway]:
    template = dataclasses.replace(gateway_template, queue_subscriptions=())
    runner = LocalRunner(template, bind("127.0.0.1", 0), dashboard=dashboard)
    running, thread = start_in_thread(runner)
    yield running
    stop_thread(running, thread)


@pytest.fixture(scope="module")
def client(site: RunningGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, trust_env=False, timeout=30) as http:
        yield http


def test_the_page_is_served_at_the_root_with_its_security_headers(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.text.startswith("<!doctype html>")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/assets/js/main.js", "text/javascript; charset=utf-8"),  # module scripts need a JS type
        ("/assets/app.css", "text/css; charset=utf-8"),
        ("/config.json", "application/json"),
    ],
)
def test_assets_have_their_content_types(client: httpx.Client, path: str, content_type: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type


def test_head_sends_the_headers_only(client: httpx.Client) -> None:
    response = client.head("/assets/js/main.js")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len("export const ok = true;\n"))
    assert response.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/assets/missing.js",
        "/assets/.env",  # hidden files
        "/assets/tool.sh",  # not something a dashboard is made of
        "/assets/escape.txt",  # a symlink out of the root
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/assets/js/",
    ],
)
def test_nothing_else_is_served(client: httpx.Client, path: str) -> None:
    assert client.get(path).status_code == 404


def test_traversal_is_refused_before_the_filesystem() -> None:
    files = StaticFiles(Path("/"))
    assert files.resolve("/assets/../etc/passwd") is None
    assert files.resolve("/assets/a\x00b.js") is None


def test_api_routes_are_not_shadowed(client: httpx.Client) -> None:
    assert client.get("/items/special").status_code == 200
    # Only GET and HEAD are the dashboard's: anything else at its paths is the API's (here: no route).
    response = client.post("/", content=b"{}")
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_the_runner_refuses_a_route_the_dashboard_would_hide(
    gateway_template: Template, dashboard: Path
) -> None:
    function_id = gateway_template.http_routes[0].function_id
    root_route = HttpRouteSpec(api_id="HttpApi", method="GET", path="/", function_id=function_id)
    template = dataclasses.replace(
        gateway_template, http_routes=(*gateway_template.http_routes, root_route), queue_subscriptions=()
    )
    listener = bind("127.0.0.1", 0)
    try:
        with pytest.raises(TemplateError, match="overlaps the dashboard"):
            LocalRunner(template, listener, dashboard=dashboard)
        LocalRunner(template, listener)  # without a dashboard the route is fine
    finally:
        listener.close()


def test_the_urls_name_the_dashboard(site: RunningGateway) -> None:
    assert site.runner.urls.dashboard == site.url + "/"
