"""Insights read latency for a tenant with 1,000,000 messages over 90 days, through the API handler.

The rollup rows are written directly (not by sending 1,000,000 messages through the pipeline, which would
take hours here): a synthetic history of 1,000,000 outbound messages over 90 days on 5 numbers and 10
templates (delivered 95 %, read 70 %, replied 20 %, failed 3 % over four reasons, latencies drawn from
log-normal spreads), each message's counters added to the rows the journal's folder adds them to
(`store/insights.row_adds`: day and hour × tenant, number and template), summed and put once per row:
the rows a real history would leave. Connection periods: each number drops about twice a day.
Then requests through the real API function (authorizer included), on the SQLite table of `wagate serve`:

  (a) GET /v1/insights?from=<90 days ago>&to=now (daily series, whole tenant)  — the figure with the target
  (b) the same per hour over the last 7 days; (c) one number over 90 days; (d) /v1/insights/templates;
  (e) (a) in Madrid's days (`tz=Europe/Madrid`: each local day cut from a UTC day row and its edge hour
  rows) — the second figure with the target; (f) the same in Mexico City's (UTC-6: six edge hours a day);
  (g) the design not taken, for comparison: (e)'s counters by reading all 2,160 hour rows of the 90 days
  and summing them per Madrid day (in-process, the service's row reading only: no API, no report)

Run: `python bench/insights_read.py [--messages 1000000] [--requests 200]`
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import math
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "layers" / "core"))

from local.template import load_template  # noqa: E402
from tests.support.aws_template import TEMPLATE  # noqa: E402
from tests.support.lambdas import ApiCaller, load_function  # noqa: E402
from wagate import compose, wiring  # noqa: E402
from wagate.domain import insights as ins  # noqa: E402
from wagate.domain.sessions import Provider  # noqa: E402
from wagate.ports import Put  # noqa: E402
from wagate.services import tenants  # noqa: E402
from wagate.settings import Settings  # noqa: E402
from wagate.store import keys  # noqa: E402
from wagate.store.insights import Counted, merge_counts, row_adds  # noqa: E402

DAY = 86_400
TARGET_MS = 100.0
REASONS = ("not_on_whatsapp", "timeout", "rate_limited", "blocked")


def synthetic_rows(
    tenant_id: str, sessions: list[str], messages: int, end: float, seed: int
) -> dict[tuple[str, str], dict[str, int | float]]:
    """Every rollup row of the history, summed: {(pk, sk): counters}."""
    rng = random.Random(seed)
    rows: dict[tuple[str, str], dict[str, int | float]] = defaultdict(dict)
    start = end - 90 * DAY
    templates = [f"template_{n}" for n in range(10)]
    for n in range(messages):
        sent_at = start + rng.random() * 90 * DAY
        counters: dict[str, int] = {ins.SENT: 1}
        template = templates[n % 10] if n % 3 else None
        if template:
            counters[ins.TEMPLATE_SENT + template] = 1
        roll = rng.random()
        if roll < 0.03:
            counters = {ins.FAILED: 1, ins.FAILED_BY + REASONS[n % 4]: 1}
        elif roll < 0.98:
            counters[ins.DELIVERED] = 1
            counters[f"{ins.TO_DELIVERED}{ins.latency_bucket(rng.lognormvariate(1.5, 1.2))}"] = 1
            if rng.random() < 0.72:
                counters[ins.READ] = 1
                counters[f"{ins.TO_READ}{ins.latency_bucket(rng.lognormvariate(5.5, 1.8))}"] = 1
                if rng.random() < 0.28:
                    counters[ins.REPLIED] = 1
                    counters[f"{ins.FIRST_REPLY}{ins.latency_bucket(rng.lognormvariate(6, 1.5))}"] = 1
        counted = Counted(sent_at, counters, sessions[n % len(sessions)], template)
        for key, added in row_adds(tenant_id, counted).items():
            merge_counts(rows[key], added)
    return rows


def every_hour_row(insights: Any, tenant_id: str, end: float, runs: int) -> tuple[list[float], list[float]]:
    """(g): read the 90 days' hour rows of the tenant's scope and sum them into Madrid days."""
    madrid = ZoneInfo("Europe/Madrid")
    first = ins.bucket_of(end - 90 * DAY, ins.Granularity.HOUR)
    last = ins.bucket_of(end, ins.Granularity.HOUR)
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        hours = insights.rows.buckets(tenant_id, ins.Granularity.HOUR, keys.INSIGHTS_ALL, first, last)
        days: dict[str, dict[str, float]] = {}
        for label, counters in hours.items():
            at = dt.datetime.strptime(label, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)
            ins.merge(days.setdefault(at.astimezone(madrid).date().isoformat(), {}), counters)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    assert len(hours) >= 2000, len(hours)
    return wall, cpu


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(backend="local", data_dir=Path(tmp) / "data")
        deps = wiring.build(settings, load_template(TEMPLATE).queue_definitions())
        wiring.install(deps)
        services = compose.services(deps)
        tenant, key = tenants.create_tenant(deps.table, deps.clock, "Busy agency")
        sessions = [
            services.sessions.create(
                tenant.id, name=f"Number {n}", provider=Provider.SANDBOX, phone=None, metadata={}
            ).id
            for n in range(5)
        ]
        end = time.time()
        began = time.perf_counter()
        rows = synthetic_rows(tenant.id, sessions, args.messages, end, seed=7)
        table = deps.table  # the raw SQLite table: rollup rows hold no content to seal
        written = list(rows.items())
        for start in range(0, len(written), 100):
            chunk = written[start : start + 100]
            table.transact_write([Put({"pk": pk, "sk": sk, **counters}) for (pk, sk), counters in chunk])
        insights = services.insights
        for session_id in sessions:  # connected periods: drops about twice a day
            at = end - 90 * DAY
            while at < end:
                up = random.uniform(6, 18) * 3600
                table.put(insights.rows.period_start(tenant.id, session_id, at).item)
                if at + up < end:
                    ended = insights.rows.period_end(tenant.id, session_id, at, at + up)
                    table.update(ended.pk, ended.sk, set=dict(ended.set))
                at += up + random.uniform(60, 900)
        count = len(rows)
        del rows, written  # a server does not hold the history: its objects would slow every GC pass
        gc.collect()
        print(
            f"history: {args.messages:,} messages → {count:,} rollup rows, "
            f"written in {time.perf_counter() - began:.1f} s"
        )

        call = ApiCaller(load_function("api"), load_function("authorizer"))
        day90 = {"from": end - 90 * DAY, "to": end}
        cases = {
            "a: 90 days, daily, whole tenant": ("/v1/insights", day90),
            "b: 7 days, hourly, whole tenant": (
                "/v1/insights",
                {"from": end - 7 * DAY, "to": end, "granularity": "hour"},
            ),
            "c: 90 days, daily, one number": ("/v1/insights", {**day90, "session_id": sessions[0]}),
            "d: 90 days, per template": ("/v1/insights/templates", day90),
            "e: 90 days, daily, tz=Europe/Madrid": ("/v1/insights", {**day90, "tz": "Europe/Madrid"}),
            "f: 90 days, daily, tz=America/Mexico_City": (
                "/v1/insights",
                {**day90, "tz": "America/Mexico_City"},
            ),
        }
        checked: dict[str, Any] = {}
        figures: dict[str, list[float]] = {}
        for name, (path, query) in cases.items():
            qs = urllib.parse.urlencode(query)
            samples, cpu = [], []
            for _ in range(5):
                call("GET", path, key, query=qs)  # warm
            for _ in range(args.requests):
                t0, c0 = time.perf_counter(), time.process_time()
                status, body, _ = call("GET", path, key, query=qs)
                samples.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                assert status == 200, body
            checked[name] = body
            figures[name] = samples
            print(
                f"{name}: wall p50 {statistics.median(samples):.1f} ms, "
                f"p99 {percentile(samples, 0.99):.1f} ms; "
                f"CPU p50 {statistics.median(cpu):.1f} ms, p99 {percentile(cpu, 0.99):.1f} ms"
            )
        totals = checked["a: 90 days, daily, whole tenant"]["totals"]
        print(
            f"(a) answered sent={totals['sent']:,} delivered={totals['delivered']:,} read={totals['read']:,} "
            f"p50 to read={totals['time_to_read']['p50']} s"
        )
        assert totals["sent"] + totals["failed"] >= args.messages * 0.99
        g_wall, g_cpu = every_hour_row(insights, tenant.id, end, max(20, args.requests // 10))
        print(
            f"g: (e) from every hour row, rows only: wall p50 {statistics.median(g_wall):.1f} ms, "
            f"p99 {percentile(g_wall, 0.99):.1f} ms; CPU p50 {statistics.median(g_cpu):.1f} ms"
        )
        madrid = checked["e: 90 days, daily, tz=Europe/Madrid"]
        assert madrid["tz"] == "Europe/Madrid" and len(madrid["series"]) in (90, 91), madrid["tz"]
        # The local days hold what the UTC days hold, but for the hours before the first local midnight
        # and after the last one (the ranges differ by the widening to whole days)
        print(f"(e) answered sent={madrid['totals']['sent']:,} over {len(madrid['series'])} Madrid days")
        print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        p99 = percentile(figures["a: 90 days, daily, whole tenant"], 0.99)
        p99_tz = percentile(figures["e: 90 days, daily, tz=Europe/Madrid"], 0.99)
        print(f"insights_read_p99 (a): {p99:.1f} ms (target < {TARGET_MS:.0f} ms)")
        print(f"insights_read_tz_p99: {p99_tz:.1f} ms (target < {TARGET_MS:.0f} ms)")


if __name__ == "__main__":
    main()
