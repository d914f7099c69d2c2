"""Reads template.yaml into the typed model the local runner needs (functions, routes, schedules, queues).

Only what the runner executes is modelled. Anything it cannot honour faithfully (cron schedules, JWT
authorizers, payload format 1.0, inline code) raises TemplateError at load time rather than running
differently from AWS; event types it does not emulate are listed in `Template.skipped`. `Fn::ForEach`
is expanded first, and resources whose `Condition` is false are left out, as CloudFormation does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

from local.intrinsics import Resolver, TemplateError, as_bool, local_queue_name
from local.language_extensions import expand_for_each
from local.template_apis import http_authorizers, http_route, websocket_api
from local.template_model import (
    LAMBDA_DEFAULT_MEMORY,
    LAMBDA_DEFAULT_TIMEOUT,
    FunctionSpec,
    HttpRouteSpec,
    QueueSpec,
    QueueSubscriptionSpec,
    ScheduleSpec,
    Template,
)

__all__ = ["Template", "TemplateError", "load_template"]

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# Only these properties are resolved: the rest (policies, tags...) may use intrinsics that mean
# nothing locally, and must not stop the runner.
_FUNCTION_KEYS = frozenset(
    {"CodeUri", "Handler", "Timeout", "MemorySize", "Environment", "Layers", "PackageType", "InlineCode"}
)
_QUEUE_KEYS = frozenset({"QueueName", "FifoQueue", "ContentBasedDeduplication", "VisibilityTimeout"})


def load_template(path: Path | str, parameters: Mapping[str, str] | None = None) -> Template:
    """Parse template.yaml. `parameters` override parameter Defaults. Raises TemplateError."""
    path = Path(path).resolve()
    try:
        document = cfn_yaml.load(str(path))
    except Exception as exc:  # cfn-lint raises several unrelated types for unreadable YAML
        raise TemplateError(f"{path}: cannot be parsed: {exc}") from exc
    declared = document.get("Parameters") or {}
    try:
        expanded: dict[str, Mapping[str, Any]] = expand_for_each(
            document.get("Resources") or {}, declared, parameters
        )
    except ValueError as exc:
        raise TemplateError(f"{path}: {exc}") from exc
    conditions = document.get("Conditions") or {}
    resolver = Resolver(declared, expanded, parameters, conditions)
    resources = {
        logical_id: resource
        for logical_id, resource in expanded.items()
        if "Condition" not in resource or resolver.condition(str(resource["Condition"]), logical_id)
    }
    resolver = Resolver(declared, resources, parameters, conditions)
    base = path.parent
    global_function = (document.get("Globals") or {}).get("Function")
    globals_ = _props(global_function, _FUNCTION_KEYS, resolver, "Globals.Function")

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
    authorizers = http_authorizers(resources, resolver, functions)

    routes: list[HttpRouteSpec] = []
    schedules: list[ScheduleSpec] = []
    subscriptions: list[QueueSubscriptionSpec] = []
    skipped: list[str] = []
    for function_id, events in raw_events.items():
        for event_name, event in events.items():
            where = f"{function_id}.Events.{event_name}"
            kind = str(event.get("Type"))
            raw_props = event.get("Properties") or {}
            if kind not in ("HttpApi", "ScheduleV2", "Schedule", "SQS"):
                skipped.append(f"{where} ({kind})")
                continue
            props = resolver.resolve(raw_props, where)
            if kind == "HttpApi":
                routes.append(http_route(function_id, props, raw_props, authorizers, where))
            elif kind == "SQS":
                subscriptions.append(
                    _subscription(function_id, event_name, props, raw_props, queues, resolver, where)
                )
            else:
                schedules.append(_schedule(function_id, event_name, kind, props, where))

    return Template(
        path=path,
        functions=functions,
        http_routes=tuple(routes),
        websocket_api=websocket_api(resources, resolver, functions),
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
        where = f"{logical_id}.RedrivePolicy"
        dlq_id = _queue_id(redrive.get("deadLetterTargetArn"), resolver, where)
        max_receives = int(resolver.resolve(redrive.get("maxReceiveCount", 1), where))
    return QueueSpec(
        logical_id=logical_id,
        queue_name=local_queue_name(logical_id, props),
        fifo=as_bool(props.get("FifoQueue", False)),
        content_based_dedup=as_bool(props.get("ContentBasedDeduplication", False)),
        visibility_timeout=int(props.get("VisibilityTimeout", 30)),
        dlq_id=dlq_id,
        max_receives=max_receives,
    )


def _queue_id(raw_arn: Any, resolver: Resolver, where: str) -> str:
    """The logical id of a queue given as `!GetAtt X.Arn` (the only form a local runner can follow)."""
    if isinstance(raw_arn, Mapping) and "Fn::GetAtt" in raw_arn:
        target = raw_arn["Fn::GetAtt"]
        if isinstance(target, list) and target:
            return str(resolver.resolve(target[0], where))  # `[!Sub "Dlq${Shard}", Arn]` too
        return str(target).partition(".")[0]
    raise TemplateError(f"{where}: name the queue with !GetAtt <Queue>.Arn, got {raw_arn!r}")


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
    resolver: Resolver,
    where: str,
) -> QueueSubscriptionSpec:
    queue_id = _queue_id(raw_props.get("Queue"), resolver, f"{where}.Queue")
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
        max_concurrency=int((props.get("ScalingConfig") or {}).get("MaximumConcurrency", 1)),
    )
