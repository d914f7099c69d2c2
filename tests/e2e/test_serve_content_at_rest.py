"""No content readable at rest in one-box mode: a unique marker goes in through every path of `wagate serve`
(send, schedule, sandbox inbound and its auto-reply, CRM webhook delivery, template and reminder plan,
media files uploaded directly and through a signed link), comes back out in plaintext to the tenant (API,
webhook), and is then searched for, byte for byte, in every file under the data directory (SQLite files,
their WAL and shared memory, the sandbox's state, the server's log, the key file).

Inbound Cloud API messages are in tests/functions/test_content_at_rest.py (a fake Graph and signed Meta
webhooks), with the same search, and the DynamoDB/SQS twin under moto.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve_sandbox import FAST_SANDBOX
from tests.support.crm_receiver import crm_receiver
from tests.support.serve import Server, wait_for

pytestmark = pytest.mark.e2e

ENV = {
    **FAST_SANDBOX,
    "WAGATE_WEBHOOKS_ALLOW_HTTP": "true",
    "WAGATE_WEBHOOKS_ALLOW_PRIVATE": "true",
}


def files_holding(root: Path, needle: bytes) -> list[str]:
    """Every file under `root` whose bytes contain `needle` (the server's log there too)."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and needle in path.read_bytes():
            found.append(str(path.relative_to(root)))
    return found


def test_a_marker_through_every_path_is_nowhere_at_rest(tmp_path: Path) -> None:
    marker = f"MARK{uuid.uuid4().hex}"
    person = f"+1555{uuid.uuid4().int % 10**7:07d}"  # a unique number: in no key, attribute or log either
    data = tmp_path / "data"
    with crm_receiver() as crm, Server(data, env=ENV) as server:
        key = server.create_tenant()
        http = server.client(key)
        hook = http.post("/v1/webhooks", json={"url": crm.url("/crm")}).json()
        crm.secret("/crm", hook["secret"])
        session = http.post("/v1/sessions", json={"name": f"Desk {marker}", "provider": "sandbox"}).json()
        sid = session["id"]
        assert http.post(f"/v1/sandbox/sessions/{sid}/scan").status_code == 202
        assert wait_for(lambda: http.get(f"/v1/sessions/{sid}").json()["status"] == "connected")

        # Send (Ana, the sandbox contact, answers with an excerpt of it: an inbound message).
        sent = http.post(
            "/v1/messages",
            json={"session_id": sid, "to": "+15550100001", "text": f"Hello {marker}"},
            headers={"Idempotency-Key": f"send-{marker}"},
        ).json()
        # Schedule, a moment ahead: it goes through the due index, the sweeper and the delay queue.
        scheduled = http.post(
            "/v1/messages",
            json={
                "session_id": sid,
                "to": "+15550100002",
                "text": f"Later {marker}",
                "scheduled_at": time.time() + 2,
            },
        ).json()
        # Inbound from a contact, with a name and text holding the marker.
        reply = {"contact": "+15550100003", "text": f"Inbound {marker}"}
        assert http.post(f"/v1/sandbox/sessions/{sid}/reply", json=reply).status_code == 202
        # A template and a reminder plan that renders it with the marker.
        template = {"name": "visit", "language": "en", "body": f"See you {{when}} {marker}"}
        assert http.post("/v1/templates", json=template).status_code == 201
        plan = http.post(
            "/v1/reminders",
            json={
                "session_id": sid,
                "to": "+15550100004",
                "event_at": time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 3 * 86400)),
                "time_zone": "UTC",
                "template": {"name": "visit", "variables": {"when": f"soon {marker}"}},
                "metadata": {"crm_note": marker},
            },
        )
        assert plan.status_code == 201, plan.text

        def status(message: dict[str, Any]) -> str:
            return str(http.get(f"/v1/messages/{message['id']}").json()["status"])

        # Media: a file uploaded in one request and one PUT through a signed link, both with the marker,
        # sent to Ana, and read back through their signed download links.
        document = b"%PDF-1.7\n% " + marker.encode() * 50 + b"\n%%EOF\n"
        uploaded = http.post("/v1/media", files={"file": ("note.pdf", document, "application/pdf")})
        assert uploaded.status_code == 201, uploaded.text
        linked = http.post("/v1/uploads", json={"size": len(document), "filename": "put.pdf"}).json()
        put = httpx.put(linked["upload"]["url"], headers=linked["upload"]["headers"], content=document)
        assert put.status_code == 200, put.text
        assert http.post(f"/v1/media/{linked['id']}/complete").status_code == 200
        with_file = http.post(
            "/v1/messages",
            json={"session_id": sid, "to": "+15550100001", "media": {"upload_id": uploaded.json()["id"]}},
        )
        assert with_file.status_code == 202, with_file.text
        for media_id in (uploaded.json()["id"], linked["id"]):
            link = http.get(f"/v1/media/{media_id}").json()["url"]
            assert httpx.get(link).content == document

        to_person = http.post(
            "/v1/messages", json={"session_id": sid, "to": person, "text": f"New {marker}"}
        ).json()
        assert wait_for(lambda: status(to_person) not in {"queued", "sending"})
        assert wait_for(lambda: status(sent) in {"delivered", "read"})
        assert wait_for(lambda: status(with_file.json()) in {"sent", "delivered", "read"})
        assert wait_for(lambda: status(scheduled) in {"sent", "delivered", "read"}, timeout=30)
        # Authorised callers still get plaintext: the API, the conversation list, the CRM's webhooks.
        assert marker in http.get(f"/v1/messages/{sent['id']}").json()["text"]
        assert wait_for(
            lambda: (
                sum(
                    marker in (c.get("last_message_preview") or "")
                    for c in http.get("/v1/conversations").json()["items"]
                )
                >= 2
            )
        )
        assert wait_for(lambda: sum(marker.encode() in r.body for r in crm.delivered("/crm")) >= 2)
        assert crm.problems() == []
        http.close()

    assert files_holding(data, marker.encode()) == []
    assert files_holding(data, marker[4:20].encode()) == []  # no fragment either
    # The sandbox's journal is the simulated WhatsApp server's own record (who a message went to, as
    # WhatsApp's servers know it), not wagate's storage: everything else holds the number nowhere.
    assert files_holding(data, person[1:].encode()) == ["sandbox/sockets.jsonl"]
