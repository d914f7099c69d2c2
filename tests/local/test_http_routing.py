"""Route choice like API Gateway HTTP APIs, without a server."""

from __future__ import annotations

import pytest

from local.http_routing import RouteTable
from local.intrinsics import TemplateError
from local.template_model import HttpRouteSpec


def table(*keys: str) -> RouteTable:
    routes = []
    for key in keys:
        method, _, path = key.partition(" ")
        routes.append(HttpRouteSpec("Api", method, path or "$default", f"fn:{key}"))
    return RouteTable(routes)


def chosen(routes: RouteTable, method: str, path: str) -> str | None:
    match = routes.match(method, path)
    return None if match is None else match.route.route_key


ROUTES = table(
    "GET /pets/dog",
    "GET /pets/{name}",
    "ANY /pets/{name}",
    "GET /pets/{name}/toys",
    "GET /{kind}/toys",
    "ANY /pets/{proxy+}",
    "ANY /{proxy+}",
    "POST /orders",
)


@pytest.mark.parametrize(
    ("method", "path", "route_key"),
    [
        ("GET", "/pets/dog", "GET /pets/dog"),  # exact beats {param}
        ("GET", "/pets/cat", "GET /pets/{name}"),  # {param} beats {proxy+}
        ("PUT", "/pets/cat", "ANY /pets/{name}"),  # the method beats ANY, ANY beats greedy
        ("GET", "/pets/cat/toys", "GET /pets/{name}/toys"),  # a literal earlier wins
        ("GET", "/pets/cat/toys/ball", "ANY /pets/{proxy+}"),  # longer greedy prefix wins
        ("GET", "/zoo/cages", "ANY /{proxy+}"),
        ("GET", "/orders", "ANY /{proxy+}"),  # POST /orders does not take GET
        ("POST", "/orders", "POST /orders"),
    ],
)
def test_most_specific_route_wins(method: str, path: str, route_key: str) -> None:
    assert chosen(ROUTES, method, path) == route_key


def test_path_parameters_are_bound() -> None:
    match = ROUTES.match("GET", "/pets/cat/toys/ball/red")
    assert match is not None and match.path_parameters == {"proxy": "cat/toys/ball/red"}
    match = ROUTES.match("GET", "/pets/cat/toys")
    assert match is not None and match.path_parameters == {"name": "cat"}


def test_no_match_without_a_default_route() -> None:
    routes = table("GET /pets/{name}", "ANY /files/{proxy+}")
    assert chosen(routes, "GET", "/pets") is None
    assert chosen(routes, "GET", "/pets/") is None  # a {param} needs a value
    assert chosen(routes, "GET", "/files") is None  # {proxy+} needs at least one segment
    assert chosen(routes, "GET", "/files/") is None
    assert chosen(routes, "DELETE", "/pets/cat") is None


def test_the_default_route_catches_the_rest() -> None:
    routes = table("GET /health", "$default")
    assert chosen(routes, "DELETE", "/anything/at/all") == "$default"
    assert chosen(routes, "GET", "/health") == "GET /health"


def test_duplicate_routes_and_inner_greedy_segments_are_refused() -> None:
    with pytest.raises(TemplateError, match="twice"):
        table("GET /a", "GET /a")
    with pytest.raises(TemplateError, match="last segment"):
        table("GET /{proxy+}/more")
