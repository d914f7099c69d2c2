"""CRM webhooks out: event → signed delivery latency (p50/p99) and deliveries/s, through `wagate serve`.

`wagate serve` runs as a subprocess (connector in-process, http and loopback webhooks allowed by the
operator settings); a CRM receiver runs in this process on 127.0.0.1 and verifies every signature with
the `standardwebhooks` package. A paired sandbox session is made to receive WhatsApp messages:
  * latency: 100 messages/s for 10 s to one webhook; each delivery's latency is its arrival time minus
    the event's own `timestamp` (when the engine emitted it), so it covers the events queue and consumer,
    the delivery row, the webhooks queue, the webhooks_out function and the HTTP POST;
  * throughput: a burst of messages to 5 webhooks at once; deliveries/s from the first to the last.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.crm_receiver import Received, Receiver, crm_receiver  # noqa: E402
from tests.support.serve import Server, wait_for  # noqa: E402

RATE = 100  # events per second, latency phase
SECONDS = 10
BURST = 600  # events, throughput phase
FAN_OUT = 5  # webhooks per event, throughput phase
ENV = {
    "WAGATE_SANDBOX_AUTO_REPLY": "false",
    "WAGATE_SANDBOX_REPLY_SECONDS": "0",
    "WAGATE_WEBHOOKS_ALLOW_HTTP": "true",
    "WAGATE_WEBHOOKS_ALLOW_PRIVATE": "true",
}


class Clocked:
    """Arrival times per path, taken when the receiver has the request (before it answers)."""

    def __init__(self, receiver: Receiver) -> None:
        self.lock = threading.Lock()
        self.arrivals: dict[str, list[tuple[float, Received]]] = {}
        self.receiver = receiver

    def hook(self, path: str) -> None:
        def answer(request: Received) -> int:
            with self.lock:
                self.arrivals.setdefault(path, []).append((time.time(), request))
            return 204

        # Scripts are consumed one behaviour per request: give every path plenty.
        self.receiver.script(path, *[answer] * (RATE * SECONDS + BURST + 100))

    def count(self, paths: list[str]) -> int:
        with self.lock:
            return sum(len(self.arrivals.get(p, [])) for p in paths)


def paired_session(http: httpx.Client) -> str:
    session = http.post("/v1/sessions", json={"name": "Bench", "provider": "sandbox"}).json()
    wait_for(lambda: http.get(f"/v1/sessions/{session['id']}").json()["status"] == "qr")
    http.post(f"/v1/sandbox/sessions/{session['id']}/scan")
    wait_for(lambda: http.get(f"/v1/sessions/{session['id']}").json()["status"] == "connected")
    return str(session["id"])


def webhook(http: httpx.Client, receiver: Receiver, clocked: Clocked, path: str) -> None:
    created = http.post("/v1/webhooks", json={"url": receiver.url(path), "events": ["incoming_message"]})
    assert created.status_code == 201, created.text
    receiver.secret(path, created.json()["secret"])
    clocked.hook(path)


def replies(http: httpx.Client, session_id: str, count: int, rate: float | None) -> None:
    """One request at a time: `wagate serve` shares one Powertools resolver between its API threads,
    and concurrent requests race on its per-request context (a 500 now and then), which is not what
    this measures."""
    start = time.perf_counter()
    for i in range(count):
        if rate is not None:
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
        body = {"contact": "+15550100001", "text": f"message {i}"}
        http.post(f"/v1/sandbox/sessions/{session_id}/reply", json=body).raise_for_status()


def stages(http: httpx.Client, clocked: Clocked, path: str) -> dict[str, list[float]]:
    """Where the time goes, from each delivery's row: event → row (events queue and consumer), row →
    attempt (webhooks queue and function), attempt → the CRM has it (claim, secret, POST)."""
    hook = http.get("/v1/webhooks").json()["items"][0]["id"]
    rows: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = http.get(f"/v1/webhooks/{hook}/deliveries", params=params).json()
        rows.update((d["id"], d) for d in page["items"])
        if not (cursor := page["cursor"]):
            break
    split: dict[str, list[float]] = {"event → row": [], "row → attempt": [], "attempt → CRM": []}
    for arrived, request in clocked.arrivals[path]:
        row = rows[request.webhook_id]
        emitted = dt.datetime.fromisoformat(request.json["timestamp"]).timestamp()
        attempt = row["attempts"][0]["at"]
        parts = (row["created_at"] - emitted, attempt - row["created_at"], arrived - attempt)
        for name, seconds in zip(split, parts, strict=True):
            split[name].append(seconds * 1000)
    return split


def percentiles(ms: list[float]) -> tuple[float, float]:
    ordered = sorted(ms)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        Server(Path(tmp) / "data", env=ENV) as server,
        crm_receiver() as receiver,
    ):
        key = server.create_tenant("bench")
        http = server.client(key)
        session_id = paired_session(http)
        clocked = Clocked(receiver)

        webhook(http, receiver, clocked, "/latency")
        total = RATE * SECONDS
        replies(http, session_id, total, RATE)
        wait_for(lambda: clocked.count(["/latency"]) >= total, timeout=120)
        ms = [
            (arrived - dt.datetime.fromisoformat(r.json["timestamp"]).timestamp()) * 1000
            for arrived, r in clocked.arrivals["/latency"]
        ]
        split = stages(http, clocked, "/latency")
        http.delete(f"/v1/webhooks/{http.get('/v1/webhooks').json()['items'][0]['id']}")

        paths = [f"/fan/{i}" for i in range(FAN_OUT)]
        for path in paths:
            webhook(http, receiver, clocked, path)
        replies(http, session_id, BURST, None)
        wait_for(lambda: clocked.count(paths) >= BURST * FAN_OUT, timeout=300)
        times = sorted(arrived for p in paths for arrived, _ in clocked.arrivals[p])
        http.close()
        problems = receiver.problems()
        ids = [r.webhook_id for p in ["/latency", *paths] for _, r in clocked.arrivals[p]]

    assert problems == [], problems[:3]
    duplicates = len(ids) - len(set(ids))
    rate = (len(times) - 1) / (times[-1] - times[0])
    p50, p99 = percentiles(ms)
    print(f"latency: {len(ms)} deliveries at {RATE} events/s; p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    for name, part in split.items():
        print("  {:<14} p50 {:6.1f} ms, p99 {:6.1f} ms".format(name, *percentiles(part)))
    took = times[-1] - times[0]
    print(f"throughput: {len(times)} deliveries ({BURST} events x {FAN_OUT} webhooks) in {took:.1f} s")
    print(f"signatures verified: {len(ids)}, duplicates: {duplicates}; via wagate serve (local mode, SQLite)")
    print(f"webhooks_out: {rate:.0f} deliveries/s, p99 {p99:.0f} ms (target: for the record)")


if __name__ == "__main__":
    main()
