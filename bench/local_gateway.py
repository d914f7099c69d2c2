"""Benchmark of `wagate serve`'s HTTP gateway: throughput on an open route, latency of an authenticated one.

Starts `serve` on a template (the product's by default) in a subprocess with a fresh data dir, creates a
tenant with `wagate admin create-tenant` for an API key (skipped with a note if that command fails), then
measures with httpx (async, 16 connections in all, a bounded number of requests):

  1. closed loop: req/s and p50/p99 of `GET <open-path>` (default /health), from `--clients` processes;
  2. open loop at a fixed rate (default 200 req/s): p50/p99 of `GET <auth-path>` with the API key, timed
     from each request's scheduled start, so a stall shows up as latency (no coordinated omission).

It also reads the server's CPU time per request (Linux /proc), because an httpx client costs more CPU per
request than the server does: on a small machine the client, not the server, sets the req/s ceiling.
Any route of any template can be measured: `--open-path`, `--auth-path`, `--template`. Run:
    .venv/bin/python bench/local_gateway.py [--requests 5000] [--rate 200] [--seconds 5] [--clients 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SERVE = (
    "import sys; from pathlib import Path; from local.runner import serve; "
    "sys.exit(serve(template=Path(sys.argv[1]), data_dir=Path(sys.argv[2]), port=0))"
)
Result = tuple[float, float, list[float], dict[int, int]]  # started, finished, latencies, statuses


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def create_api_key(data_dir: Path) -> str | None:
    command = [sys.executable, "-m", "local.cli", "admin", "--data-dir", str(data_dir)]
    command += ["create-tenant", "bench", "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=_clean_env())
    if done.returncode != 0:
        print(f"note: no API key ({done.stderr.strip().splitlines()[-1:] or 'create-tenant failed'})")
        return None
    key: str = json.loads(done.stdout)["api_key"]
    return key


def start_server(template: Path, data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with log.open("wb") as out:  # handler logs go to a file: a full pipe would stall the server
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(template), str(data_dir)],
            cwd=ROOT,
            stdout=out,
            stderr=out,
            env=_clean_env(),
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.strip().startswith("HTTP API"):
                return process, line.split()[-1]
        if process.poll() is not None:
            raise SystemExit(f"serve exited:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)
    process.kill()
    raise SystemExit("serve did not start in 30 s")


async def closed_loop(url: str, path: str, total: int, concurrency: int, start_at: float) -> Result:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30, trust_env=False) as client:
        warm = iter(range(100))
        remaining = iter(range(total))

        async def worker(requests: Iterator[int]) -> None:
            for _ in requests:
                started = time.perf_counter()
                response = await client.get(path)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] += 1

        await asyncio.gather(*(worker(warm) for _ in range(concurrency)))
        latencies.clear()
        statuses.clear()
        await asyncio.sleep(max(0.0, start_at - time.time()))  # every client process starts together
        began = time.time()
        await asyncio.gather(*(worker(remaining) for _ in range(concurrency)))
        return began, time.time(), latencies, dict(statuses)


def client_process(job: tuple[str, str, int, int, float]) -> Result:
    return asyncio.run(closed_loop(*job))


async def open_loop(
    url: str, path: str, rate: float, total: int, concurrency: int, headers: dict[str, str]
) -> tuple[list[float], Counter[int]]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30, trust_env=False) as client:
        began = time.perf_counter()

        async def one(index: int) -> None:
            scheduled = began + index / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            async with slots:
                response = await client.get(path, headers=headers)
            latencies.append(time.perf_counter() - scheduled)
            statuses[response.status_code] += 1

        await asyncio.gather(*(one(i) for i in range(total)))
    return latencies, statuses


def throughput(url: str, args: argparse.Namespace, server_pid: int) -> float:
    clients = max(1, args.clients)
    share = [args.requests // clients + (1 if i < args.requests % clients else 0) for i in range(clients)]
    start_at = time.time() + 2.0 + 0.5 * clients  # after every process has started and warmed up
    jobs = [(url, args.open_path, n, max(1, args.concurrency // clients), start_at) for n in share]
    cpu_before = cpu_seconds(server_pid)
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        results = pool.map(client_process, jobs)
    cpu_after = cpu_seconds(server_pid)
    began = min(r[0] for r in results)
    elapsed = max(r[1] for r in results) - began
    latencies = [latency for r in results for latency in r[2]]
    statuses: Counter[int] = Counter()
    for r in results:
        statuses.update(r[3])
    rate: float = args.requests / elapsed
    print(
        f"GET {args.open_path}: {args.requests} requests, {args.concurrency} connections from {clients} "
        f"client process(es): {rate:.0f} req/s, p50 {percentile(latencies, 0.5) * 1000:.2f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.2f} ms, statuses {dict(statuses)}"
    )
    if cpu_before is not None and cpu_after is not None:
        # The warm-up requests are inside this window too.
        per_request = (cpu_after - cpu_before) / (args.requests + 100 * args.concurrency)
        print(
            f"server CPU {per_request * 1000:.2f} ms per request: one server process could serve about "
            f"{1 / per_request:.0f} req/s given a full core and a faster client"
        )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--open-path", default="/health")
    parser.add_argument("--auth-path", default="/v1/sessions")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--clients", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="wagate-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        api_key = create_api_key(data_dir)
        process, url = start_server(args.template.resolve(), data_dir, Path(scratch) / "serve.log")
        try:
            print(f"serving {args.template} at {url} (cpus: {os.cpu_count()})")
            req_per_s = throughput(url, args, process.pid)
            headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
            total = int(args.rate * args.seconds)
            asyncio.run(open_loop(url, args.auth_path, args.rate, 200, args.concurrency, headers))
            latencies, statuses = asyncio.run(
                open_loop(url, args.auth_path, args.rate, total, args.concurrency, headers)
            )
            p99 = percentile(latencies, 0.99) * 1000
            print(
                f"GET {args.auth_path} (authorizer + API) at {args.rate:.0f} req/s for {args.seconds:.0f} s: "
                f"p50 {percentile(latencies, 0.5) * 1000:.2f} ms, p99 {p99:.2f} ms, "
                f"mean {statistics.fmean(latencies) * 1000:.2f} ms, statuses {dict(statuses)}"
            )
            if api_key is None or set(statuses) - {200}:
                print("note: the authenticated route did not answer 200 only; figures cover what it answered")
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(30)
            print(f"serve drained and exited with {code}")
    print(
        f"local_gateway: {req_per_s:.0f} req/s {args.open_path}, p99 {p99:.1f} ms authenticated "
        f"@{args.rate:.0f} req/s (target ≥1000 req/s, p99 < 20 ms)"
    )


def _clean_env() -> dict[str, str]:
    """The caller's environment without settings that would point serve somewhere else."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WAGATE_")}


if __name__ == "__main__":
    main()
