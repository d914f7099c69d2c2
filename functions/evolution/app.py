"""Lambda handler of the Evolution API v2 compatibility surface (wagate.evolution): same principal, services
and tables as the API function, Evolution's routes and error shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from wagate.evolution.resolver import build_resolver
from wagate.observability import flushes_metrics, logger, metrics, traced

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = build_resolver()


@logger.inject_lambda_context(clear_state=True, correlation_id_path="requestContext.requestId")
@flushes_metrics
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    tenant = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda", {}).get("tenant_id")
    # Per thread: `wagate serve` runs concurrent invocations in one process, so a global key would leak.
    logger.thread_safe_clear_keys()
    if tenant:
        logger.thread_safe_append_keys(tenant_id=tenant)
    metrics.add_metric(name="EvolutionRequests", unit=MetricUnit.Count, value=1)
    return app.resolve(event, context)
