"""Chooses the HTTP API route for a request the way API Gateway does (sans I/O).

Most specific wins: a path of literals beats one with `{param}` segments, which beats a greedy
`{proxy+}` (the longer literal prefix first), which beats `$default`. On the same path a route with the
request's method beats `ANY`. A method without a route on a matching path is simply not a match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from local.intrinsics import TemplateError
from local.template_model import HttpRouteSpec


class _Kind(IntEnum):
    LITERAL = 0
    PARAM = 1
    GREEDY = 2


@dataclass(frozen=True)
class RouteMatch:
    route: HttpRouteSpec
    path_parameters: dict[str, str]


@dataclass(frozen=True)
class _Compiled:
    route: HttpRouteSpec
    segments: tuple[tuple[_Kind, str], ...]

    @property
    def rank(self) -> tuple[int, tuple[int, ...], int]:
        kinds = tuple(kind for kind, _ in self.segments)
        overall = max(kinds, default=_Kind.LITERAL)
        if overall == _Kind.GREEDY:
            # Longer literal prefixes are more specific: more segments before `{proxy+}` rank first.
            detail: tuple[int, ...] = (-len(kinds),)
        else:
            detail = kinds  # a literal in an earlier position beats a parameter there
        return (int(overall), detail, 1 if self.route.method == "ANY" else 0)


class RouteTable:
    """The routes of one HTTP API. Raises TemplateError for duplicate route keys."""

    def __init__(self, routes: Sequence[HttpRouteSpec]) -> None:
        seen: dict[str, HttpRouteSpec] = {}
        self._compiled: list[_Compiled] = []
        self._default: HttpRouteSpec | None = None
        for route in routes:
            if route.route_key in seen:
                raise TemplateError(
                    f"route {route.route_key!r} is defined twice "
                    f"({seen[route.route_key].function_id} and {route.function_id})"
                )
            seen[route.route_key] = route
            if route.path == "$default":
                self._default = route
            else:
                self._compiled.append(_Compiled(route, _segments(route.path)))

    @property
    def routes(self) -> list[HttpRouteSpec]:
        found = [c.route for c in self._compiled]
        return found + ([self._default] if self._default else [])

    def match(self, method: str, path: str) -> RouteMatch | None:
        """The route for a request, with its path parameters; None means API Gateway's 404."""
        parts = path.split("/")[1:] if path.startswith("/") else None
        best: tuple[tuple[int, tuple[int, ...], int], RouteMatch] | None = None
        if parts is not None:
            for compiled in self._compiled:
                if compiled.route.method not in (method, "ANY"):
                    continue
                parameters = _bind(compiled.segments, parts)
                if parameters is None:
                    continue
                if best is None or compiled.rank < best[0]:
                    best = (compiled.rank, RouteMatch(compiled.route, parameters))
        if best is not None:
            return best[1]
        if self._default is not None:
            return RouteMatch(self._default, {})
        return None


def _segments(path: str) -> tuple[tuple[_Kind, str], ...]:
    result: list[tuple[_Kind, str]] = []
    parts = path.split("/")[1:]
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            if index != len(parts) - 1:
                raise TemplateError(f"{path}: a greedy {part} must be the last segment")
            result.append((_Kind.GREEDY, part[1:-2]))
        elif part.startswith("{") and part.endswith("}"):
            result.append((_Kind.PARAM, part[1:-1]))
        else:
            result.append((_Kind.LITERAL, part))
    return tuple(result)


def _bind(segments: tuple[tuple[_Kind, str], ...], parts: list[str]) -> dict[str, str] | None:
    parameters: dict[str, str] = {}
    for index, (kind, value) in enumerate(segments):
        if kind == _Kind.GREEDY:
            rest = parts[index:]
            if not rest or rest == [""]:
                return None  # `{proxy+}` needs at least one character
            parameters[value] = "/".join(rest)
            return parameters
        if index >= len(parts):
            return None
        if kind == _Kind.LITERAL:
            if parts[index] != value:
                return None
        elif not parts[index]:
            return None
        else:
            parameters[value] = parts[index]
    return parameters if len(parts) == len(segments) else None
