"""Lambda handler run every minute (EventBridge Scheduler): move scheduled messages that fall due into the
delay queue (cost proportional to what is due: wagate.services.scheduler), emit the notifications
nobody emitted after their change was stored (wagate.services.outbox: a writer killed mid-way), fold the
insights journal into the rollup rows (wagate.store.insights), expire sessions nobody linked in time
(wagate.services.session_expiry), tell CRMs once about connected sessions whose connector died
(wagate.services.connector_loss), and
report the connector shards no live connector holds (metric ShardsWithoutOwner, alarmed on) and the
sessions by status (`wagate_sessions`, wagate/meters.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from wagate import meters
from wagate.compose import services
from wagate.observability import flushes_metrics, logger, metrics, traced
from wagate.services import scheduler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@flushes_metrics
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    root = services()
    d = root.ports
    report = scheduler.sweep(d.table, d.queues, d.clock)
    drained = root.events.outbox.sweep()
    folded = root.insights.fold()  # the counters of the last minute's changes, into the rollups
    expired = root.session_expiry.sweep()  # sessions nobody linked in time free their slot
    losses = root.connector_loss.sweep()  # `session_status` connector_lost, once per loss
    connectors = root.sessions.connectors()
    ownerless = int(connectors["shards"]) - int(connectors["shards_held"])
    metrics.add_metric(name="ShardsWithoutOwner", unit=MetricUnit.Count, value=ownerless)
    # The gauges `wagate serve` reads at scrape time, as EMF once a minute (alarms: sessions down).
    meters.gauge("wagate_shards_without_owner", ownerless)
    for status, count in root.sessions.counts_by_status().items():
        meters.gauge("wagate_sessions", count, status=status)
    logger.info(
        "sweep done",
        extra={
            "minutes": report.minutes,
            "dispatched": report.dispatched,
            "outbox_drained": drained,
            "insights_folded": folded,
            "sessions_expired": expired,
            "connectors_lost": losses.lost,
            "connectors_back": losses.back,
            "shards_without_owner": ownerless,
        },
    )
    return {
        "minutes": report.minutes,
        "partitions": report.partitions,
        "dispatched": report.dispatched,
        "outbox_drained": drained,
        "insights_folded": folded,
        "sessions_expired": expired,
        "connectors_lost": losses.lost,
        "connectors_back": losses.back,
        "shards_without_owner": ownerless,
    }
