"""What wagate counts, under ONE set of names for both shapes: CloudWatch EMF on AWS, Prometheus locally.

    count("wagate_messages_failed_total", reason="recipient_restricted")

On AWS every count is an EMF record (namespace `wagate`; dimension `service`, and `service` + the
metric's labels) named exactly as Prometheus names it, so one name works in CloudWatch alarms and in
PromQL. `wagate serve` installs a sink (local/prometheus.py) that keeps the same counters in memory for
its `/metrics`; the gauges (sessions by status, queue depth and age, shards without a connector) are read
at scrape time there, and published by the sweeper every minute on AWS. The Lambda layer itself never
imports prometheus_client. Labels are low-cardinality on purpose (never a tenant or session id).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Protocol

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

NAMESPACE = "wagate"
SERVICE = "wagate"

# name → (help, labels). Counters end in `_total`, as Prometheus writes them.
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "wagate_session_status_changes_total": (
        "Changes of a session's status with their reason (each `session_status` webhook)",
        ("status", "reason"),
    ),
    "wagate_messages_sent_total": ("Messages WhatsApp (or Meta) accepted", ()),
    "wagate_messages_failed_total": ("Messages that ended failed, by reason", ("reason",)),
    "wagate_webhook_deliveries_total": (
        "CRM webhook attempts by outcome: delivered, retry (failed, tried again later), failed (gave up)",
        ("outcome",),
    ),
    "wagate_auth_failures_total": ("API requests refused for their credentials, by error code", ("code",)),
    "wagate_pacing_slowdowns_total": (
        "Times a number's pacing was slowed because its health risk rose, by level",
        ("level",),
    ),
}
# name → (help, labels): values read when asked (Prometheus scrape; the sweeper on AWS).
GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "wagate_sessions": ("Sessions by status", ("status",)),
    "wagate_queue_messages": ("Messages in a queue (visible, in flight or delayed)", ("queue",)),
    "wagate_queue_oldest_age_seconds": ("Age of the oldest message in a queue", ("queue",)),
    "wagate_shards_without_owner": ("Command shards no live connector holds", ()),
}


class Sink(Protocol):
    """Where counts go besides CloudWatch (the local Prometheus registry)."""

    def count(self, name: str, value: float, labels: dict[str, str]) -> None: ...


_sinks: list[Sink] = []


def install(sink: Sink) -> None:
    _sinks.append(sink)


def count(name: str, value: float = 1, **labels: str | None) -> None:
    """Adds `value` to counter `name` (one of COUNTERS, with exactly its labels). Never raises for a
    metric: a broken sink is not a reason to fail the work being counted."""
    known = COUNTERS.get(name)
    if known is None or set(labels) != set(known[1]):
        raise ValueError(f"{name} with labels {sorted(labels)} is not a declared counter")
    values = {k: str(v) if v is not None else "" for k, v in labels.items()}
    for sink in list(_sinks):
        sink.count(name, value, values)
    emf(name, value, MetricUnit.Count, values)


def emf(name: str, value: float, unit: MetricUnit, labels: dict[str, str], *, total: bool = True) -> None:
    """One EMF record, printed now: the metric under dimension `service` alone (what alarms watch) and,
    when it has labels, under `service` + its labels too (what dashboards break it down by); a gauge
    (`total=False`) only under the latter. Off where
    POWERTOOLS_METRICS_DISABLED is set (`wagate serve`, which has Prometheus instead)."""
    if is_metrics_disabled():
        return
    values = {k: v or "none" for k, v in labels.items()}
    dimensions = [["service", *values]]
    if values and total:  # a count also adds up over its labels; a gauge by status does not
        dimensions.insert(0, ["service"])
    record = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": dimensions,
                    "Metrics": [{"Name": name, "Unit": unit.value}],
                }
            ],
        },
        "service": SERVICE,
        **values,
        name: value,
    }
    sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def gauge(name: str, value: float, **labels: str) -> None:
    """A gauge's current value as EMF (AWS: the sweeper reports them every minute)."""
    known = GAUGES.get(name)
    if known is None or set(labels) != set(known[1]):
        raise ValueError(f"{name} with labels {sorted(labels)} is not a declared gauge")
    emf(name, value, MetricUnit.Count, dict(labels), total=False)
