"""The typed model of what the local runner reads from template.yaml (see `template.load_template`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from local.intrinsics import queue_arn

if TYPE_CHECKING:
    from wagate.adapters.local.sqlite_queue import QueueDefinition

LAMBDA_DEFAULT_TIMEOUT = 3
LAMBDA_DEFAULT_MEMORY = 128


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
    stage: str = "local"  # its AWS::ApiGatewayV2::Stage's StageName, shown in every event


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
    # ScalingConfig.MaximumConcurrency: batches Lambda may process at once (locally: that many pollers).
    max_concurrency: int = 1


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
