"""Builds the API's Powertools resolver: routers, validation, OpenAPI/Swagger, and error mapping."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Route
from aws_lambda_powertools.event_handler.depends import DependencyResolutionError
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from wagate import __version__, compose
from wagate.api import audit, contract, errors, hygiene, throttle
from wagate.api.routes import (
    account_health,
    audit_log,
    broadcasts,
    contacts,
    conversations,
    crm_webhooks,
    erasure,
    groups,
    health,
    insights,
    keys,
    links,
    media,
    messages,
    operator,
    pacing,
    pools,
    realtime,
    reminders,
    retention,
    sandbox,
    sessions,
    templates,
)
from wagate.domain.errors import WagateError
from wagate.observability import logger

DESCRIPTION = """Link WhatsApp numbers, send and schedule messages, receive replies, and get told what
happened. Authenticate with `Authorization: Bearer <API key>` (`wagate admin create-tenant` prints the
first one). Every error has the shape `{"error": {"code", "message", "details"}}`."""
DOCS_PATH = "/docs"
# A request normally finishes in milliseconds, and one that died with its process frees its key as soon as
# a retry finds that out (adapters/local/idempotency_store.py), so a short wait is the honest advice.
IDEMPOTENCY_RETRY_AFTER_SECONDS = 1
# Routes anyone may call. (Powertools drops a route's `security=[]` when a router is included, so the
# list lives here, and the OpenAPI is told the same.)
PUBLIC_PATHS = frozenset({"/health"})


@dataclass
class _Request:
    """What Powertools keeps about the request being resolved (it declares these as app attributes)."""

    event: BaseProxyEvent | None = None
    lambda_context: Any = None
    context: dict[str, Any] = field(default_factory=dict)
    processed_stack_frames: list[str] = field(default_factory=list)


# Powertools sets the request on `BaseRouter` (class attributes) and routers read it through the last app
# that included them. `wagate serve` resolves several requests at once on threads, so, as Powertools' own
# HttpResolver does, each resolve keeps its request in a ContextVar (every thread has its own context).
# It is module-wide, not per app: routers delegate to whichever app included them last.
_REQUEST: ContextVar[_Request | None] = ContextVar("wagate_request", default=None)
_OUTSIDE = _Request()  # before and between resolves (Powertools writes `context` at construction)
# Powertools builds a route's middleware stack on the route's first call, in place and unguarded: two
# threads building it at once wrap it twice, and from then on every call of that route is a 500 (its
# handler adapter calls a middleware frame with the path's arguments). Routes are shared by every app that
# includes their router, so the lock is module-wide too.
_BUILD_LOCK = threading.Lock()


def _state() -> _Request:
    return _REQUEST.get() or _OUTSIDE


class WagateResolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver, with per-request state so concurrent resolves need no lock, a
    body-size limit checked before anything parses the body, and the Swagger UI route added by the first
    request for it."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._swagger_lock = threading.Lock()
        self._swagger_enabled = False

    @property  # type: ignore[override]
    def current_event(self) -> BaseProxyEvent:
        event = _state().event
        if event is None:
            raise RuntimeError("current_event is only set while a request is being resolved")
        return event

    @current_event.setter
    def current_event(self, value: BaseProxyEvent) -> None:
        _state().event = value

    @property
    def lambda_context(self) -> Any:
        return _state().lambda_context

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        _state().lambda_context = value

    @property
    def context(self) -> dict[str, Any]:
        return _state().context

    @context.setter
    def context(self, value: dict[str, Any]) -> None:
        _state().context = value

    @property
    def processed_stack_frames(self) -> list[str]:
        return _state().processed_stack_frames

    @processed_stack_frames.setter
    def processed_stack_frames(self, value: list[str]) -> None:
        _state().processed_stack_frames = value

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if not self._swagger_enabled and APIGatewayProxyEventV2(dict(event)).path == DOCS_PATH:
            self._enable_swagger()
        route = self._route_for(event)
        if route is not None:
            self._build_once(route)
            refused = self._literal_path_refusal(event, route)
            if refused is not None:
                return refused
        if route is not None:
            public = route.path in PUBLIC_PATHS or not route.include_in_schema
            settings = compose.ports().settings
            form = hygiene.takes_multipart(route)
            multipart = form and hygiene.takes_multipart(route, event)
            # a file upload: the file's limit (as base64 when the form comes as JSON), plus the other fields
            file_bytes = settings.media_body_bytes if multipart else settings.media_body_bytes * 4 // 3
            limit = file_bytes + 64 * 1024
            try:
                event = (
                    hygiene.check(
                        event,
                        public=public,
                        takes_body=bool(route.dependant.body_params),
                        limit=limit if form else settings.max_body_bytes,
                        multipart=multipart,
                    )
                    or event
                )
            except WagateError as error:
                refused = _lambda_response(errors.from_domain(error))
                audit.after(route, event, refused)
                return refused
            if not public:
                throttled = throttle.check(event)
                if throttled is not None:
                    audit.after(route, event, throttled)
                    return throttled
        # Powertools' resolve(), minus its writes to BaseRouter's class attributes.
        token = _REQUEST.set(_Request(event=self._to_proxy_event(dict(event)), lambda_context=context))
        try:
            result = _without_body_when_empty(self._build_response(self._resolve()))
        finally:
            _REQUEST.reset(token)
        if route is not None:
            audit.after(route, event, result)
        return result

    def get_openapi_schema(self, **options: Any) -> Any:
        """Powertools' spec, told the rest of the truth (api/contract.py)."""
        from aws_lambda_powertools.event_handler.openapi.models import OpenAPI

        generated = super().get_openapi_schema(**options)
        spec = generated.model_dump(mode="json", by_alias=True, exclude_none=True)
        return OpenAPI.model_validate(contract.finish(spec, PUBLIC_PATHS))

    def allowed_methods(self, path: str) -> list[str]:
        """The methods `path` answers. Where several routes match, the most literal wins
        (`/groups/sync` is not the group called `sync`), as it does for dispatch (`resolve`)."""
        return sorted({r.method for r in self._most_literal(path)})

    def _most_literal(self, path: str) -> list[Route]:
        matching = [r for r in self._static_routes + self._dynamic_routes if r.rule.match(path)]
        best = max((_literal_segments(r.path) for r in matching), default=0)
        return [r for r in matching if _literal_segments(r.path) == best]

    def _literal_path_refusal(self, event: Mapping[str, Any], route: Route) -> dict[str, Any] | None:
        """405 for a method a more literal path does not answer, instead of the parameter route that
        would otherwise take it."""
        path = str(
            ((event.get("requestContext") or {}).get("http") or {}).get("path") or event.get("rawPath") or ""
        )
        literal = self._most_literal(path)
        if route in literal:
            return None
        allowed = sorted({r.method for r in literal})
        refused = _lambda_response(method_not_allowed(path, route.method, allowed))
        refused["headers"]["Allow"] = ", ".join(allowed)
        return refused

    def _build_once(self, route: Route) -> None:
        """The route's middleware stack, built by one thread before any resolve calls it (_BUILD_LOCK)."""
        if not route._middleware_stack_built:
            with _BUILD_LOCK:
                if not route._middleware_stack_built:
                    route._build_middleware_stack(router_middlewares=self._router_middlewares, app=self)

    def _route_for(self, event: Mapping[str, Any]) -> Route | None:
        """The route Powertools will pick for `event` (the same first-match rule), or None."""
        http = (event.get("requestContext") or {}).get("http") or {}
        method = str(http.get("method", "")).upper()
        path = str(http.get("path") or event.get("rawPath") or "")
        for route in self._static_routes + self._dynamic_routes:
            if route.method == method and route.rule.match(path):
                return route
        return None

    def _enable_swagger(self) -> None:
        """Powertools' `enable_swagger`, on demand: it imports the OpenAPI models (~40 ms), which no
        other route needs, so registering it at import would slow every cold start for /docs' sake."""
        with self._swagger_lock:  # `wagate serve` may resolve several requests at once
            if not self._swagger_enabled:
                self.enable_swagger(path=DOCS_PATH, **_openapi_options())
                self._swagger_enabled = True


