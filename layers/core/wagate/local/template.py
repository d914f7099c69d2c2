"""Reads template.yaml into the typed model the local runner needs (functions, routes, schedules, queues).

Only what the runner executes is modelled. Anything it cannot honour faithfully (cron schedules, JWT
authorizers, payload format 1.0, inline code) raises TemplateError at load time rather than running
differently from AWS; event types it does not emulate are listed in `Template.skipped`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cfnlint.decode import cfn_yaml

from wagate.local.intrinsics import (
    Resolver,
    TemplateError,
    as_bool,
    function_id_from_arn,
    local_queue_name,
    queue_arn,
)
from wagate.local.language_extensions import expand_for_each

if TYPE_CHECKING:
    from wagate.adapters.local.sqlite_queue import QueueDefinition

__all__ = ["Template", "TemplateError", "load_template"]

IMPLICIT_HTTP_API = "ServerlessHttpApi"  # SAM's name for the API of HttpApi events without ApiId
LAMBDA_DEFAULT_TIMEOUT = 3
LAMBDA_DEFAULT_MEMORY = 128
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# Only these properties are resolved: the rest (policies, tags...) may use intrinsics that mean
# nothing locally, and must not stop the runner.
_FUNCTION_KEYS = frozenset(
    {"CodeUri", "Handler", "Timeout", "MemorySize", "Environment", "Layers", "PackageType", "InlineCode"}
)
_QUEUE_KEYS = frozenset({"QueueName", "FifoQueue", "ContentBasedDeduplication", "VisibilityTimeout"})
_WEBSOCKET_KEYS = frozenset(
    {
        "ApiId",
        "ProtocolType",
        "RouteSelectionExpression",
        "IntegrationUri",
        "AuthorizerUri",
        "IdentitySource",
        "Target",
        "AuthorizationType",
        "AuthorizerId",
        "RouteKey",
        "RouteResponseSelectionExpression",
    }
)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: Mapping[str, str]
    timeout_seconds: int = LAMBDA_DEFAULT_TIMEOUT
    memory_mb: int = LAMBDA_DEFAULT_MEMORY
    layer_dirs: tuple[Path, ...] = ()


@dataclass(frozen=True)
class HttpAuthorizerSpec:
    name: str
    function_id: str
    simple_responses: bool
    identity_headers: tuple[str, ...] = ()
    identity_query: tuple[str, ...] = ()


@dataclass(frozen=True)
class HttpRouteSpec:
    api_id: str
    method: str  # upper case, or "ANY"
    path: str  # "/v1/{proxy+}", or "$default"
    function_id: str
    authorizer: HttpAuthorizerSpec | None = None

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class WebSocketAuthorizerSpec:
    name: str
    function_id: str
    identity_sources: tuple[str, ...]  # e.g. "route.request.querystring.token"


@dataclass(frozen=True)
class WebSocketRouteSpec:
    route_key: str
    function_id: str
    authorizer: WebSocketAuthorizerSpec | None = None
    two_way: bool = False  # a RouteResponseSelectionExpression sends the handler's body back


@dataclass(frozen=True)
class WebSocketApiSpec:
    logical_id: str
    route_selection_expression: str
    routes: Mapping[str, WebSocketRouteSpec]


@dataclass(frozen=True)
class ScheduleSpec:
    name: str  # "<FunctionId>.<EventName>"
    function_id: str
    period_seconds: int
    input: str | None = None
    enabled: bool = True
    scheduler_v2: bool = True  # ScheduleV2 (EventBridge Scheduler) vs Schedule (EventBridge rule)


@dataclass(frozen=True)
class QueueSubscriptionSpec:
    name: str  # "<FunctionId>.<EventName>"
    function_id: str
    queue_id: str
    batch_size: int = 10
    report_batch_item_failures: bool = False
    batching_window_seconds: int = 0
    enabled: bool = True


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    queue_name: str
    fifo: bool = False
    content_based_dedup: bool = False
    visibility_timeout: int = 30
    dlq_id: str | None = None
    max_receives: int | None = None

    @property
    def arn(self) -> str:
        return queue_arn(self.queue_name)


@dataclass(frozen=True)
class Template:
    path: Path
    functions: Mapping[str, FunctionSpec]
    http_routes: tuple[HttpRouteSpec, ...] = ()
    websocket_api: WebSocketApiSpec | None = None
    schedules: tuple[ScheduleSpec, ...] = ()
    queue_subscriptions: tuple[QueueSubscriptionSpec, ...] = ()
    queues: Mapping[str, QueueSpec] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()  # events the runner does not emulate, for a startup warning

    def queue_definitions(self) -> dict[str, QueueDefinition]:
        """What the local queue adapter needs to create every queue, by logical id."""
        from wagate.adapters.local.sqlite_queue import QueueDefinition

        return {
            q.logical_id: QueueDefinition(
                name=q.logical_id,
                fifo=q.fifo,
                visibility_timeout=q.visibility_timeout,
                dlq=q.dlq_id,
                max_receives=q.max_receives,
                content_based_dedup=q.content_based_dedup,
            )
            for q in self.queues.values()
        }


def load_template(path: Path | str, parameters: Mapping[str, str] | None = None) -> Template:
    """Parse template.yaml. `parameters` override parameter Defaults. Raises TemplateError."""
    path = Path(path).resolve()
    try:
        document = cfn_yaml.load(str(path))
    except Exception as exc:  # cfn-lint raises several unrelated types for unreadable YAML
        raise TemplateError(f"{path}: cannot be parsed: {exc}") from exc
    try:
        resources: dict[str, Mapping[str, Any]] = expand_for_each(
            document.get("Resources") or {}, document.get("Parameters") or {}
        )
    except ValueError as exc:
        raise TemplateError(f"{path}: {exc}") from exc
    resolver = Resolver(document.get("Parameters") or {}, resources, parameters)
    base = path.parent
    globals_ = _props(
        (document.get("Globals") or {}).get("Function"), _FUNCTION_KEYS, resolver, "Globals.Function"
    )

    functions: dict[str, FunctionSpec] = {}
    raw_events: dict[str, Mapping[str, Any]] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::Function":
            functions[logical_id] = _function(logical_id, resource, globals_, resolver, resources, base)
            raw_events[logical_id] = (resource.get("Properties") or {}).get("Events") or {}

    queues = {
        logical_id: _queue(logical_id, resource, resolver)
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::SQS::Queue"
    }
    http_authorizers = _http_authorizers(resources, resolver, functions)

    routes: list[HttpRouteSpec] = []
    schedules: list[ScheduleSpec] = []
    subscriptions: list[QueueSubscriptionSpec] = []
    skipped: list[str] = []
    for function_id, events in raw_events.items():
        for event_name, event in events.items():
            where = f"{function_id}.Events.{event_name}"
            kind = str(event.get("Type"))
            props = resolver.resolve(event.get("Properties") or {}, where)
            raw_props = event.get("Properties") or {}
            if kind == "HttpApi":
                routes.append(_http_route(function_id, props, raw_props, http_authorizers, where))
            elif kind in ("ScheduleV2", "Schedule"):
                schedules.append(_schedule(function_id, event_name, kind, props, where))
            elif kind == "SQS":
                subscriptions.append(_subscription(function_id, event_name, props, raw_props, queues, where))
            else:
                skipped.append(f"{where} ({kind})")

    return Template(
        path=path,
        functions=functions,
        http_routes=tuple(routes),
        websocket_api=_websocket_api(resources, resolver, functions),
        schedules=tuple(schedules),
        queue_subscriptions=tuple(subscriptions),
        queues=queues,
        skipped=tuple(skipped),
    )


def _function(
    logical_id: str,
    resource: Mapping[str, Any],
    globals_: Mapping[str, Any],
    resolver: Resolver,
    resources: Mapping[str, Mapping[str, Any]],
    base: Path,
) -> FunctionSpec:
    where = f"{logical_id}.Properties"
    own = _props(resource.get("Properties"), _FUNCTION_KEYS, resolver, where)
    props = {**globals_, **own}
    if props.get("PackageType") == "Image" or "InlineCode" in props:
        raise TemplateError(f"{where}: only zip functions with a CodeUri directory run locally")
    code_uri = props.get("CodeUri")
    handler = props.get("Handler")
    if not isinstance(code_uri, str) or not isinstance(handler, str):
        raise TemplateError(f"{where}: needs CodeUri (a local directory) and Handler")
    variables = {
        **((globals_.get("Environment") or {}).get("Variables") or {}),
        **((own.get("Environment") or {}).get("Variables") or {}),
    }
    environment = {str(k): _env_text(v) for k, v in variables.items()}
    layer_dirs = []
    for layer in props.get("Layers") or []:
        layer_resource = resources.get(str(layer)) or {}
        content = (layer_resource.get("Properties") or {}).get("ContentUri")
        if isinstance(content, str):
            layer_dirs.append((base / content).resolve())
    return FunctionSpec(
        logical_id=logical_id,
        code_dir=(base / code_uri).resolve(),
        handler=handler,
        environment=environment,
        timeout_seconds=int(props.get("Timeout", LAMBDA_DEFAULT_TIMEOUT)),
        memory_mb=int(props.get("MemorySize", LAMBDA_DEFAULT_MEMORY)),
        layer_dirs=tuple(layer_dirs),
    )


def _props(raw: Any, keys: frozenset[str], resolver: Resolver, where: str) -> dict[str, Any]:
    chosen = {k: v for k, v in (raw or {}).items() if k in keys}
    resolved: dict[str, Any] = resolver.resolve(chosen, where)
    return resolved


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _queue(logical_id: str, resource: Mapping[str, Any], resolver: Resolver) -> QueueSpec:
    raw = resource.get("Properties") or {}
    props = _props(raw, _QUEUE_KEYS, resolver, f"{logical_id}.Properties")
    redrive = raw.get("RedrivePolicy") or {}
    dlq_id = None
    max_receives = None
    if redrive:
        dlq_id = _queue_id(redrive.get("deadLetterTargetArn"), f"{logical_id}.RedrivePolicy")
        max_receives = int(redrive.get("maxReceiveCount", 1))
    return QueueSpec(
        logical_id=logical_id,
        queue_name=local_queue_name(logical_id, props),
        fifo=as_bool(props.get("FifoQueue", False)),
        content_based_dedup=as_bool(props.get("ContentBasedDeduplication", False)),
        visibility_timeout=int(props.get("VisibilityTimeout", 30)),
        dlq_id=dlq_id,
        max_receives=max_receives,
    )


def _queue_id(raw_arn: Any, where: str) -> str:
    """The logical id of a queue given as `!GetAtt X.Arn` (the only form a local runner can follow)."""
    if isinstance(raw_arn, Mapping) and "Fn::GetAtt" in raw_arn:
        target = raw_arn["Fn::GetAtt"]
        return str(target[0]) if isinstance(target, list) else str(target).partition(".")[0]
    raise TemplateError(f"{where}: name the queue with !GetAtt <Queue>.Arn, got {raw_arn!r}")


def _http_authorizers(
    resources: Mapping[str, Mapping[str, Any]], resolver: Resolver, functions: Mapping[str, FunctionSpec]
) -> dict[str, tuple[str | None, dict[str, HttpAuthorizerSpec]]]:
    """api logical id → (default authorizer name, authorizers by name)."""
    result: dict[str, tuple[str | None, dict[str, HttpAuthorizerSpec]]] = {IMPLICIT_HTTP_API: (None, {})}
    for api_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::HttpApi":
            continue
        auth = resolver.resolve((resource.get("Properties") or {}).get("Auth") or {}, f"{api_id}.Auth")
        authorizers = {}
        for name, spec in (auth.get("Authorizers") or {}).items():
            where = f"{api_id}.Auth.Authorizers.{name}"
            if "JwtConfiguration" in spec:
                raise TemplateError(f"{where}: JWT authorizers are not supported by the local runner")
            if str(spec.get("AuthorizerPayloadFormatVersion", "2.0")) != "2.0":
                raise TemplateError(f"{where}: only AuthorizerPayloadFormatVersion 2.0 runs locally")
            identity = spec.get("Identity") or {}
            authorizers[name] = HttpAuthorizerSpec(
                name=name,
                function_id=_function_of(spec.get("FunctionArn"), functions, where),
                simple_responses=as_bool(spec.get("EnableSimpleResponses", False)),
                identity_headers=tuple(str(h).lower() for h in identity.get("Headers") or ()),
                identity_query=tuple(str(q) for q in identity.get("QueryStrings") or ()),
            )
        default = auth.get("DefaultAuthorizer")
        if default is not None and default not in authorizers:
            raise TemplateError(f"{api_id}.Auth.DefaultAuthorizer: no authorizer named {default}")
        result[api_id] = (default, authorizers)
    return result


def _function_of(arn: Any, functions: Mapping[str, FunctionSpec], where: str) -> str:
    function_id = function_id_from_arn(str(arn)) if arn else None
    if function_id is None or function_id not in functions:
        raise TemplateError(f"{where}: {arn!r} is not a function of this template")
    return function_id


def _http_route(
    function_id: str,
    props: Mapping[str, Any],
    raw_props: Mapping[str, Any],
    authorizers: Mapping[str, tuple[str | None, dict[str, HttpAuthorizerSpec]]],
    where: str,
) -> HttpRouteSpec:
    if str(props.get("PayloadFormatVersion", "2.0")) != "2.0":
        raise TemplateError(f"{where}: only PayloadFormatVersion 2.0 runs locally")
    api_ref = raw_props.get("ApiId")
    api_id = str(api_ref["Ref"]) if isinstance(api_ref, Mapping) and "Ref" in api_ref else IMPLICIT_HTTP_API
    if api_id not in authorizers:
        raise TemplateError(f"{where}: ApiId must be !Ref to an AWS::Serverless::HttpApi")
    default_name, by_name = authorizers[api_id]
    path = props.get("Path")
    method = str(props.get("Method", "ANY")).upper()
    if path is None:
        path = "$default"  # SAM: an HttpApi event without Path and Method is the catch-all route
    elif not str(path).startswith("/"):
        raise TemplateError(f"{where}: Path must start with /")
    wanted = (props.get("Auth") or {}).get("Authorizer", default_name)
    authorizer = None
    if wanted not in (None, "NONE"):
        if wanted not in by_name:
            raise TemplateError(f"{where}: no authorizer named {wanted} on {api_id}")
        authorizer = by_name[wanted]
    method = "ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method
    return HttpRouteSpec(api_id, method, str(path), function_id, authorizer)


def _schedule(
    function_id: str, event_name: str, kind: str, props: Mapping[str, Any], where: str
) -> ScheduleSpec:
    expression = str(props.get("ScheduleExpression" if kind == "ScheduleV2" else "Schedule", "")).strip()
    match = _RATE.match(expression)
    if match is None:
        raise TemplateError(
            f"{where}: {expression!r} cannot run locally; the local runner supports rate(N minute(s)|"
            "hour(s)|day(s)) only (cron and at expressions are refused rather than approximated)"
        )
    count, unit = int(match.group(1)), match.group(2).rstrip("s")
    if count < 1:
        raise TemplateError(f"{where}: a rate must be at least 1 {unit}")
    if kind == "ScheduleV2":
        enabled = str(props.get("State", "ENABLED")).upper() == "ENABLED"
    else:
        enabled = as_bool(props.get("Enabled", True))
    raw_input = props.get("Input")
    return ScheduleSpec(
        name=f"{function_id}.{event_name}",
        function_id=function_id,
        period_seconds=count * _UNIT_SECONDS[unit],
        input=None if raw_input is None else str(raw_input),
        enabled=enabled,
        scheduler_v2=kind == "ScheduleV2",
    )


def _subscription(
    function_id: str,
    event_name: str,
    props: Mapping[str, Any],
    raw_props: Mapping[str, Any],
    queues: Mapping[str, QueueSpec],
    where: str,
) -> QueueSubscriptionSpec:
    queue_id = _queue_id(raw_props.get("Queue"), f"{where}.Queue")
    if queue_id not in queues:
        raise TemplateError(f"{where}.Queue: {queue_id} is not an AWS::SQS::Queue of this template")
    batch_size = int(props.get("BatchSize", 10))
    if queues[queue_id].fifo and batch_size > 10:
        raise TemplateError(f"{where}: FIFO queues take BatchSize 1..10")
    return QueueSubscriptionSpec(
        name=f"{function_id}.{event_name}",
        function_id=function_id,
        queue_id=queue_id,
        batch_size=batch_size,
        report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or ()),
        batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
        enabled=as_bool(props.get("Enabled", True)),
    )


def _websocket_api(
    resources: Mapping[str, Mapping[str, Any]], resolver: Resolver, functions: Mapping[str, FunctionSpec]
) -> WebSocketApiSpec | None:
    def of_type(kind: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: _props(r.get("Properties"), _WEBSOCKET_KEYS, resolver, f"{logical_id}.Properties")
            for logical_id, r in resources.items()
            if r.get("Type") == kind
        }

    apis = {
        k: p for k, p in of_type("AWS::ApiGatewayV2::Api").items() if p.get("ProtocolType") == "WEBSOCKET"
    }
    if not apis:
        return None
    if len(apis) > 1:
        raise TemplateError(f"the local runner serves one WebSocket API, the template has {sorted(apis)}")
    (api_id, api), *_ = apis.items()
    integrations = {
        logical_id: _function_of(p.get("IntegrationUri"), functions, f"{logical_id}.IntegrationUri")
        for logical_id, p in of_type("AWS::ApiGatewayV2::Integration").items()
        if p.get("ApiId") == api_id
    }
    authorizers = {
        logical_id: WebSocketAuthorizerSpec(
            name=logical_id,
            function_id=_function_of(p.get("AuthorizerUri"), functions, f"{logical_id}.AuthorizerUri"),
            identity_sources=tuple(str(s) for s in p.get("IdentitySource") or ()),
        )
        for logical_id, p in of_type("AWS::ApiGatewayV2::Authorizer").items()
        if p.get("ApiId") == api_id
    }
    routes: dict[str, WebSocketRouteSpec] = {}
    for logical_id, p in of_type("AWS::ApiGatewayV2::Route").items():
        if p.get("ApiId") != api_id:
            continue
        target = str(p.get("Target", ""))
        integration = target.removeprefix("integrations/")
        if integration not in integrations:
            raise TemplateError(f"{logical_id}.Target: {target!r} is not integrations/<Integration>")
        authorizer = None
        if p.get("AuthorizationType") == "CUSTOM":
            authorizer = authorizers.get(str(p.get("AuthorizerId")))
            if authorizer is None:
                raise TemplateError(f"{logical_id}.AuthorizerId: not an authorizer of {api_id}")
        route_key = str(p["RouteKey"])
        routes[route_key] = WebSocketRouteSpec(
            route_key=route_key,
            function_id=integrations[integration],
            authorizer=authorizer,
            two_way="RouteResponseSelectionExpression" in p,
        )
    return WebSocketApiSpec(
        logical_id=api_id,
        route_selection_expression=str(api.get("RouteSelectionExpression", "$request.body.action")),
        routes=routes,
    )
