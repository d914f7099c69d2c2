"""Benchmark: what the Evolution API surface costs over wagate's own API, per read, on `wagate serve`.

Starts `wagate serve` (sandbox, connector in-process) on localhost with a fresh data dir, creates a tenant
and one Evolution instance (sandbox, scanned: open), then for `--seconds` each, on one keep-alive
connection, times: `GET /v1/sessions/{id}` (Bearer), `GET /evolution/instance/connectionState/{name}`
(the instance token as `apikey`) and `GET /evolution/instance/fetchInstances` (the global key). The
Evolution routes find the instance by name (a listing of the tenant's sessions) and read its row and,
for fetchInstances, its kept token and settings: that is the overhead measured. Sequential requests,
client on the same box (its time is in the figures); a shared 2-core machine moves them, so compare
the ratio, not the milliseconds.
Run:
    python bench/evolution_overhead.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.serve import Server, wait_for  # noqa: E402

TARGET_RATIO = 2.0  # connectionState p50 within twice the /v1 read's


def timed(client: httpx.Client, path: str, seconds: float) -> list[float]:
    samples: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        answer = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, answer.text
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        Server(Path(tmp) / "data", env={"WAGATE_SANDBOX_AUTO_REPLY": "false"}) as server,
    ):
        key = server.create_tenant("Bench")
        created = httpx.post(
            f"{server.url}/evolution/instance/create",
            headers={"apikey": key},
            json={"instanceName": "bench", "integration": "WAGATE-SANDBOX", "qrcode": True},
            timeout=30,
        ).json()
        token, session_id = created["hash"], created["instance"]["instanceId"]
        wagate = server.client(key)
        assert wagate.post(f"/v1/sandbox/sessions/{session_id}/scan").status_code == 202
        wait_for(lambda: wagate.get(f"/v1/sessions/{session_id}").json()["status"] == "connected")
        evolution = httpx.Client(base_url=f"{server.url}/evolution", headers={"apikey": token}, timeout=10)
        admin = httpx.Client(base_url=f"{server.url}/evolution", headers={"apikey": key}, timeout=10)
        for client, path in (
            (wagate, f"/v1/sessions/{session_id}"),
            (evolution, "/instance/connectionState/bench"),
        ):
            timed(client, path, 0.5)  # warm: handlers imported, keys cached
        results = {
            "GET /v1/sessions/{id}": timed(wagate, f"/v1/sessions/{session_id}", args.seconds),
            "GET /evolution/instance/connectionState/{name}": timed(
                evolution, "/instance/connectionState/bench", args.seconds
            ),
            "GET /evolution/instance/fetchInstances": timed(admin, "/instance/fetchInstances", args.seconds),
        }
        for name, samples in results.items():
            ordered = sorted(samples)
            p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
            print(
                f"{name}: {len(samples) / args.seconds:.0f} req/s, p50 {statistics.median(samples):.2f} ms, "
                f"p99 {p99:.2f} ms ({len(samples)} requests)"
            )
        base = statistics.median(results["GET /v1/sessions/{id}"])
        state = statistics.median(results["GET /evolution/instance/connectionState/{name}"])
        for client in (wagate, evolution, admin):
            client.close()
    print(
        f"evolution_overhead: {state / base:.2f} x (connectionState p50 over /v1's, target < {TARGET_RATIO})"
    )


if __name__ == "__main__":
    main()
