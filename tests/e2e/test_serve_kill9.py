"""kill -9 of `wagate serve`, then a restart on the same data dir: honest state, work taken up in seconds.

A CRM webhook is in flight (the CRM has not answered yet) when the process dies. After the restart:
the delivery is made again within seconds (same `webhook-id`), not after the queue's 180 s visibility
timeout; once the CRM's 200 is recorded it is never sent again; and the session's lease is taken back
at once (its holder provably gone), so it is connected again and sends within seconds, not after the
leases expire (the shard lease is set to 300 s here, far from what "at once" takes even on a loaded CI
machine, where starting the server alone can take seconds). The CRM is told the number's connector was
lost once (`session_status` `connecting` / `connector_lost`), then `connected` again. (A key whose send
died with the process: tests/functions/test_idempotency_after_crash.py.)
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.support.crm_receiver import HANG, crm_receiver
from tests.support.serve import Server, wait_for

pytestmark = pytest.mark.e2e

ENV = {
    "WAGATE_SANDBOX_QR_FIRST_SECONDS": "30",
    "WAGATE_SANDBOX_DELIVERED_SECONDS": "0.2",
    "WAGATE_SANDBOX_READ_SECONDS": "0.4",
    "WAGATE_SANDBOX_AUTO_REPLY": "false",
    "WAGATE_WEBHOOKS_ALLOW_HTTP": "true",
    "WAGATE_WEBHOOKS_ALLOW_PRIVATE": "true",
    "WAGATE_SHARD_LEASE_SECONDS": "300",
}


def test_kill_9_then_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with crm_receiver(hang_seconds=20) as crm:
        first = Server(data, env=ENV).start()
        try:
            key = first.create_tenant()
            with first.client(key) as http:
                session = http.post("/v1/sessions", json={"name": "Ventas", "provider": "sandbox"}).json()
                sid = session["id"]
                wait_for(lambda: http.get(f"/v1/sessions/{sid}").json()["status"] == "qr")
                http.post(f"/v1/sandbox/sessions/{sid}/scan")
                wait_for(lambda: http.get(f"/v1/sessions/{sid}").json()["status"] == "connected")
                hook = http.post(
                    "/v1/webhooks", json={"url": crm.url("/crm"), "events": ["incoming_message"]}
                )
                assert hook.status_code == 201, hook.text
                crm.secret("/crm", hook.json()["secret"])
                status_hook = http.post(
                    "/v1/webhooks", json={"url": crm.url("/status"), "events": ["session_status"]}
                )
                assert status_hook.status_code == 201, status_hook.text
                crm.secret("/status", status_hook.json()["secret"])
                crm.script("/crm", HANG)  # the first attempt: the CRM holds it, the process dies meanwhile
                reply = {"contact": "+15550100001", "text": "¿Tienen turno mañana?"}
                assert http.post(f"/v1/sandbox/sessions/{sid}/reply", json=reply).status_code == 202
                assert wait_for(lambda: len(crm.at("/crm")) == 1, 20)  # arrived, not answered
        finally:
            first.stop(signal.SIGKILL)
        killed_at = time.monotonic()

        with Server(data, env=ENV) as second, second.client(key) as http:
            assert crm.wait_for(lambda: len(crm.delivered("/crm")) == 1, timeout=30), crm.at("/crm")
            redelivered_after = time.monotonic() - killed_at
            hung, again = crm.at("/crm")
            assert again.webhook_id == hung.webhook_id and again.json == hung.json
            assert crm.problems() == []

            # (The row may still say `connected` from before the kill: the send going out is what proves
            # the new process holds the session.)
            connected = wait_for(lambda: http.get(f"/v1/sessions/{sid}").json()["status"] == "connected")
            assert connected
            sent = http.post(
                "/v1/messages",
                json={"session_id": sid, "to": "+15550100001", "text": "Sí, a las 10"},
                headers={"Idempotency-Key": "after-restart-1"},
            )
            assert sent.status_code == 202, sent.text
            message_id = sent.json()["id"]
            assert wait_for(
                lambda: (
                    http.get(f"/v1/messages/{message_id}").json()["status"] in ("sent", "delivered", "read")
                ),
            )
            reconnected_after = time.monotonic() - killed_at
            [delivery] = http.get(f"/v1/webhooks/{hook.json()['id']}/deliveries").json()["items"]
            assert delivery["status"] == "delivered"
            time.sleep(2)  # nothing more may arrive: the recorded 200 ends the delivery
            assert len(crm.at("/crm")) == 2

            def told() -> list[tuple[str, str | None]]:
                bodies = sorted((r.json for r in crm.delivered("/status")), key=lambda b: str(b["timestamp"]))
                return [(b["data"]["status"], b["data"]["reason"]) for b in bodies]

            # (Subscribed once connected: the reports are the ones the kill caused.)
            assert crm.wait_for(lambda: ("connected", None) in told(), timeout=30), told()
            assert told() == [("connecting", "connector_lost"), ("connected", None)]
            assert crm.problems() == []
    print(f"redelivered {redelivered_after:.1f} s and sending again {reconnected_after:.1f} s after the kill")
    # Waiting for the timeouts would take 180 s (webhooks queue visibility) and 300 s (the shard lease);
    # "within seconds" is checked with a margin a loaded machine's slow restart stays inside.
    assert redelivered_after < 60 and reconnected_after < 60
