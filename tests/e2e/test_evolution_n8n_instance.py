"""End to end: the n8n Evolution node's instance and webhook operations against `wagate serve`.

The node's own execute functions (n8n-nodes-evolution-api, pinned in tests/n8n/package.json) build every
request (tests/n8n/replay.mjs plays n8n's runtime around them): createInstanceBasic with its webhook
options, instanceConnect, fetchInstances, setWebhook (set and find), restartInstance, logoutInstance,
deleteInstance. What a flow then receives is checked at a local receiver, signed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_evolution_clients import replay
from tests.support.crm_receiver import Receiver, crm_receiver
from tests.support.serve import Server, wait_for

pytestmark = pytest.mark.e2e

ENV = {
    "WAGATE_SANDBOX_QR_FIRST_SECONDS": "30",
    "WAGATE_SANDBOX_AUTO_REPLY": "false",
    "WAGATE_WEBHOOKS_ALLOW_HTTP": "true",  # the flow's receiver is on 127.0.0.1
    "WAGATE_WEBHOOKS_ALLOW_PRIVATE": "true",
    # The node makes WHATSAPP-BAILEYS (web) instances: their connector tries a closed local port, never
    # WhatsApp (tests touch only localhost), with the version pinned so nothing is fetched.
    "WAGATE_WA_URL": "wss://127.0.0.1:9/ws/chat",
    "WAGATE_WA_VERSION": "2.3000.1035194821",
    "WAGATE_WA_VERSION_URL": "https://127.0.0.1:9/sw.js",
}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Server, Receiver]]:
    with crm_receiver() as receiver, Server(tmp_path / "data", env=ENV) as server:
        yield server, receiver


def ok(results: list[dict[str, Any]]) -> list[Any]:
    for result in results:
        assert result["ok"], result
    return [r["result"]["json"]["data"] for r in results]


def test_the_n8n_nodes_instance_and_webhook_operations(world: tuple[Server, Receiver]) -> None:
    server, receiver = world
    key = server.create_tenant("Wellness")
    name = {"instanceName": "n8n-asesora"}
    hook_url = receiver.url("/n8n")
    webhook_settings = {
        "webhookUrl": hook_url,
        "webhookByEvents": True,
        "webhookBase64": False,
        "webhookEvents": ["QRCODE_UPDATED", "CONNECTION_UPDATE", "MESSAGES_UPSERT"],
    }
    [created] = ok(
        replay(
            server,
            key,
            [
                {
                    "op": "instance/createInstanceBasic",
                    "params": {
                        **name,
                        "token": "",
                        "number": "",
                        "options_Create_instance": {
                            "instanceSettings": {"settings": {"rejectCall": True, "msgCall": "ocupada"}},
                            "webhook": {"webhookSettings": webhook_settings},
                        },
                    },
                }
            ],
        )
    )
    # The node creates WHATSAPP-BAILEYS instances: a `web` session, which needs WhatsApp; the rest of the
    # flow is the node's own calls on it (connect, webhook, lists), then a sandbox one for events.
    assert created["instance"]["integration"] == "WHATSAPP-BAILEYS" and created["hash"]
    assert created["settings"]["rejectCall"] is True and created["webhook"]["webhookUrl"] == hook_url
    assert created["webhook"]["webhookByEvents"] is True
    token = created["hash"]
    results = replay(
        server,
        token,
        [
            {"op": "instance/instanceConnect", "params": name},
            {"op": "instance/fetchInstances", "params": name},
            {"op": "events/setWebhook", "params": {**name, "resourceForWebhook": "findWebhook"}},
            {
                "op": "events/setWebhook",
                "params": {
                    **name,
                    "resourceForWebhook": "setWebhook",
                    "enabled": True,
                    "webhookUrl": hook_url,
                    "webhookByEvents": False,
                    "webhookBase64": False,
                    "webhookEvents": ["MESSAGES_UPSERT"],
                },
            },
            {"op": "events/setWebhook", "params": {**name, "resourceForWebhook": "findWebhook"}},
        ],
    )
    connect, [listed], found, changed, found_again = ok(results)
    assert set(connect) >= {"pairingCode"}  # the QR object (no WhatsApp here: no code yet)
    assert listed["name"] == "n8n-asesora" and listed["token"] == token
    assert listed["Setting"]["msgCall"] == "ocupada"
    assert found["url"] == hook_url and found["webhookByEvents"] is True and "secret" not in found
    assert found["events"] == ["QRCODE_UPDATED", "CONNECTION_UPDATE", "MESSAGES_UPSERT"]
    assert changed["webhookByEvents"] is False and changed["events"] == ["MESSAGES_UPSERT"]
    assert found_again["id"] == found["id"] and found_again["events"] == ["MESSAGES_UPSERT"]
    # What the node shows a flow when wagate refuses: Evolution's error, by the node's own handling.
    [missing] = replay(server, key, [{"op": "instance/instanceConnect", "params": {"instanceName": "nadie"}}])
    assert not missing["ok"] and missing["requests"][0]["status"] == 404
    assert missing["requests"][0]["answer"]["response"]["message"] == ['The "nadie" instance does not exist']

    # Events reach the flow: a sandbox instance (made over HTTP: the node only makes Baileys ones) whose
    # webhook the node sets, scanned, then a message in.
    wagate = server.client(key)
    sandbox = httpx.post(
        f"{server.url}/evolution/instance/create",
        headers={"apikey": key},
        json={"instanceName": "n8n-sandbox", "integration": "WAGATE-SANDBOX"},
        timeout=20,
    ).json()
    [made] = ok(
        replay(
            server,
            key,
            [
                {
                    "op": "events/setWebhook",
                    "params": {
                        "instanceName": "n8n-sandbox",
                        "resourceForWebhook": "setWebhook",
                        "enabled": True,
                        "webhookUrl": receiver.url("/n8n-flow"),
                        "webhookByEvents": True,
                        "webhookBase64": False,
                        "webhookEvents": ["CONNECTION_UPDATE", "MESSAGES_UPSERT"],
                    },
                }
            ],
        )
    )
    for path in ("/n8n-flow/connection-update", "/n8n-flow/messages-upsert"):
        receiver.secret(path, made["secret"])
    session_id = sandbox["instance"]["instanceId"]
    assert wagate.post(f"/v1/sandbox/sessions/{session_id}/scan").status_code == 202
    wait_for(lambda: receiver.at("/n8n-flow/connection-update"))
    reply = {"contact": "+15550100002", "text": "Quiero reservar"}
    assert wagate.post(f"/v1/sandbox/sessions/{session_id}/reply", json=reply).status_code == 202
    [upsert] = wait_for(lambda: receiver.at("/n8n-flow/messages-upsert"), timeout=30)
    assert upsert.verified and upsert.json["data"]["message"]["conversation"] == "Quiero reservar"

    # restart, logout and delete through the node.
    results = replay(
        server,
        key,
        [
            {"op": "instance/restartInstance", "params": {"instanceName": "n8n-sandbox"}},
            {"op": "instance/logoutInstance", "params": {"instanceName": "n8n-sandbox"}},
            {"op": "instance/deleteInstance", "params": {"instanceName": "n8n-sandbox"}},
            {"op": "instance/deleteInstance", "params": name},
        ],
    )
    restarted, logged_out, deleted, deleted_too = ok(results)
    assert restarted["instance"]["instanceName"] == "n8n-sandbox"
    assert logged_out["response"]["message"] == "Instance logged out"
    assert deleted["response"]["message"] == deleted_too["response"]["message"] == "Instance deleted"
    [gone] = ok(replay(server, key, [{"op": "instance/fetchInstances", "params": {"instanceName": ""}}]))
    assert gone == []
    wagate.close()
