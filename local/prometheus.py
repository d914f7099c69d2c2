"""`wagate serve`'s Prometheus `/metrics`: the counters of wagate/meters.py kept in memory, plus gauges
read at scrape time (sessions by status, every queue's depth and oldest message's age, shards no live
connector holds), behind the operator token WAGATE_METRICS_TOKEN (`Authorization: Bearer <token>`).

One-box mode only: every function, the connector and this endpoint share one process, so one registry
sees every count. On AWS the same names are CloudWatch EMF metrics (wagate/meters.py).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector

from local.asgi import Receive, Scope, Send, send_response
from local.http_events import HttpResponse
from wagate import meters
from wagate.ports import Queues
from wagate.services.sessions import SessionService

log = logging.getLogger("wagate.local.metrics")

METRICS_PATH = "/metrics"


class PrometheusSink:
    """The counters, in a registry of their own (no process-global state between runners and tests)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._counters = {
            name: Counter(name.removesuffix("_total"), text, labels, registry=registry)
            for name, (text, labels) in meters.COUNTERS.items()
        }

    def count(self, name: str, value: float, labels: dict[str, str]) -> None:
        counter = self._counters[name]
        (counter.labels(**labels) if labels else counter).inc(value)


class Gauges(Collector):
    """Read when scraped: cheap reads only (counters rows, one COUNT and one MIN per queue)."""

    def __init__(self, sessions: Callable[[], SessionService], queues: Queues, queue_names: Sequence[str]):
        self._sessions = sessions
        self._queues = queues
        self._queue_names = list(queue_names)

    def collect(self) -> Iterator[Metric]:
        sessions = self._sessions()
        by_status = GaugeMetricFamily(
            "wagate_sessions", meters.GAUGES["wagate_sessions"][0], labels=["status"]
        )
        for status, count in sorted(sessions.counts_by_status().items()):
            by_status.add_metric([status], count)
        yield by_status
        connectors = sessions.connectors()
        ownerless = GaugeMetricFamily(
            "wagate_shards_without_owner", meters.GAUGES["wagate_shards_without_owner"][0]
        )
        ownerless.add_metric([], int(connectors["shards"]) - int(connectors["shards_held"]))
        yield ownerless
        depth = GaugeMetricFamily(
            "wagate_queue_messages", meters.GAUGES["wagate_queue_messages"][0], labels=["queue"]
        )
        age = GaugeMetricFamily(
            "wagate_queue_oldest_age_seconds",
            meters.GAUGES["wagate_queue_oldest_age_seconds"][0],
            labels=["queue"],
        )
        for name in self._queue_names:
            queue = self._queues.get(name)
            depth.add_metric([name], queue.approximate_depth())
            oldest = getattr(queue, "oldest_age_seconds", None)  # the SQLite queue (maybe sealed around)
            if callable(oldest):
                age.add_metric([name], round(float(oldest()), 3))
        yield depth
        yield age


class MetricsEndpoint:
    """GET /metrics. 401 without the token (one error shape), 405 for anything but GET/HEAD."""

    def __init__(self, token: str, registry: CollectorRegistry) -> None:
        self._token = token.encode()
        self._registry = registry

    @classmethod
    def build(
        cls,
        token: str,
        sessions: Callable[[], SessionService],
        queues: Queues,
        queue_names: Sequence[str],
    ) -> tuple[MetricsEndpoint, PrometheusSink]:
        # `*_created` series are noise for counters that start with the process.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        registry = CollectorRegistry(auto_describe=False)
        sink = PrometheusSink(registry)
        registry.register(Gauges(sessions, queues, queue_names))
        return cls(token, registry), sink

    def claims(self, scope: Scope) -> bool:
        return bool(scope["path"] == METRICS_PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await send_response(send, _error(405, "method_not_allowed", "GET /metrics only"))
            return
        if not self._authorized(scope):
            response = _error(
                401, "invalid_metrics_token", "send 'Authorization: Bearer <WAGATE_METRICS_TOKEN>'"
            )
            response.headers.append(("www-authenticate", 'Bearer realm="wagate metrics"'))
            await send_response(send, response)
            return
        try:
            body = generate_latest(self._registry)
        except Exception:  # a gauge's read failed (the table is busy): say so, never a stack trace
            log.exception("metrics could not be collected")
            await send_response(send, _error(503, "metrics_unavailable", "try the scrape again"))
            return
        await send_response(
            send, HttpResponse(200, [("content-type", CONTENT_TYPE_PLAIN_0_0_4)], body), head=method == "HEAD"
        )

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers") or []:
            if name.lower() == b"authorization" and value[:7].lower() == b"bearer ":
                return hmac.compare_digest(value[7:].strip(), self._token)
        return False


def _error(status: int, code: str, message: str) -> HttpResponse:
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    return HttpResponse(status, [("content-type", "application/json")], body)
