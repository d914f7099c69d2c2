"""The connector's CloudWatch metrics: what it runs, as EMF lines on stdout (awslogs ships them).

`ConnectorSessions` (sessions this task runs) once per `metrics_seconds` from every task: its Average
over a minute is sessions per task, which the ECS service's target-tracking policy scales on
(template.yaml, ConnectorSessionsScaling). Dimension `service=wagate-connector`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

log = logging.getLogger("wagate.connector.metrics")

NAMESPACE = "wagate"
SERVICE = "wagate-connector"


class SessionGauge:
    """Reports `count()` every `every` seconds until stopped (not shared with the Lambdas' metric set)."""

    def __init__(self, count: Callable[[], int], every: float) -> None:
        self.count = count
        self.every = every
        self._metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        self._task: asyncio.Task[None] | None = None

    def report(self) -> int:
        sessions = self.count()
        self._metrics.add_metric(name="ConnectorSessions", unit=MetricUnit.Count, value=sessions)
        self._metrics.flush_metrics()
        return sessions

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="session gauge")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                self.report()
            except Exception:  # a metric must never take the connector down
                log.exception("could not report ConnectorSessions")
            await asyncio.sleep(self.every)
