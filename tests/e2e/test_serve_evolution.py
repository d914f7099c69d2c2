"""End to end: a CRM written against Evolution API v2 drives `wagate serve` (sandbox), unchanged.

Over real HTTP with only Evolution's `apikey` header: create an instance (with its QR code), set its
webhook, scan, see it `open`, and receive an inbound message at a local receiver as MESSAGES_UPSERT,
read the way Evolution documents it (and signed: wagate's Standard Webhooks headers). The surface is
served both under a custom prefix on the main port and at `/` on its own port (--evolution-port).
The n8n node's instance and webhook operations: test_evolution_n8n_instance.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.crm_receiver import crm_receiver
from tests.support.serve import Server, free_port, wait_for

pytestmark = pytest.mark.e2e

ENV = {
    "WAGATE_SANDBOX_QR_FIRST_SECONDS": "30",
    "WAGATE_SANDBOX_AUTO_REPLY": "false",
    "WAGATE_WEBHOOKS_ALLOW_HTTP": "true",
    "WAGATE_WEBHOOKS_ALLOW_PRIVATE": "true",
    "WAGATE_EVOLUTION_PREFIX": "/api/evo",
}


def test_an_evolution_crm_flow_through_wagate_serve(tmp_path: Path) -> None:
    evolution_port = free_port()
    env = {**ENV, "WAGATE_EVOLUTION_PORT": str(evolution_port)}
    with crm_receiver() as receiver, Server(tmp_path / "data", env=env) as server:
        key = server.create_tenant()
        root = f"http://127.0.0.1:{evolution_port}"
        evolution = httpx.Client(base_url=root, headers={"apikey": key}, timeout=20)
        prefixed = httpx.Client(base_url=server.url + "/api/evo", headers={"apikey": key}, timeout=20)
        wagate = server.client(key)

        welcome = httpx.get(root + "/", timeout=5)
        assert welcome.status_code == 200 and welcome.json()["message"].startswith("Welcome to the Evolution")
        assert evolution.get("/instance/fetchInstances", headers={"apikey": "wrong"}).json() == {
            "status": 401,
            "error": "Unauthorized",
            "response": {"message": "Unauthorized"},
        }

        created = evolution.post(
            "/instance/create",
            json={"instanceName": "asesora-lucia", "integration": "WAGATE-SANDBOX", "qrcode": True},
        )
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        assert body["qrcode"]["base64"].startswith("data:image/png;base64,"), body
        assert body["instance"]["status"] == "connecting"
        token, session_id = body["hash"], body["instance"]["instanceId"]

        # The CRM's webhook (one URL, no byEvents), with the instance token, on the prefixed mount.
        made = prefixed.post(
            "/webhook/set/asesora-lucia",
            headers={"apikey": token},
            json={
                "webhook": {
                    "enabled": True,
                    "url": receiver.url("/evolution-webhook"),
                    "events": ["CONNECTION_UPDATE", "MESSAGES_UPSERT"],
                }
            },
        )
        assert made.status_code == 201, made.text
        receiver.secret("/evolution-webhook", made.json()["secret"])

        # The advisor scans (the sandbox's button), and the instance opens.
        assert wagate.post(f"/v1/sandbox/sessions/{session_id}/scan").status_code == 202
        wait_for(
            lambda: (
                prefixed.get("/instance/connectionState/asesora-lucia").json()["instance"]["state"] == "open"
            )
        )
        # A client writes; the CRM hears it as MESSAGES_UPSERT.
        reply = {"contact": "+15550100002", "text": "Hola, ¿me confirmas la cita?"}
        assert wagate.post(f"/v1/sandbox/sessions/{session_id}/reply", json=reply).status_code == 202

        def events() -> list[str]:
            return [r.json["event"] for r in receiver.at("/evolution-webhook")]

        assert receiver.wait_for(
            lambda: {"connection.update", "messages.upsert"} <= set(events()), timeout=30
        )
        assert receiver.problems() == []  # every call signed
        calls = {r.json["event"]: r.json for r in receiver.at("/evolution-webhook")}
        opened = calls["connection.update"]
        assert opened["instance"] == "asesora-lucia" and opened["data"]["state"] == "open"
        upsert = calls["messages.upsert"]
        assert upsert["apikey"] == token and upsert["server_url"] == root
        assert upsert["destination"] == receiver.url("/evolution-webhook")
        message = upsert["data"]
        assert (
            message["key"]["remoteJid"] == "15550100002@s.whatsapp.net" and message["key"]["fromMe"] is False
        )
        assert message["message"]["conversation"] == "Hola, ¿me confirmas la cita?"
        assert message["messageType"] == "conversation" and message["instanceId"] == session_id

        # The same instance, listed, then logged out and deleted, the Evolution way.
        [listed] = evolution.get("/instance/fetchInstances", params={"instanceName": "asesora-lucia"}).json()
        assert listed["connectionStatus"] == "open" and listed["token"] == token
        logged_out = evolution.delete("/instance/logout/asesora-lucia")
        assert logged_out.json() == {
            "status": "SUCCESS",
            "error": False,
            "response": {"message": "Instance logged out"},
        }
        wait_for(
            lambda: (
                evolution.get("/instance/connectionState/asesora-lucia").json()["instance"]["state"]
                == "close"
            )
        )
        assert evolution.delete("/instance/delete/asesora-lucia").status_code == 200
        assert evolution.get("/instance/connectionState/asesora-lucia").status_code == 404
        for client in (evolution, prefixed, wagate):
            client.close()
