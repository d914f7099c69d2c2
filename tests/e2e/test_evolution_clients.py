"""End to end: clients nobody here wrote, driving `wagate serve`'s Evolution surface over real HTTP.

- Evolution's official Python client (`evolutionapi`, pinned in pyproject): a CRM's whole flow against a
  sandbox instance — create with a QR code, scan, connected, sendText, the message read (its record turns
  READ), the contact's reply found, sendMedia (the client's multipart upload), the file back as base64,
  read receipts, groups, logout.
- The n8n Evolution node (`n8n-nodes-evolution-api`, pinned in tests/n8n/package.json): its own execute
  functions build the requests (tests/n8n/replay.mjs plays n8n's runtime around them) for the instance,
  webhook, message and chat operations, and what Evolution refuses comes back as Evolution's error.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.crm_receiver import Receiver, crm_receiver
from tests.support.serve import ROOT, Server, wait_for

pytestmark = pytest.mark.e2e

FAST_SANDBOX = {
    "WAGATE_SANDBOX_QR_FIRST_SECONDS": "30",
    "WAGATE_SANDBOX_DELIVERED_SECONDS": "0.2",
    "WAGATE_SANDBOX_READ_SECONDS": "0.4",
    "WAGATE_SANDBOX_REPLY_SECONDS": "0.3",
    "WAGATE_WEBHOOKS_ALLOW_HTTP": "true",  # the CRM's receiver is on 127.0.0.1
    "WAGATE_WEBHOOKS_ALLOW_PRIVATE": "true",
    # The n8n node creates WHATSAPP-BAILEYS (web) instances: their engine dials a closed local port, never
    # WhatsApp (tests touch only localhost).
    "WAGATE_WA_URL": "wss://127.0.0.1:9/ws/chat",
    "WAGATE_WA_VERSION": "2.3000.1035194821",
    "WAGATE_WA_VERSION_URL": "https://127.0.0.1:9/sw.js",
}
ANA = "15550100001"  # the sandbox contact who reads and answers
ANA_JID = f"{ANA}@s.whatsapp.net"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
N8N = ROOT / "tests" / "n8n"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with crm_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("evolution") / "data", env=FAST_SANDBOX) as running:
        yield running


@pytest.fixture(scope="module")
def key(server: Server) -> str:
    return server.create_tenant("Wellness")


def connected_instance(server: Server, key: str, name: str) -> tuple[str, str]:
    """A sandbox instance made through Evolution's instance/create and scanned: (its session id, token)."""
    created = httpx.post(
        f"{server.url}/evolution/instance/create",
        headers={"apikey": key},
        json={"instanceName": name, "integration": "WAGATE-SANDBOX"},
        timeout=20,
    ).json()
    session_id = created["instance"]["instanceId"]
    with server.client(key) as http:
        wait_for(lambda: http.get(f"/v1/sessions/{session_id}").json()["status"] == "qr")
        assert http.post(f"/v1/sandbox/sessions/{session_id}/scan").status_code == 202
        wait_for(lambda: http.get(f"/v1/sessions/{session_id}").json()["status"] == "connected")
    return session_id, created["hash"]


