"""How close to `scheduled_at` scheduled messages are sent, through `wagate serve` end to end.

Starts `wagate serve` (a subprocess on 127.0.0.1, the connector in-process), links a sandbox number by
scanning its QR code through the sandbox endpoint, then schedules N messages through the API between
5 s and ~2.5 min ahead. Those due within 120 s skip the due index and go straight into the delay queue;
the later ones wait in the due index for the local sweeper timer (`rate(1 minute)`, as in AWS). Each
message's `sent_at` is the connector's send time, reported in its `message_sent` event. The figure is
|sent_at - scheduled_at|, p50 and p99. Pacing is turned off (WAGATE_PACING=off): its gaps are deliberate
and not the scheduler's error. Run: `.venv/bin/python bench/schedule_precision.py [N]` (default 60, ~3 min).
"""

from __future__ import annotations

import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from tests.support.serve import Server, wait_for  # noqa: E402

FIRST_SECONDS = 5.0
LAST_SECONDS = 150.0
SOON_SECONDS = 120.0  # MessageService.accept: sooner than this skips the due index
TARGET = 2.0
ENV = {"WAGATE_PACING": "off", "WAGATE_SANDBOX_AUTO_REPLY": "false", "WAGATE_SANDBOX_QR_FIRST_SECONDS": "60"}


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def link_sandbox_number(http: httpx.Client) -> str:
    session = http.post("/v1/sessions", json={"name": "Bench", "provider": "sandbox"}).json()
    session_id = str(session["id"])
    wait_for(lambda: http.get(f"/v1/sessions/{session_id}").json()["status"] == "qr", timeout=30)
    assert http.post(f"/v1/sandbox/sessions/{session_id}/scan").status_code == 202
    wait_for(lambda: http.get(f"/v1/sessions/{session_id}").json()["status"] == "connected", timeout=30)
    return session_id


def schedule(http: httpx.Client, session_id: str, count: int) -> list[dict[str, Any]]:
    start = time.time()
    step = (LAST_SECONDS - FIRST_SECONDS) / max(1, count - 1)
    messages = []
    for index in range(count):
        at = round(start + FIRST_SECONDS + index * step, 3)
        body = {"session_id": session_id, "to": f"+3460012{index:04d}", "text": f"Recordatorio {index}"}
        response = http.post("/v1/messages", json={**body, "scheduled_at": at})
        response.raise_for_status()
        messages.append(response.json())
    return messages


def sent_times(http: httpx.Client, ids: set[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = http.get("/v1/messages", params=params).json()
        for message in page["items"]:
            if message["id"] in ids and message.get("sent_at") is not None:
                found[message["id"]] = message
        cursor = page.get("cursor")
        if not cursor:
            return found


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    with (
        tempfile.TemporaryDirectory(prefix="wagate-precision-") as tmp,
        Server(Path(tmp) / "data", env=ENV) as server,
    ):
        http = server.client(server.create_tenant("Bench"))
        session_id = link_sandbox_number(http)
        messages = schedule(http, session_id, count)
        ids = {m["id"] for m in messages}
        print(f"scheduled {count} messages {FIRST_SECONDS:.0f}..{LAST_SECONDS:.0f} s ahead; waiting for them")
        deadline = max(m["scheduled_at"] for m in messages) + 30
        sent: dict[str, dict[str, Any]] = {}
        while time.time() < deadline and len(sent) < count:
            time.sleep(2)
            sent = sent_times(http, ids)
        http.close()
    if len(sent) < count:
        raise SystemExit(f"only {len(sent)} of {count} messages were sent")
    errors = {m["id"]: abs(m["sent_at"] - m["scheduled_at"]) for m in sent.values()}
    created = {m["id"]: m["created_at"] for m in messages}
    for label, picked in (
        (
            "straight to the delay queue (due < 120 s)",
            [i for i in ids if sent[i]["scheduled_at"] - created[i] < SOON_SECONDS],
        ),
        (
            "through the due index and the sweeper",
            [i for i in ids if sent[i]["scheduled_at"] - created[i] >= SOON_SECONDS],
        ),
    ):
        values = [errors[i] for i in picked]
        if values:
            print(
                f"  {label:<44} {len(values):>3} msgs  p50 {statistics.median(values):.3f} s  "
                f"max {max(values):.3f} s"
            )
    late = [sent[i]["sent_at"] - sent[i]["scheduled_at"] for i in ids]
    print(f"  early sends: {sum(1 for d in late if d < 0)} (a send before its time would be a bug)")
    values = list(errors.values())
    print(f"  all {len(values)}: p50 {percentile(values, 50):.3f} s, p99 {percentile(values, 99):.3f} s")
    print(f"schedule_precision: {percentile(values, 99):.2f} s p99 (target ≤ {TARGET:g} s)")


if __name__ == "__main__":
    main()
