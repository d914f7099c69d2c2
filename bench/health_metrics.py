"""Benchmark of what account health and metrics cost: a number's risk read (what the connector pays at each
pacing refresh and the Cloud API consumer per send), and a Prometheus scrape of `wagate serve`'s /metrics.

On the local backend (SQLite table and queues in a temp dir, content sealing on, as `wagate serve` builds
them): one tenant with `--sessions` numbers, each with `--days` days of health rows and first-contact
counters; then `HealthService.risk()` timed over every number, and `generate_latest()` of the metrics
registry (its gauges read the session counters and every queue's depth and oldest age) timed `--scrapes`
times. Prints p50/p99.
Run:
    python bench/health_metrics.py [--sessions 200] [--days 15] [--scrapes 50]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # as `wagate serve`: Prometheus, not EMF
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "core"))

from prometheus_client.exposition import generate_latest  # noqa: E402

from local.prometheus import MetricsEndpoint  # noqa: E402
from local.template import load_template  # noqa: E402
from tests.support.aws_template import TEMPLATE  # noqa: E402
from wagate import meters, wiring  # noqa: E402
from wagate.compose import services  # noqa: E402
from wagate.domain.sessions import Provider  # noqa: E402
from wagate.services import tenants  # noqa: E402
from wagate.services.health import HealthService  # noqa: E402
from wagate.settings import Settings  # noqa: E402
from wagate.store import keys  # noqa: E402
from wagate.store.health import HealthRepository, days  # noqa: E402

TARGET_RISK_P99_MS = 20.0
TARGET_SCRAPE_P99_MS = 100.0


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--days", type=int, default=15)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(data_dir=Path(data), max_sessions_per_tenant=args.sessions + 1)
        spec = load_template(TEMPLATE)
        deps = wiring.build(settings, spec.queue_definitions())
        wiring.install(deps)
        root = services(deps)
        tenant_id = tenants.create_tenant(deps.table, deps.clock, "Bench")[0].id
        now = deps.clock.now()
        policy = settings.health
        ids = []
        for n in range(args.sessions):
            session = root.sessions.create(
                tenant_id, name=f"n{n}", provider=Provider.SANDBOX, phone=None, metadata={}
            )
            ids.append(session.id)
            for day_index, day in enumerate(days(now, args.days)):
                at = now - (args.days - 1 - day_index) * 86400
                counts = {"sent": 40 + n % 7, "failed": 3, "refused": 1, "replies": 9}
                deps.table.transact_write(
                    [HealthRepository.add(tenant_id, session.id, at, counts, keep_days=30)]
                )
                deps.table.update(*keys.first_contact_day(tenant_id, session.id, day), add={"count": 12})
        health = HealthService(deps.table, deps.clock, policy)
        risk_ms = []
        for session_id in ids:
            started = time.perf_counter()
            health.risk(tenant_id, session_id)
            risk_ms.append((time.perf_counter() - started) * 1000)
        endpoint, sink = MetricsEndpoint.build(
            "t", lambda: root.sessions, deps.queues, sorted(spec.queue_definitions())
        )
        meters.install(sink)
        for _ in range(1000):
            meters.count("wagate_messages_sent_total")
        scrape_ms = []
        for _ in range(args.scrapes):
            started = time.perf_counter()
            body = generate_latest(endpoint._registry)
            scrape_ms.append((time.perf_counter() - started) * 1000)
        print(f"numbers: {args.sessions}, days of rows each: {args.days}, window: {policy.window_days} days")
        print(f"risk read: p50 {percentile(risk_ms, 0.5):.2f} ms, p99 {percentile(risk_ms, 0.99):.2f} ms")
        print(f"/metrics body: {len(body)} bytes")
        print(f"scrape: p50 {percentile(scrape_ms, 0.5):.2f} ms, p99 {percentile(scrape_ms, 0.99):.2f} ms")
        scrape_p99, risk_p99 = percentile(scrape_ms, 0.99), percentile(risk_ms, 0.99)
        print(f"metrics_scrape_p99: {scrape_p99:.2f} ms (target < {TARGET_SCRAPE_P99_MS:.0f} ms)")
        print(f"health_risk_read_p99: {risk_p99:.2f} ms (target < {TARGET_RISK_P99_MS:.0f} ms)")


if __name__ == "__main__":
    main()