def test_a_crm_flow_through_evolutions_official_python_client(
    server: Server, key: str, receiver: Receiver
) -> None:
    """The issue's flow: create instance -> QR -> connected -> sendText -> MESSAGES_UPDATE to read ->
    inbound MESSAGES_UPSERT -> sendMedia -> logout, with the client's own webhook processor reading the
    events (the client has no webhook/set: the CRM sets it over HTTP, as its docs show)."""
    evolution = pytest.importorskip("evolutionapi.client")
    from evolutionapi.models.chat import MediaMessage as MediaRef
    from evolutionapi.models.chat import ReadMessage
    from evolutionapi.models.instance import InstanceConfig
    from evolutionapi.models.message import MediaMessage, TextMessage
    from evolutionapi.typing.message_handlers import get_message_content
    from evolutionapi.typing.webhook_processor import WebhookEventProcessor

    client = evolution.EvolutionClient(base_url=f"{server.url}/evolution", api_token=key)
    created = client.instances.create_instance(
        InstanceConfig(instanceName="advisor-ana", integration="WAGATE-SANDBOX", qrcode=True)
    )
    token, session_id = created["hash"], created["instance"]["instanceId"]
    assert created["qrcode"]["base64"].startswith("data:image/png;base64,")
    hook = {
        "webhook": {
            "enabled": True,
            "url": receiver.url("/crm"),
            "events": ["MESSAGES_UPSERT", "MESSAGES_UPDATE", "SEND_MESSAGE"],
        }
    }
    made = httpx.post(f"{server.url}/evolution/webhook/set/advisor-ana", headers={"apikey": token}, json=hook)
    assert made.status_code == 201, made.text
    receiver.secret("/crm", made.json()["secret"])
    with server.client(key) as http:
        assert http.post(f"/v1/sandbox/sessions/{session_id}/scan").status_code == 202
    ops = client.instance_operations
    assert wait_for(lambda: ops.get_connection_state("advisor-ana", token)["instance"]["state"] == "open")

    sent = client.messages.send_text(
        "advisor-ana", TextMessage(number=ANA, text="Hola, ¿confirmamos el martes?"), token
    )
    assert sent["key"]["remoteJid"] == ANA_JID and sent["key"]["fromMe"] is True, sent
    assert sent["message"] == {"conversation": "Hola, ¿confirmamos el martes?"}

    def history() -> list[dict[str, Any]]:
        return list(client.chat.get_messages("advisor-ana", ANA_JID, token)["messages"]["records"])

    def status_of(message_id: str) -> str | None:
        return next((r["status"] for r in history() if r["key"]["id"] == message_id), None)

    assert wait_for(lambda: status_of(sent["key"]["id"]) == "READ")  # Ana read it (MESSAGES_UPDATE's status)
    reply = wait_for(lambda: next((r for r in history() if not r["key"]["fromMe"]), None))
    assert reply["key"]["remoteJid"] == ANA_JID and reply["messageType"] == "conversation"
    assert reply["message"]["conversation"]

    media = client.messages.send_media(
        "advisor-ana",
        MediaMessage(
            number=ANA, mediatype="image", mimetype="image/png", caption="la receta", fileName="receta.png"
        ),
        token,
        file=io.BytesIO(PNG),
    )
    assert media["messageType"] == "imageMessage", media
    assert media["message"]["imageMessage"]["caption"] == "la receta"
    assert httpx.get(media["message"]["mediaUrl"]).content == PNG
    back = client.chat.get_base64_from_media_message(
        "advisor-ana", MediaRef(message={"key": {"id": media["key"]["id"]}}), token
    )
    assert base64.b64decode(back["base64"]) == PNG and back["mimetype"] == "image/png"

    read = client.chat.mark_message_as_read(
        "advisor-ana", [ReadMessage(ANA_JID, False, reply["key"]["id"])], token
    )
    assert read == {"message": "Read messages", "read": "success"}
    # The first call asks the number for its groups and waits for the sync (Evolution answers at once).
    groups = client.group.fetch_all_groups("advisor-ana", token, get_participants=False)
    assert "Sandbox workshop" in [g["subject"] for g in groups] and all(
        g["id"].endswith("@g.us") for g in groups
    )

    refused = client.messages.send_text("advisor-ana", TextMessage(number="12345@lid", text="x"), token)
    assert (
        refused["status"] == 400 and refused["error"] == "Bad Request"
    )  # the client hands errors back as is

    # What the CRM's receiver got, read by the client's own processor: the send, its READ update, the reply.
    seen: dict[str, list[Any]] = {"send.message": [], "messages.update": [], "messages.upsert": []}
    processor = WebhookEventProcessor()
    for name, found in seen.items():
        processor.register(name, found.append)

    def heard() -> bool:
        for name in seen:
            seen[name].clear()
        for call in receiver.at("/crm"):
            processor.process_event(call.body)
        read = any(u["keyId"] == sent["key"]["id"] and u["status"] == "READ" for u in seen["messages.update"])
        return read and len(seen["send.message"]) >= 2 and bool(seen["messages.upsert"])

    assert receiver.wait_for(heard, timeout=30), [c.json["event"] for c in receiver.at("/crm")]
    assert receiver.problems() == []  # every call signed (Standard Webhooks headers)
    contents = [get_message_content(m) for m in seen["send.message"]]
    assert contents[:2] == ["Hola, ¿confirmamos el martes?", "[Image] la receta"]
    upserted = seen["messages.upsert"][0]
    assert (
        upserted["key"] == reply["key"] and get_message_content(upserted) == reply["message"]["conversation"]
    )
    update = client.process_message_update(next(u for u in seen["messages.update"] if u["status"] == "READ"))
    assert (
        update["remoteJid"] == ANA_JID and update["fromMe"] is True and update["keyId"] == sent["key"]["id"]
    )

    client.instance_operations.logout("advisor-ana", token)
    assert wait_for(lambda: ops.get_connection_state("advisor-ana", token)["instance"]["state"] == "close")


