"""Benchmark of broadcasts through `wagate serve` and the sandbox engine: how long a 10,000-recipient
broadcast takes to accept, and whether its sending follows the number's pacing (and never floods its queue).

Starts `wagate serve` on a fresh data dir, links a sandbox number, sets its pacing to `--rate` messages a
minute (burst 5, jitter 0 s so the rate is exact), then:
  1. times `POST /v1/broadcasts` with `--recipients` recipients (goal < 10 s);
  2. watches `GET /v1/broadcasts/{id}` for `--seconds`: messages sent per minute vs the pacing rate
     (after the burst), and the most messages ever waiting in the number's queue (the window).
Run:  .venv/bin/python bench/broadcast.py [--recipients 10000] [--rate 120] [--seconds 60]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.serve import Server, wait_for  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=120.0, help="pacing: messages per minute")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to watch the sending")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp) / "data") as server:
        http = server.client(server.create_tenant("bench"))
        http.timeout = 60
        sid = http.post("/v1/sessions", json={"name": "Bench", "provider": "sandbox"}).json()["id"]
        pacing = {"rate_per_minute": args.rate, "burst": 5, "jitter_min_seconds": 0, "jitter_max_seconds": 0}
        pacing |= {"first_contacts_per_day": 10_000}
        assert http.patch(f"/v1/sessions/{sid}", json={"pacing": pacing}).status_code == 200
        assert http.post(f"/v1/sandbox/sessions/{sid}/scan").status_code == 202
        wait_for(lambda: http.get(f"/v1/sessions/{sid}").json()["status"] == "connected")

        people = [{"to": f"+1555{i:07d}", "variables": {"n": str(i)}} for i in range(args.recipients)]
        body = {"session_id": sid, "text": "Hello {n}", "recipients": people}
        started = time.perf_counter()
        answer = http.post("/v1/broadcasts", json=body)
        accept_seconds = time.perf_counter() - started
        assert answer.status_code == 202, answer.text
        broadcast_id = answer.json()["id"]

        samples: list[tuple[float, int]] = []
        most_queued = 0
        watch_started = time.monotonic()
        while time.monotonic() - watch_started < args.seconds:
            counts = http.get(f"/v1/broadcasts/{broadcast_id}").json()["counts"]
            samples.append((time.monotonic(), counts["sent"] + counts["failed"]))
            most_queued = max(most_queued, counts["queued"])
            time.sleep(1)
        # The rate after the first burst: from the first sample with 10 settled to the last.
        start = next(((t, n) for t, n in samples if n >= 10), samples[0])
        end = samples[-1]
        per_minute = (end[1] - start[1]) / max(1e-9, end[0] - start[0]) * 60
        print(f"recipients: {args.recipients}; accepted in {accept_seconds:.2f} s")
        print(f"sent {end[1]} in {args.seconds:.0f} s; after the burst {per_minute:.1f}/min", end=" ")
        print(f"(pacing {args.rate:g}/min)")
        print(f"most messages waiting in the number's queue at once: {most_queued} (window: 20 to 500)")
        print(f"broadcast_pacing_ratio: {per_minute / args.rate:.3f} x (target 0.9-1.0)")
        print(f"broadcast_accept_10k: {accept_seconds:.2f} s (target < 10 s)")


if __name__ == "__main__":
    main()
