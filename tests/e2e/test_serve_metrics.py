"""`wagate serve`'s Prometheus /metrics, scraped over HTTP while real things happen: a sandbox number links,
sends, gets banned; a CRM webhook is delivered; a wrong API key is refused. Each scrape is parsed with
prometheus_client's own parser and the values are checked to move with those actions."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.crm_receiver import crm_receiver
from tests.support.serve import Server, wait_for

pytestmark = pytest.mark.e2e

TOKEN = "metrics-operator-token-for-tests"
ENV = {
    "WAGATE_METRICS_TOKEN": TOKEN,
    "WAGATE_SANDBOX_QR_FIRST_SECONDS": "30",
    "WAGATE_SANDBOX_DELIVERED_SECONDS": "0.2",
    "WAGATE_SANDBOX_READ_SECONDS": "0.4",
    "WAGATE_SANDBOX_REPLY_SECONDS": "0.3",
    "WAGATE_WEBHOOKS_ALLOW_HTTP": "true",
    "WAGATE_WEBHOOKS_ALLOW_PRIVATE": "true",
}


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample: (name, sorted labels) → value."""
    answer = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_with_real_actions(tmp_path: Path) -> None:
    with crm_receiver() as receiver, Server(tmp_path / "data", env=ENV) as server:
        refused = httpx.get(f"{server.url}/metrics", timeout=10)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_metrics_token"
        wrong = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401

        before = scrape(server)
        assert value(before, "wagate_sessions", status="connected") == 0
        assert ("wagate_queue_oldest_age_seconds", (("queue", "EventsQueue"),)) in before

        key = server.create_tenant()
        http = server.client(key)
        hook = http.post("/v1/webhooks", json={"url": receiver.url("/crm"), "events": ["session_status"]})
        assert hook.status_code == 201, hook.text
        receiver.secret("/crm", hook.json()["secret"])
        session = http.post("/v1/sessions", json={"name": "Ventas", "provider": "sandbox"}).json()
        assert wait_for(lambda: http.get(f"/v1/sessions/{session['id']}").json()["status"] == "qr")
        assert http.post(f"/v1/sandbox/sessions/{session['id']}/scan").status_code == 202
        assert wait_for(lambda: http.get(f"/v1/sessions/{session['id']}").json()["status"] == "connected")

        connected = wait_for(
            lambda: (
                (s := scrape(server))
                and value(s, "wagate_sessions", status="connected") == 1
                and value(s, "wagate_session_status_changes_total", status="connected", reason="") >= 1
                and s
            )
        )
        assert value(connected, "wagate_session_status_changes_total", status="qr", reason="") == 1

        message = http.post(
            "/v1/messages", json={"session_id": session["id"], "to": "+15550100001", "text": "Hola"}
        ).json()
        assert wait_for(lambda: http.get(f"/v1/messages/{message['id']}").json()["status"] == "read")
        sent = scrape(server)
        assert value(sent, "wagate_messages_sent_total") == value(before, "wagate_messages_sent_total") + 1

        bad = httpx.get(f"{server.url}/v1/sessions", headers={"Authorization": "Bearer wg_wrong"}, timeout=10)
        assert bad.status_code == 401
        failures = wait_for(
            lambda: sum(v for (n, _), v in scrape(server).items() if n == "wagate_auth_failures_total")
        )
        assert failures == 1

        assert http.post(f"/v1/sandbox/sessions/{session['id']}/ban").status_code == 202
        banned = wait_for(
            lambda: (
                (s := scrape(server))
                and value(s, "wagate_session_status_changes_total", status="failed", reason="banned") == 1
                and s
            )
        )
        assert value(banned, "wagate_sessions", status="failed") == 1
        assert value(banned, "wagate_sessions", status="connected") == 0
        delivered = wait_for(
            lambda: value(scrape(server), "wagate_webhook_deliveries_total", outcome="delivered") >= 3
        )
        assert delivered  # qr, connected, banned: each session_status delivery counted once it is 2xx
        assert receiver.problems() == []

        health = http.get(f"/v1/sessions/{session['id']}/health").json()
        assert health["signals"]["sent"] == 1 and health["status"] == "failed"