def _literal_segments(route_path: str) -> int:
    return sum(1 for part in route_path.split("/") if part and not part.startswith("<"))


def method_not_allowed(path: str, method: str, allowed: list[str]) -> Response[str]:
    response = errors.error_response(
        405, "method_not_allowed", f"{path} answers {', '.join(allowed)}, not {method}", {"allowed": allowed}
    )
    response.headers["Allow"] = ", ".join(allowed)
    return response


def build_resolver() -> APIGatewayHttpResolver:
    app = WagateResolver(enable_validation=True)
    app.include_router(health.router)
    routers = (
        keys,
        sessions,
        pacing,
        account_health,
        groups,
        sandbox,
        realtime,
        messages,
        broadcasts,
        media,
        pools,
        conversations,
        contacts,
        templates,
        reminders,
        links,
        crm_webhooks,
        audit_log,
        retention,
        erasure,
        insights,
        operator,
    )
    for module in routers:
        app.include_router(module.router, prefix="/v1")
    for route in app._static_routes + app._dynamic_routes:
        contract.describe(route, public=route.path in PUBLIC_PATHS)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_json() -> Response[str]:
        return Response(200, "application/json", app.get_openapi_json_schema(**_openapi_options()))

    @app.exception_handler(WagateError)
    def domain_error(error: WagateError) -> Response[str]:
        return errors.from_domain(error)

    @app.exception_handler(RequestValidationError)
    def validation_error(error: RequestValidationError) -> Response[str]:
        return errors.from_validation(list(error.errors()))

    @app.exception_handler(DependencyResolutionError)
    def dependency_error(error: DependencyResolutionError) -> Response[str]:
        # Powertools wraps what a dependency raises; auth and scope errors are ours, so unwrap them.
        cause = error.__cause__
        if isinstance(cause, WagateError):
            return errors.from_domain(cause)
        return _internal(error)

    @app.not_found
    def not_found(error: NotFoundError) -> Response[str]:
        path, method = app.current_event.path, app.current_event.http_method.upper()
        allowed = [m for m in app.allowed_methods(path) if m != method]
        if allowed:  # the path exists, not with this method (RFC 9110 §15.5.6: say which ones do)
            return method_not_allowed(path, method, allowed)
        return errors.error_response(404, "route_not_found", f"no route {method} {path}")

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response[str]:
        return _idempotency_refusal(error) or _internal(error)

    return app