def replay(server: Server, key: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The n8n node's operations run by node (tests/n8n/replay.mjs)."""
    if shutil.which("node") is None or not (N8N / "node_modules" / "n8n-nodes-evolution-api").is_dir():
        pytest.skip("node or tests/n8n/node_modules missing (make node installs the n8n node)")
    payload = json.dumps({"server": f"{server.url}/evolution", "apikey": key, "calls": calls})
    done = subprocess.run(
        ["node", str(N8N / "replay.mjs")],
        input=payload,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def test_the_n8n_nodes_message_and_chat_operations(server: Server, key: str, tmp_path: Path) -> None:
    session_id, _ = connected_instance(server, key, "n8n-flow")
    base = {"instanceName": "n8n-flow", "remoteJid": ANA}
    png = base64.b64encode(PNG).decode()
    results = replay(
        server,
        key,
        [
            # First: a number check waits in the instance's command queue behind its (paced) sends.
            {
                "op": "chat/checkNumber",
                "params": {"instanceName": "n8n-flow", "numbers": f"{ANA}, 34600000000"},
            },
            {
                "op": "messages/sendText",
                "params": {**base, "messageText": "Hola desde n8n", "options_message": {"delay": 0}},
            },
            {
                "op": "messages/sendImage",
                "params": {**base, "media": png, "mimetype": "image/png", "caption": "foto"},
            },
            {
                "op": "messages/sendDocument",
                "params": {**base, "media": base64.b64encode(b"%PDF-1.4 x").decode(), "fileName": "cita.pdf"},
            },
            {
                "op": "messages/sendAudio",
                "params": {**base, "media": base64.b64encode(b"OggS" + bytes(200)).decode()},
            },
            {
                "op": "messages/sendContact",
                "params": {
                    **base,
                    "contacts": {
                        "contactValues": [
                            {"fullName": "Ana", "wuid": "34600111222", "phoneNumber": "+34600111222"}
                        ]
                    },
                },
            },
            {
                "op": "messages/sendPoll",
                "params": {
                    **base,
                    "caption": "¿Día?",
                    "options_display": {
                        "metadataValues": [{"optionValue": "lunes"}, {"optionValue": "martes"}]
                    },
                },
            },
            {
                "op": "messages/sendList",
                "params": {
                    **base,
                    "title": "Menú",
                    "description": "Elige",
                    "buttonText": "Ver",
                    "sections": {
                        "sectionValues": [
                            {
                                "title": "S",
                                "rows": {"rowValues": [{"title": "A", "description": "a", "rowId": "a"}]},
                            }
                        ]
                    },
                },
            },
            {"op": "chat/findMessages", "params": {**base, "page": 1, "offset": 50}},
            {"op": "chat/findChats", "params": {**base, "messageId": ""}},
            {"op": "chat/findContacts", "params": {"instanceName": "n8n-flow", "listAll": True}},
            {
                "op": "groups/fetchGroups",
                "params": {
                    "instanceName": "n8n-flow",
                    "searchMethod": "fetchAll",
                    "getParticipants": "false",
                },
            },
        ],
    )
    by_op = {r["op"]: r for r in results}
    for op in (
        "messages/sendText",
        "messages/sendImage",
        "messages/sendDocument",
        "messages/sendAudio",
        "messages/sendContact",
        "messages/sendPoll",
        "chat/checkNumber",
        "chat/findMessages",
        "chat/findChats",
        "chat/findContacts",
        "groups/fetchGroups",
    ):
        assert by_op[op]["ok"], (op, by_op[op])
        assert all(r["status"] in (200, 201) for r in by_op[op]["requests"]), by_op[op]
    text = by_op["messages/sendText"]["result"][0]["json"]["data"]
    assert text["key"]["remoteJid"] == ANA_JID and text["message"] == {"conversation": "Hola desde n8n"}
    assert by_op["messages/sendImage"]["result"][0]["json"]["data"]["messageType"] == "imageMessage"
    # Asked of the (sandbox) network through wagate's number check: numbers ending in 000 are not on it.
    checked = by_op["chat/checkNumber"]["result"]["json"]["data"]
    assert [(c["jid"], c["exists"]) for c in checked] == [
        (ANA_JID, True),
        ("34600000000@s.whatsapp.net", False),
    ]
    assert "verified" not in checked[1]  # WhatsApp's answer, not a guess
    # A list from a linked device: Evolution's 400, whose message says what to do instead.
    listed = by_op["messages/sendList"]
    assert not listed["ok"] and listed["requests"][0]["status"] == 400
    answer = listed["requests"][0]["answer"]
    assert answer["error"] == "Bad Request" and "sendPoll" in answer["response"]["message"][0]
    assert "sendPoll" in listed["error"]["description"]  # what the n8n user reads
    # What the node sent is what Evolution documents: paths and bodies.
    assert [r["uri"] for r in by_op["messages/sendAudio"]["requests"]] == [
        f"{server.url}/evolution/message/sendWhatsAppAudio/n8n-flow"
    ]
    with server.client(key) as http:
        kinds = [
            m["kind"] for m in http.get("/v1/messages", params={"session_id": session_id}).json()["items"]
        ]
    assert {"text", "image", "document", "audio", "contacts", "poll"} <= set(kinds)

    found = replay(server, key, [{"op": "chat/findMessages", "params": {**base, "page": 1, "offset": 50}}])[0]
    records = (
        found["result"]["json"]["data"]["messages"]["records"]
        if isinstance(found["result"], dict)
        else found["result"][0]["json"]["data"]["messages"]["records"]
    )
    sent_id = next(r["key"]["id"] for r in records if r["messageType"] == "imageMessage")
    more = replay(
        server,
        key,
        [
            {
                "op": "chat/getMediaBase64",
                "params": {"instanceName": "n8n-flow", "messageId": sent_id, "convertToMp4": False},
            },
            {
                "op": "messages/sendReaction",
                "params": {
                    **base,
                    "remoteJid": ANA_JID,
                    "messageId": sent_id,
                    "fromMe": True,
                    "reaction": "👍",
                },
            },
            {
                "op": "chat/readMessages",
                "params": {**base, "remoteJid": ANA_JID, "fromMe": False, "messageId": "x"},
            },
        ],
    )
    for result in more:
        assert result["ok"], result


def test_the_n8n_nodes_instance_and_webhook_operations(server: Server, key: str, receiver: Receiver) -> None:
    name = {"instanceName": "n8n-instance"}
    hook = {
        **name,
        "resourceForWebhook": "setWebhook",
        "enabled": True,
        "webhookUrl": receiver.url("/n8n"),
        "webhookByEvents": False,
        "webhookBase64": False,
        "webhookEvents": ["MESSAGES_UPSERT", "CONNECTION_UPDATE"],
    }
    results = replay(
        server,
        key,
        [
            {"op": "instance/createInstanceBasic", "params": {**name, "token": "", "number": ""}},
            {"op": "instance/fetchInstances", "params": name},
            {"op": "events/setWebhook", "params": hook},
            {"op": "events/setWebhook", "params": {**name, "resourceForWebhook": "findWebhook"}},
            {"op": "instance/deleteInstance", "params": name},
            {"op": "instance/fetchInstances", "params": name},
        ],
    )
    created, fetched, made, found, deleted, after = results
    for result in (created, fetched, made, found, deleted):
        assert result["ok"], result
    assert [r["status"] for r in created["requests"]] == [201]
    assert created["requests"][0]["body"]["integration"] == "WHATSAPP-BAILEYS"
    [instance] = fetched["result"]["json"]["data"]  # this operation answers one item, not a list
    assert instance["name"] == "n8n-instance" and instance["integration"] == "WHATSAPP-BAILEYS"
    assert [r["status"] for r in made["requests"]] == [201]
    assert [r["uri"] for r in found["requests"]] == [f"{server.url}/evolution/webhook/find/n8n-instance"]
    assert [r["status"] for r in deleted["requests"]] == [200]
    # Deleted: Evolution's 404 for an instance it does not know, which the node reports as a failure.
    assert not after["ok"] and after["requests"][0]["status"] == 404


def test_group_changes_through_the_official_client(server: Server, key: str) -> None:
    """create -> subject -> description -> participants -> invite (and revoke) -> leave, each answered with
    the outcome the number's connector reported (the sandbox keeps groups as WhatsApp would)."""
    evolution = pytest.importorskip("evolutionapi.client")
    from evolutionapi.models.chat import CheckIsWhatsappNumber
    from evolutionapi.models.group import (
        CreateGroup,
        GroupDescription,
        GroupInvite,
        GroupSubject,
        UpdateParticipant,
    )

    _, token = connected_instance(server, key, "groups-flow")
    client = evolution.EvolutionClient(base_url=f"{server.url}/evolution", api_token=key)
    # The client's number check (it calls chat/checkIsWhatsappNumber) asks the sandbox network.
    numbers = client.chat.check_is_whatsapp_numbers(
        "groups-flow", CheckIsWhatsappNumber(numbers=[ANA, "34600000000"]), token
    )
    assert [(n["jid"], n["exists"]) for n in numbers] == [
        (ANA_JID, True),
        ("34600000000@s.whatsapp.net", False),
    ]
    groups = client.group
    made = groups.create_group(
        "groups-flow", CreateGroup(subject="Taller de sábado", participants=[ANA]), token
    )
    jid = made["id"]
    assert jid.endswith("@g.us") and made["subject"] == "Taller de sábado", made
    assert {p["id"]: p["admin"] for p in made["participants"]}[ANA_JID] is None
    assert groups.update_group_subject(
        "groups-flow", jid, GroupSubject(subject="Taller del domingo"), token
    ) == {"update": "success"}
    assert groups.update_group_description(
        "groups-flow", jid, GroupDescription(description="10:00"), token
    ) == {"update": "success"}
    added = groups.update_participant(
        "groups-flow",
        jid,
        UpdateParticipant(action="add", participants=["15550100002", "15550109999"]),
        token,
    )
    assert [(p["jid"], p["status"]) for p in added["updateParticipants"]] == [
        ("15550100002@s.whatsapp.net", "200"),
        ("15550109999@s.whatsapp.net", "404"),
    ]
    invite = groups.get_invite_code("groups-flow", jid, token)
    assert invite["inviteUrl"] == f"https://chat.whatsapp.com/{invite['inviteCode']}"
    revoked = groups.revoke_invite_code("groups-flow", jid, token)
    assert revoked["revoked"] is True and revoked["inviteCode"] != invite["inviteCode"]
    sent = groups.send_invite(
        "groups-flow", GroupInvite(groupJid=jid, description="Te espero", numbers=["15550100003"]), token
    )
    assert sent == {"send": True, "inviteUrl": f"https://chat.whatsapp.com/{revoked['inviteCode']}"}
    with server.client(key) as http:
        texts = [m["text"] for m in http.get("/v1/messages").json()["items"] if m["to"] == "+15550100003"]
    assert texts == [f"Te espero\n\n{sent['inviteUrl']}"]
    members = groups.get_participants("groups-flow", jid, token)["participants"]
    assert {p["id"] for p in members} >= {ANA_JID, "15550100002@s.whatsapp.net"}
    info = groups.get_group_info("groups-flow", jid, token)
    assert (info["subject"], info["desc"]) == ("Taller del domingo", "10:00")
    listed = groups.fetch_all_groups("groups-flow", token, get_participants=True)
    assert jid in [g["id"] for g in listed]
    # Announcements: the number is a plain member there, so WhatsApp refuses (as Evolution, a 400).
    announcements = next(g["id"] for g in listed if g["subject"] == "Sandbox announcements")
    refused = groups.update_group_subject("groups-flow", announcements, GroupSubject(subject="x"), token)
    assert refused["status"] == 400 and "not_group_admin" in refused["response"]["message"][0]
    assert groups.leave_group("groups-flow", jid, token) == {"groupJid": jid, "leave": True}
