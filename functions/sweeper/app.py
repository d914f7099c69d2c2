"""Lambda handler run every minute (EventBridge Scheduler): move scheduled messages that fall due into the
delay queue. Cost is proportional to what is due (see wagate.services.scheduler)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wagate.observability import logger, traced
from wagate.services import scheduler
from wagate.wiring import deps

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    d = deps()
    report = scheduler.sweep(d.table, d.queues, d.clock)
    logger.info("sweep done", extra={"minutes": report.minutes, "dispatched": report.dispatched})
    return {"minutes": report.minutes, "partitions": report.partitions, "dispatched": report.dispatched}