def _openapi_options() -> dict[str, Any]:
    """What /openapi.json and /docs say about the API: title, version, description, API-key security."""
    # Imported here: building the OpenAPI models takes ~40 ms, and only these two routes need them.
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    return {
        "title": "wagate",
        "version": __version__,
        "description": DESCRIPTION,
        "security_schemes": {
            "apiKey": HTTPBearer(description="A wagate API key: wg_..."),
            "operatorKey": HTTPBearer(
                description="The gateway operator's key: wgo_... (its SHA-256 configured as "
                "WAGATE_OPERATOR_KEY_SHA256); only /v1/operator/... takes it"
            ),
        },
        "security": [{"apiKey": []}],
    }


def _lambda_response(response: Response[str]) -> dict[str, Any]:
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": "application/json"},
        "body": response.body,
        "isBase64Encoded": False,
    }


def _without_body_when_empty(result: dict[str, Any]) -> dict[str, Any]:
    """204 and 304 carry no body and no Content-Length (RFC 9110 §6.4.1): a `{}` there made uvicorn drop
    the keep-alive connection, failing the client's next request."""
    if result.get("statusCode") in (204, 304):
        result["body"] = ""
        result["isBase64Encoded"] = False
        for name in ("headers", "multiValueHeaders"):
            headers = result.get(name) or {}
            for key in [k for k in headers if k.lower() in ("content-type", "content-length")]:
                del headers[key]
    return result


def _idempotency_refusal(error: Exception) -> Response[str] | None:
    """Powertools' idempotency refusals (POST with Idempotency-Key) in wagate's error shape, else None.

    Told apart here rather than by their own exception handlers: importing these classes imports the
    whole idempotency package and boto3 (~100 ms), which this module must not pay at every cold start.
    """
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    if isinstance(error, IdempotencyValidationError):
        return errors.error_response(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different body; use a new key",
        )
    if isinstance(error, IdempotencyAlreadyInProgressError):
        # Not final: the first request is still running (or its process died and the key is being
        # freed), so the CRM must retry the same request with the same key after Retry-After.
        response = errors.error_response(
            409,
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still running; retry it after Retry-After seconds",
            {"retry_after": IDEMPOTENCY_RETRY_AFTER_SECONDS},
        )
        response.headers["Retry-After"] = str(IDEMPOTENCY_RETRY_AFTER_SECONDS)
        return response
    return None


def _internal(error: Exception) -> Response[str]:
    logger.exception("unhandled error", extra={"error_type": type(error).__name__})
    return errors.error_response(500, "internal_error", "something went wrong on our side; it was logged")
