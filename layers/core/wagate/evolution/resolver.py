"""Builds the Evolution surface's resolver: the routes of routes/ROUTERS under ROUTE_PREFIX, in Evolution's
error shape, with wagate's request checks (body limit, JSON hygiene, tenant throttle) and audit log.

The template mounts it at `{ROUTE_PREFIX}/{proxy+}`; the handler routes on the `proxy` part, so the same
function answers under any prefix (`wagate serve` can add one, or serve it at `/` on its own port).
It is not in /openapi.json (that documents wagate's own /v1 API): Evolution's documentation is its
contract, and README's "Evolution API compatibility" table says where wagate differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import DependencyResolutionError
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from wagate import __version__
from wagate.api.resolver import WagateResolver
from wagate.domain.errors import WagateError
from wagate.evolution import ROUTE_PREFIX, errors
from wagate.evolution.routes import ROUTERS
from wagate.observability import logger

# What Evolution's `GET /` says it is; clients (the n8n node among them) read it to check the base URL.
EVOLUTION_VERSION = "2.3.6"


class EvolutionResolver(WagateResolver):
    """wagate's resolver (per-request state, request checks, audit) answering in Evolution's words."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        event = _routed_on_proxy(event)
        route = self._route_for(event)
        if route is not None and not route.dependant.body_params and event.get("body"):
            # Evolution ignores a body where it reads none (clients send `{}` or more on GETs and DELETEs).
            event = {**event, "body": None, "isBase64Encoded": False}
        result = super().resolve(event, context)
        status = int(result.get("statusCode") or 200)
        if status >= 400 and not result.get("isBase64Encoded"):
            shaped = errors.from_wagate_body(status, result.get("body"))
            if shaped is not None:
                given = result.get("headers") or {}
                headers = {k: v for k, v in given.items() if k.lower() == "retry-after"}
                return {
                    **result,
                    "statusCode": shaped.status_code,
                    "headers": {**headers, "Content-Type": "application/json"},
                    "multiValueHeaders": {},
                    "body": shaped.body,
                }
        return result


def _routed_on_proxy(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event with its path rewritten to ROUTE_PREFIX + the `proxy` path parameter, whatever prefix
    the request came under (kept as `wagateOriginalPath` for Evolution's 404 text)."""
    proxy = (event.get("pathParameters") or {}).get("proxy")
    inner = f"{ROUTE_PREFIX}/{proxy}" if proxy else ROUTE_PREFIX
    context = dict(event.get("requestContext") or {})
    http = dict(context.get("http") or {})
    original = str(http.get("path") or event.get("rawPath") or inner)
    http["path"] = inner
    context["http"] = http
    return {**event, "rawPath": inner, "requestContext": context, "wagateOriginalPath": original}


def build_resolver() -> EvolutionResolver:
    app = EvolutionResolver(enable_validation=True)
    for module in ROUTERS:
        app.include_router(module.router, prefix=ROUTE_PREFIX)

    # Public (no apikey), as Evolution's `GET /`: outside the schema is how wagate's resolver says so.
    @app.get(ROUTE_PREFIX, include_in_schema=False)
    def welcome() -> dict[str, Any]:
        return {
            "status": 200,
            "message": "Welcome to the Evolution API, it is working!",
            "version": EVOLUTION_VERSION,
            "clientName": f"wagate {__version__}",
            "documentation": "https://doc.evolution-api.com",
        }

    @app.exception_handler(errors.EvolutionError)
    def evolution_error(error: errors.EvolutionError) -> Response[str]:
        return errors.from_evolution(error)

    @app.exception_handler(WagateError)
    def domain_error(error: WagateError) -> Response[str]:
        return errors.from_domain(error)

    @app.exception_handler(RequestValidationError)
    def validation_error(error: RequestValidationError) -> Response[str]:
        return errors.from_validation(list(error.errors()))

    @app.exception_handler(DependencyResolutionError)
    def dependency_error(error: DependencyResolutionError) -> Response[str]:
        cause = error.__cause__
        if isinstance(cause, errors.EvolutionError):
            return errors.from_evolution(cause)
        if isinstance(cause, WagateError):
            return errors.from_domain(cause)
        return _internal(error)

    @app.not_found
    def not_found(error: NotFoundError) -> Response[str]:
        event = app.current_event
        path = str(event.get("wagateOriginalPath") or event.path)
        query = event.get("rawQueryString")
        url = f"{path}?{query}" if query else path
        # Evolution answers every unknown route or method this way (main.ts), never 405.
        return errors.error_response(404, [f"Cannot {event.http_method.upper()} {url}"])

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response[str]:
        return _internal(error)

    return app


def _internal(error: Exception) -> Response[str]:
    logger.exception("unhandled error", extra={"error_type": type(error).__name__})
    return errors.error_response(500, ["something went wrong on our side; it was logged"])
